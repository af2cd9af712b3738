//! Buffers: documents in and out (MessagePack, or JSON text for the `_json` entry points), and
//! the caller-owned `tasker_bytes`.

use super::*;
use crate::models::document_policy;

/// Decodes a MessagePack document into `T` with a message naming the document.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> FfiResult<T> {
    if bytes.is_empty() {
        return Err(FfiError::invalid(format!(
            "{what} is empty (expected a MessagePack document)"
        )));
    }
    // The document policy's byte-level half: one document, finite numbers, bounded depth (the
    // wrappers of a document add a few levels; fields are checked exactly once decoded).
    document_policy::check_msgpack(bytes, what, document_policy::MAX_DEPTH + 8)
        .map_err(FfiError::invalid)?;
    rmp_serde::from_slice(bytes)
        .map_err(|e| FfiError::invalid(format!("malformed MessagePack {what}: {e}")))
}

/// Encodes a document as MessagePack (maps with string keys, via its JSON shape).
pub(crate) fn encode<T: serde::Serialize>(v: &T) -> FfiResult<Vec<u8>> {
    let json = serde_json::to_value(v)
        .map_err(|e| FfiError::new(tasker_result::Internal, e.to_string()))?;
    rmp_serde::to_vec_named(&json)
        .map_err(|e| FfiError::new(tasker_result::Internal, e.to_string()))
}

/// Decodes JSON text into `T` with a message naming the document: the same serde type and,
/// after it, the same checks as [`decode`]; only the byte-level half of the policy differs
/// (JSON cannot spell NaN/Inf, and serde_json refuses trailing characters itself).
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> FfiResult<T> {
    if bytes.is_empty() {
        return Err(FfiError::invalid(format!(
            "{what} is empty (expected a JSON document)"
        )));
    }
    document_policy::check_json(bytes, what, document_policy::MAX_DEPTH + 8)
        .map_err(FfiError::invalid)?;
    serde_json::from_slice(bytes)
        .map_err(|e| FfiError::invalid(format!("malformed JSON {what}: {e}")))
}

/// The encoding of a document crossing the boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    MsgPack,
    Json,
}

impl Format {
    pub fn decode<T: serde::de::DeserializeOwned>(self, bytes: &[u8], what: &str) -> FfiResult<T> {
        match self {
            Format::MsgPack => decode(bytes, what),
            Format::Json => decode_json(bytes, what),
        }
    }

    /// Writes `v` to `out` (ignored when NULL). JSON text is followed by a NUL byte that `len`
    /// does not count, so C may use `data` as a string (serde_json escapes U+0000, so the text
    /// itself holds no NUL).
    pub unsafe fn write<T: serde::Serialize>(self, out: *mut tasker_bytes, v: &T) -> FfiResult<()> {
        if out.is_null() {
            return Ok(());
        }
        match self {
            Format::MsgPack => write_bytes(out, encode(v)?),
            Format::Json => write_text(
                out,
                serde_json::to_vec(v)
                    .map_err(|e| FfiError::new(tasker_result::Internal, e.to_string()))?,
            ),
        }
        Ok(())
    }
}

/// An owned byte buffer returned by libtasker. Release it with `tasker_bytes_free`.
#[repr(C)]
pub struct tasker_bytes {
    pub data: *mut u8,
    pub len: usize,
    pub cap: usize,
}

pub(crate) unsafe fn write_bytes(out: *mut tasker_bytes, v: Vec<u8>) {
    let mut v = std::mem::ManuallyDrop::new(v);
    *out = tasker_bytes {
        data: v.as_mut_ptr(),
        len: v.len(),
        cap: v.capacity(),
    };
}

/// Writes text followed by a NUL byte that `len` does not count (`cap` keeps the allocation's
/// true size, so `tasker_bytes_free` releases it whole).
pub(crate) unsafe fn write_text(out: *mut tasker_bytes, mut text: Vec<u8>) {
    text.push(0);
    write_bytes(out, text);
    (*out).len -= 1;
}

pub(crate) unsafe fn write<T>(out: *mut T, v: T) {
    if !out.is_null() {
        *out = v;
    }
}

pub(crate) unsafe fn write_doc<T: serde::Serialize>(
    out: *mut tasker_bytes,
    v: &T,
) -> FfiResult<()> {
    Format::MsgPack.write(out, v)
}

/// Frees a buffer returned by libtasker and resets it to empty. NULL, and an already-empty
/// buffer, are accepted.
///
/// Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_bytes_free(bytes: *mut tasker_bytes) {
    if bytes.is_null() || (*bytes).data.is_null() {
        return;
    }
    let b = &mut *bytes;
    drop(Vec::from_raw_parts(b.data, b.len, b.cap));
    b.data = std::ptr::null_mut();
    b.len = 0;
    b.cap = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_as_msgpack_maps() {
        let req = crate::TaskRequest {
            name: "n".into(),
            context: serde_json::json!({"a": [1, 2.5, "x", null, true]}),
            ..Default::default()
        };
        let bytes = encode(&req).unwrap();
        let back: crate::TaskRequest = decode(&bytes, "request").unwrap();
        assert_eq!(back, req);
        assert!(decode::<crate::TaskRequest>(&[0xc1], "request").is_err());
        assert!(decode::<crate::TaskRequest>(&bytes[..bytes.len() - 2], "request").is_err());
    }

    #[test]
    fn json_decodes_into_the_same_types_as_msgpack() {
        let req = crate::TaskRequest {
            name: "n".into(),
            context: serde_json::json!({"a": [1, 2.5, "x", null, true], "s": "\u{e9}\"["}),
            ..Default::default()
        };
        let json = serde_json::to_vec(&req).unwrap();
        let from_json: crate::TaskRequest = decode_json(&json, "request").unwrap();
        let from_msgpack: crate::TaskRequest = decode(&encode(&req).unwrap(), "request").unwrap();
        assert_eq!(from_json, req);
        assert_eq!(from_json, from_msgpack);
    }

    #[test]
    fn json_refusals_name_the_problem() {
        let err = |text: &str| {
            decode_json::<crate::TaskRequest>(text.as_bytes(), "task request")
                .unwrap_err()
                .message
        };
        assert!(err("").contains("task request is empty"));
        assert!(err(r#"{"name": "n"} x"#).contains("trailing characters"));
        assert!(err(r#"{"name": "n""#).contains("malformed JSON task request"));
        assert!(err(r#"{"name": NaN}"#).contains("malformed JSON"));
        assert!(err(r#"{"name": "n", "context": {"x": 1e400}}"#).contains("out of range"));
        assert!(err(r#"{"name": 7}"#).contains("invalid type"));
        let deep = format!(
            r#"{{"name": "n", "context": {}1{}}}"#,
            "[".repeat(80),
            "]".repeat(80)
        );
        assert!(err(&deep).contains("nests deeper than 72 levels"));
        // serde_json's own recursion limit (128) is never what answers
        let deeper = "[".repeat(10_000);
        assert!(err(&deeper).contains("nests deeper than 72 levels"));
        assert!(decode_json::<serde_json::Value>(b"\xff", "doc")
            .unwrap_err()
            .message
            .contains("malformed JSON doc"));
    }

    #[test]
    fn json_output_is_nul_terminated_and_freed_whole() {
        let mut out = tasker_bytes {
            data: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        };
        unsafe {
            Format::Json
                .write(&mut out, &serde_json::json!({"a": "\u{0}"}))
                .unwrap();
            let text = std::slice::from_raw_parts(out.data, out.len + 1);
            assert_eq!(text, b"{\"a\":\"\\u0000\"}\0");
            tasker_bytes_free(&mut out);
        }
        assert!(out.data.is_null() && out.len == 0);
    }
}

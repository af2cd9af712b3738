//! Buffers: MessagePack documents in and out, and the caller-owned `tasker_bytes`.

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

pub(crate) unsafe fn write<T>(out: *mut T, v: T) {
    if !out.is_null() {
        *out = v;
    }
}

pub(crate) unsafe fn write_doc<T: serde::Serialize>(
    out: *mut tasker_bytes,
    v: &T,
) -> FfiResult<()> {
    if !out.is_null() {
        write_bytes(out, encode(v)?);
    }
    Ok(())
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
}

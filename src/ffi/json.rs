//! JSON text at the boundary, for C programs without a MessagePack library: JSON variants of
//! the entry points that take or return documents, a MessagePack → JSON converter for the
//! documents only delivered as MessagePack (events, outcomes), and readers of one value.
//!
//! JSON input decodes into the same serde types as MessagePack input and then meets the same
//! checks (the same functions run after decoding); only the byte-level scan differs (see
//! `decode_json`). JSON output is serde_json's rendering of the same types.

use super::*;
use serde_json::Value;
use std::ffi::c_char;

/// `tasker_create_task` with the task request as JSON text (`request_len` bytes, no NUL
/// needed), e.g. `{"name": "order_fulfillment", "context": {"order_id": "A-1"}}`.
///
/// The request meets the same document policy as the MessagePack one: at most 64 levels of
/// nesting inside each document, no U+0000 in strings or keys, one document (trailing
/// characters refused), the payload bound (`max_payload_bytes`).
/// Errors: as tasker_create_task; InvalidArgument names the problem ("malformed JSON task
/// request: ... at line 1 column 9", "task request nests deeper than 72 levels ...").
/// Threading: any thread; enqueue callbacks (host-queue mode) run on this thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_create_task_json(
    client: *const tasker_client,
    request: *const c_char,
    request_len: usize,
    task_id: *mut i64,
    created: *mut bool,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        create_task(
            Format::Json,
            client,
            request.cast(),
            request_len,
            task_id,
            created,
        )
    })
}

/// `tasker_step_call_set_output` with the output as JSON text (`len` bytes, copied), e.g.
/// `{"charged_cents": 4348}`.
///
/// Errors: NullParameter; InvalidState when `call` is not live; InvalidArgument when `json` is
/// not one JSON document within the document policy (nothing is recorded then, so the
/// callback may still report a failure).
/// Threading: only on the thread running the callback, before it returns.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_set_output_json(
    call: *mut tasker_step_call,
    json: *const c_char,
    len: usize,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || set_output(Format::Json, call, json.cast(), len))
}

/// `tasker_step_call_fail` with the optional details as JSON text (NULL/0 for none).
///
/// Errors: NullParameter (call or message); InvalidState when `call` is not live;
/// InvalidArgument (bad UTF-8, or details that are not one JSON document within the policy).
/// Threading: only on the thread running the callback, before it returns.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_fail_json(
    call: *mut tasker_step_call,
    message: *const c_char,
    error_class: *const c_char,
    retryable: bool,
    retry_after_seconds: f64,
    details_json: *const c_char,
    details_len: usize,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let failure = Failure {
            message,
            error_class,
            retryable,
            retry_after_seconds,
        };
        fail(
            Format::Json,
            call,
            failure,
            details_json.cast(),
            details_len,
        )
    })
}

/// `tasker_task_view` as JSON text in `out` (free with tasker_bytes_free). The text is
/// followed by a NUL byte that `len` does not count: `(const char *)out.data` is a C string.
///
/// Errors: NullParameter; TaskNotFound; Database. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_task_view_json(
    client: *const tasker_client,
    task_id: i64,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    view(Format::Json, out, error, || {
        Ok(client_ref(client)?.task_view(task_id)?)
    })
}

/// `tasker_execution_context` as JSON text in `out` (NUL-terminated as tasker_task_view_json).
///
/// Errors: NullParameter; TaskNotFound; Database. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_execution_context_json(
    client: *const tasker_client,
    task_id: i64,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    view(Format::Json, out, error, || {
        Ok(client_ref(client)?.execution_context(task_id)?)
    })
}

/// `tasker_wait_task` as JSON text in `out` (NUL-terminated as tasker_task_view_json).
///
/// Errors: as tasker_wait_task. Threading: any thread; blocks the calling thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_wait_task_json(
    client: *const tasker_client,
    task_id: i64,
    timeout_ms: u64,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    queries::wait_task(Format::Json, client, task_id, timeout_ms, out, error)
}

/// `tasker_list_tasks` with the filter as JSON text (`filter_len` bytes, no NUL needed; NULL
/// with length 0: every task), e.g. `{"states": ["error"], "limit": 20}`; the page as JSON
/// text in `out` (NUL-terminated as tasker_task_view_json).
///
/// Errors: as tasker_list_tasks. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_list_tasks_json(
    client: *const tasker_client,
    filter: *const c_char,
    filter_len: usize,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    queries::list(
        Format::Json,
        client,
        filter.cast(),
        filter_len,
        out,
        error,
        |c, f| c.list_tasks(f),
    )
}

/// `tasker_list_steps` with the filter as JSON text, e.g. `{"condition": "exhausted"}`; the
/// page as JSON text in `out` (NUL-terminated as tasker_task_view_json).
///
/// Errors: as tasker_list_tasks. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_list_steps_json(
    client: *const tasker_client,
    filter: *const c_char,
    filter_len: usize,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    queries::list(
        Format::Json,
        client,
        filter.cast(),
        filter_len,
        out,
        error,
        |c, f| c.list_steps(f),
    )
}

/// `tasker_health` as JSON text in `out` (NUL-terminated as tasker_task_view_json).
///
/// Errors: NullParameter; Database. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_health_json(
    client: *const tasker_client,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    view(Format::Json, out, error, || {
        Ok(client_ref(client)?.health()?)
    })
}

/// Converts a MessagePack document libtasker delivered (an event, the execution context of
/// tasker_run_task, an outcome, a step context) to JSON text in `json` (NUL-terminated as
/// tasker_task_view_json; free with tasker_bytes_free). `data` is borrowed for the call.
///
/// Errors: NullParameter (data with len > 0, json); InvalidArgument when `data` is not one
/// MessagePack document within the document policy (the message says why).
/// Threading: any thread (also from inside callbacks).
#[no_mangle]
pub unsafe extern "C" fn tasker_document_json(
    data: *const u8,
    len: usize,
    json: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        if json.is_null() {
            return Err(FfiError::null("json"));
        }
        let doc: Value = decode(slice(data, len, "data")?, "document")?;
        Format::Json.write(json, &doc)
    })
}

/// Writes the value at `pointer` (an RFC 6901 JSON Pointer: "" is the whole document,
/// "/steps/0/name" a field of an array element, `~1` a '/' and `~0` a '~' in a key) of the JSON
/// document `json` to `value` as JSON text: `"complete"` for a string, `3` for a number, `{...}`
/// for a map. Use it to take a piece of one document into another; tasker_json_get_string and
/// tasker_json_get_i64 give scalars as C values.
///
/// Ownership: `json` and `pointer` are borrowed for the call; `value` is the caller's (free
/// with tasker_bytes_free; NUL-terminated as tasker_task_view_json).
/// Errors: NullParameter; InvalidArgument when `json` is not one JSON document within the
/// document policy, or nothing is at `pointer` (the message names the pointer).
/// Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_json_get(
    json: *const c_char,
    json_len: usize,
    pointer: *const c_char,
    value: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    json_value(json, json_len, pointer, value, error, |v, _| {
        serde_json::to_vec(v).map_err(|e| FfiError::new(tasker_result::Internal, e.to_string()))
    })
}

/// Writes the string at `pointer` (see tasker_json_get) of the JSON document `json`, unescaped,
/// to `value` as UTF-8 followed by a NUL byte that `len` does not count. A string holding
/// U+0000 is cut short when read as a C string; `len` is its full length.
///
/// Ownership and threading: as tasker_json_get.
/// Errors: as tasker_json_get; InvalidArgument also when the value there is not a string.
#[no_mangle]
pub unsafe extern "C" fn tasker_json_get_string(
    json: *const c_char,
    json_len: usize,
    pointer: *const c_char,
    value: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    json_value(json, json_len, pointer, value, error, |v, at| match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        other => Err(not_a(at, "a string", other)),
    })
}

/// Writes the integer at `pointer` (see tasker_json_get) of the JSON document `json` to
/// `value`.
///
/// Ownership and threading: as tasker_json_get.
/// Errors: as tasker_json_get; InvalidArgument also when the value there is not an integer
/// that fits an int64_t (a fraction such as 2.5 is refused, not truncated).
#[no_mangle]
pub unsafe extern "C" fn tasker_json_get_i64(
    json: *const c_char,
    json_len: usize,
    pointer: *const c_char,
    value: *mut i64,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        if value.is_null() {
            return Err(FfiError::null("value"));
        }
        let (doc, at) = parse_and_point(json, json_len, pointer)?;
        let v = lookup(&doc, at)?;
        let n = v
            .as_i64()
            .ok_or_else(|| not_a(at, "an integer that fits an int64_t", v))?;
        write(value, n);
        Ok(())
    })
}

/// The document and the pointer of a `tasker_json_get*` call.
unsafe fn parse_and_point<'p>(
    json: *const c_char,
    json_len: usize,
    pointer: *const c_char,
) -> FfiResult<(Value, &'p str)> {
    let at = cstr(pointer, "pointer")?;
    let doc: Value = decode_json(slice(json.cast(), json_len, "json")?, "document")?;
    Ok((doc, at))
}

fn lookup<'v>(doc: &'v Value, at: &str) -> FfiResult<&'v Value> {
    doc.pointer(at).ok_or_else(|| {
        let hint = if at.is_empty() || at.starts_with('/') {
            ""
        } else {
            " (a JSON Pointer starts with '/')"
        };
        FfiError::invalid(format!("no value at {at:?} in the JSON document{hint}"))
    })
}

fn not_a(at: &str, wanted: &str, found: &Value) -> FfiError {
    let kind = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a map",
    };
    FfiError::invalid(format!("the value at {at:?} is {kind}, not {wanted}"))
}

/// Runs a `tasker_json_get*` that writes text: `render` turns the value found into its bytes.
unsafe fn json_value(
    json: *const c_char,
    json_len: usize,
    pointer: *const c_char,
    value: *mut tasker_bytes,
    error: *mut *mut tasker_error,
    render: impl FnOnce(&Value, &str) -> FfiResult<Vec<u8>>,
) -> tasker_result {
    boundary(error, || {
        if value.is_null() {
            return Err(FfiError::null("value"));
        }
        let (doc, at) = parse_and_point(json, json_len, pointer)?;
        let text = render(lookup(&doc, at)?, at)?;
        write_text(value, text);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::{CStr, CString};

    fn empty() -> tasker_bytes {
        tasker_bytes {
            data: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }

    /// Runs a text-writing reader; Ok(text) or Err((code, message)).
    fn read(
        f: unsafe extern "C" fn(
            *const c_char,
            usize,
            *const c_char,
            *mut tasker_bytes,
            *mut *mut tasker_error,
        ) -> tasker_result,
        json: &str,
        pointer: &str,
    ) -> Result<String, (tasker_result, String)> {
        let pointer = CString::new(pointer).unwrap();
        let mut out = empty();
        let mut err: *mut tasker_error = std::ptr::null_mut();
        unsafe {
            let rc = f(
                json.as_ptr().cast(),
                json.len(),
                pointer.as_ptr(),
                &mut out,
                &mut err,
            );
            if rc != tasker_result::Ok {
                let msg = CStr::from_ptr(tasker_error_message(err))
                    .to_string_lossy()
                    .into_owned();
                tasker_error_free(err);
                return Err((rc, msg));
            }
            // NUL-terminated, and the terminator is not counted
            let c = CStr::from_ptr(out.data.cast())
                .to_str()
                .unwrap()
                .to_string();
            assert_eq!(c.len(), out.len);
            tasker_bytes_free(&mut out);
            Ok(c)
        }
    }

    const VIEW: &str = r#"{"state": "complete", "steps": [{"name": "a/b", "attempts": 2, "r": {"x": [1]}}],
                          "big": 18446744073709551615, "half": 2.5, "n": null}"#;

    #[test]
    fn json_get_returns_json_text_at_a_pointer() {
        assert_eq!(
            read(tasker_json_get, VIEW, "/state").unwrap(),
            r#""complete""#
        );
        assert_eq!(
            read(tasker_json_get, VIEW, "/steps/0/r").unwrap(),
            r#"{"x":[1]}"#
        );
        assert_eq!(
            read(tasker_json_get, VIEW, "/steps/0/attempts").unwrap(),
            "2"
        );
        let (code, msg) = read(tasker_json_get, VIEW, "/steps/1").unwrap_err();
        assert_eq!(code, tasker_result::InvalidArgument);
        assert!(msg.contains(r#"no value at "/steps/1""#), "{msg}");
        let (_, msg) = read(tasker_json_get, VIEW, "state").unwrap_err();
        assert!(msg.contains("starts with '/'"), "{msg}");
        let (_, msg) = read(tasker_json_get, "{\"a\": 1} {}", "/a").unwrap_err();
        assert!(msg.contains("trailing characters"), "{msg}");
    }

    #[test]
    fn json_get_string_unescapes_and_checks_the_type() {
        assert_eq!(
            read(tasker_json_get_string, VIEW, "/steps/0/name").unwrap(),
            "a/b"
        );
        assert_eq!(
            read(tasker_json_get_string, r#"{"s": "\"\u00e9\""}"#, "/s").unwrap(),
            "\"é\""
        );
        let (code, msg) = read(tasker_json_get_string, VIEW, "/steps/0/attempts").unwrap_err();
        assert_eq!(code, tasker_result::InvalidArgument);
        assert!(msg.contains("is a number, not a string"), "{msg}");
    }

    fn get_i64(json: &str, pointer: &str) -> Result<i64, String> {
        let pointer = CString::new(pointer).unwrap();
        let mut v = -1i64;
        let mut err: *mut tasker_error = std::ptr::null_mut();
        unsafe {
            let rc = tasker_json_get_i64(
                json.as_ptr().cast(),
                json.len(),
                pointer.as_ptr(),
                &mut v,
                &mut err,
            );
            if rc == tasker_result::Ok {
                return Ok(v);
            }
            let msg = CStr::from_ptr(tasker_error_message(err))
                .to_string_lossy()
                .into_owned();
            tasker_error_free(err);
            Err(msg)
        }
    }

    #[test]
    fn json_get_i64_refuses_what_does_not_fit() {
        assert_eq!(get_i64(VIEW, "/steps/0/attempts"), Ok(2));
        assert!(get_i64(VIEW, "/big")
            .unwrap_err()
            .contains("not an integer that fits"));
        assert!(get_i64(VIEW, "/half").unwrap_err().contains("is a number"));
        assert!(get_i64(VIEW, "/n").unwrap_err().contains("is null"));
    }

    #[test]
    fn document_json_converts_msgpack_under_the_same_policy() {
        let doc =
            serde_json::json!({"name": "step.failed", "payload": {"attempt": 1, "x": [1.5, null]}});
        let bytes = rmp_serde::to_vec_named(&doc).unwrap();
        let mut out = empty();
        let mut err: *mut tasker_error = std::ptr::null_mut();
        unsafe {
            assert_eq!(
                tasker_document_json(bytes.as_ptr(), bytes.len(), &mut out, &mut err),
                tasker_result::Ok
            );
            let text = std::slice::from_raw_parts(out.data, out.len);
            assert_eq!(serde_json::from_slice::<Value>(text).unwrap(), doc);
            tasker_bytes_free(&mut out);
            let mut trailing = bytes.clone();
            trailing.push(0xc0);
            assert_eq!(
                tasker_document_json(trailing.as_ptr(), trailing.len(), &mut out, &mut err),
                tasker_result::InvalidArgument
            );
            let msg = CStr::from_ptr(tasker_error_message(err))
                .to_string_lossy()
                .into_owned();
            assert!(msg.contains("trailing bytes"), "{msg}");
            tasker_error_free(err);
            assert!(out.data.is_null());
        }
    }
}

//! The C ABI: a thin skin over [`crate::Client`]. It converts pointers and buffers, catches
//! panics and maps errors to result codes; it decides nothing about workflows.
//!
//! Conventions (see include/tasker.h and docs/ABI.md):
//! - every fallible function returns a `tasker_result`; outputs are written only on success;
//! - the last parameter `tasker_error **error` (may be NULL) receives, on failure only, an owned
//!   error object with the code and a message; free it with `tasker_error_free`;
//! - input buffers are borrowed for the call; output buffers (`tasker_bytes`) are owned by the
//!   caller and released with `tasker_bytes_free`;
//! - callbacks run only on the thread that called into libtasker, and take `userdata` first.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

mod api;
mod handler;

pub use api::*;
pub use handler::*;

use crate::Error;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Result codes. The numbers are stable and never reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tasker_result {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullParameter = 1,
    /// An argument was malformed: bad MessagePack, wrong types, invalid UTF-8, bad option.
    InvalidArgument = 2,
    /// A template failed validation (unknown dependency, duplicate name, bad semver, YAML).
    InvalidTemplate = 3,
    /// A template's steps form a cycle (the message names it).
    TemplateCycle = 4,
    /// No template with that namespace, name and version.
    UnknownTemplate = 5,
    /// A task request was rejected (e.g. bypass of a non-skippable step).
    InvalidRequest = 6,
    /// The task context does not match the template's JSON Schema.
    SchemaValidation = 7,
    /// A payload exceeds the configured limit.
    PayloadTooLarge = 8,
    /// An identical task exists and the client rejects duplicates.
    DuplicateTask = 9,
    /// No task with that id.
    TaskNotFound = 10,
    /// No step with that id.
    StepNotFound = 11,
    /// The requested state change is not allowed.
    IllegalTransition = 12,
    /// The claim behind a heartbeat or outcome is no longer current.
    StaleClaim = 13,
    /// Invalid configuration or database URL.
    Config = 14,
    /// The database failed (connection, constraint, migration).
    Database = 15,
    /// A panic was caught at the boundary (a bug in libtasker).
    Panic = 16,
    /// An internal error.
    Internal = 17,
    /// The call was made from a thread or state where it cannot work (e.g. a step call used
    /// after its callback returned).
    InvalidState = 18,
}

/// A detailed error: a result code and a UTF-8 message. Owned by the caller.
pub struct tasker_error {
    code: tasker_result,
    message: CString,
}

#[derive(Debug)]
pub(crate) struct FfiError {
    pub code: tasker_result,
    pub message: String,
}

impl FfiError {
    pub fn new(code: tasker_result, message: impl Into<String>) -> FfiError {
        FfiError {
            code,
            message: message.into(),
        }
    }
    pub fn null(what: &str) -> FfiError {
        FfiError::new(
            tasker_result::NullParameter,
            format!("{what} must not be NULL"),
        )
    }
    pub fn invalid(message: impl Into<String>) -> FfiError {
        FfiError::new(tasker_result::InvalidArgument, message)
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> FfiError {
        use tasker_result as R;
        let code = match &e {
            Error::InvalidTemplate(_) => R::InvalidTemplate,
            Error::TemplateCycle { .. } => R::TemplateCycle,
            Error::UnknownTemplate(_) => R::UnknownTemplate,
            Error::InvalidRequest(_) => R::InvalidRequest,
            Error::SchemaValidation(_) => R::SchemaValidation,
            Error::PayloadTooLarge { .. } => R::PayloadTooLarge,
            Error::DuplicateTask(_) => R::DuplicateTask,
            Error::TaskNotFound(_) => R::TaskNotFound,
            Error::StepNotFound(_) => R::StepNotFound,
            Error::IllegalTransition { .. } => R::IllegalTransition,
            Error::StaleClaim(_) => R::StaleClaim,
            Error::Config(_) => R::Config,
            Error::Database(_) | Error::Migration(_) => R::Database,
            Error::Serialization(_) => R::InvalidArgument,
            Error::Internal(_) => R::Internal,
        };
        FfiError::new(code, e.to_string())
    }
}

pub(crate) type FfiResult<T> = Result<T, FfiError>;

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// Runs an exported body: catches panics, maps errors, writes the error object on failure.
pub(crate) fn boundary<F>(error: *mut *mut tasker_error, f: F) -> tasker_result
where
    F: FnOnce() -> FfiResult<()>,
{
    let e = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return tasker_result::Ok,
        Ok(Err(e)) => e,
        Err(p) => FfiError::new(
            tasker_result::Panic,
            format!("panic inside libtasker: {}", panic_text(p)),
        ),
    };
    let code = e.code;
    if !error.is_null() {
        let message = CString::new(e.message.replace('\0', "\\0")).unwrap_or_default();
        // SAFETY: the caller passed a writable `tasker_error **` (documented).
        unsafe { *error = Box::into_raw(Box::new(tasker_error { code, message })) };
    }
    code
}

pub(crate) unsafe fn cstr<'a>(p: *const c_char, what: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(FfiError::null(what));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|e| FfiError::invalid(format!("{what} is not valid UTF-8: {e}")))
}

pub(crate) unsafe fn opt_cstr<'a>(p: *const c_char, what: &str) -> FfiResult<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        cstr(p, what).map(Some)
    }
}

pub(crate) unsafe fn slice<'a>(p: *const u8, len: usize, what: &str) -> FfiResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(FfiError::null(what));
    }
    Ok(std::slice::from_raw_parts(p, len))
}

/// Decodes a MessagePack document into `T` with a message naming the document.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> FfiResult<T> {
    if bytes.is_empty() {
        return Err(FfiError::invalid(format!(
            "{what} is empty (expected a MessagePack document)"
        )));
    }
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

/// Returns the result code of an error. `error` must be a valid error object.
///
/// Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_error_code(error: *const tasker_error) -> tasker_result {
    if error.is_null() {
        return tasker_result::NullParameter;
    }
    (*error).code
}

/// Returns the error's message: NUL-terminated UTF-8, owned by the error object and valid until
/// `tasker_error_free`. Returns "" for NULL.
///
/// Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_error_message(error: *const tasker_error) -> *const c_char {
    if error.is_null() {
        return c"".as_ptr();
    }
    (*error).message.as_ptr()
}

/// Frees an error object. NULL is accepted. Must not be called twice for the same object.
///
/// Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_error_free(error: *mut tasker_error) {
    if !error.is_null() {
        drop(Box::from_raw(error));
    }
}

/// Returns a static, NUL-terminated name for a result code ("ok", "null_parameter", ...).
///
/// Threading: any thread.
#[no_mangle]
pub extern "C" fn tasker_result_name(code: tasker_result) -> *const c_char {
    use tasker_result as R;
    let s: &'static CStr = match code {
        R::Ok => c"ok",
        R::NullParameter => c"null_parameter",
        R::InvalidArgument => c"invalid_argument",
        R::InvalidTemplate => c"invalid_template",
        R::TemplateCycle => c"template_cycle",
        R::UnknownTemplate => c"unknown_template",
        R::InvalidRequest => c"invalid_request",
        R::SchemaValidation => c"schema_validation",
        R::PayloadTooLarge => c"payload_too_large",
        R::DuplicateTask => c"duplicate_task",
        R::TaskNotFound => c"task_not_found",
        R::StepNotFound => c"step_not_found",
        R::IllegalTransition => c"illegal_transition",
        R::StaleClaim => c"stale_claim",
        R::Config => c"config",
        R::Database => c"database",
        R::Panic => c"panic",
        R::Internal => c"internal",
        R::InvalidState => c"invalid_state",
    };
    s.as_ptr()
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

/// The library version, e.g. "0.1.0": a static NUL-terminated string (matches the
/// TASKER_VERSION_* macros of the header it was built with).
///
/// Threading: any thread.
#[no_mangle]
pub extern "C" fn tasker_version() -> *const c_char {
    static VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// Installs a logger writing to stderr, filtered by the TASKER_LOG environment variable
/// (e.g. "info", "tasker=debug"; default "warn"). Calling it again does nothing.
///
/// Threading: any thread.
#[no_mangle]
pub extern "C" fn tasker_init_logging() {
    let _ = catch_unwind(crate::init_logging);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_version_macros_match_the_crate() {
        let header = include_str!("../../include/tasker.h");
        let v = env!("CARGO_PKG_VERSION");
        let parts: Vec<&str> = v.split('.').collect();
        for (name, value) in ["MAJOR", "MINOR", "PATCH"].iter().zip(&parts) {
            let line = format!("#define TASKER_VERSION_{name} {value}\n");
            assert!(header.contains(&line), "header lacks {line:?}");
        }
        assert!(header.contains(&format!("#define TASKER_VERSION_STRING \"{v}\"")));
        let s = unsafe { CStr::from_ptr(tasker_version()) };
        assert_eq!(s.to_str().unwrap(), v);
    }

    #[test]
    fn error_objects_carry_code_and_message() {
        let mut err: *mut tasker_error = std::ptr::null_mut();
        let rc = boundary(&mut err, || Err(FfiError::invalid("bad\0input")));
        assert_eq!(rc, tasker_result::InvalidArgument);
        unsafe {
            assert_eq!(tasker_error_code(err), tasker_result::InvalidArgument);
            let msg = CStr::from_ptr(tasker_error_message(err)).to_str().unwrap();
            assert_eq!(msg, "bad\\0input");
            tasker_error_free(err);
        }
        let mut err: *mut tasker_error = std::ptr::null_mut();
        let rc = boundary(&mut err, || panic!("boom"));
        assert_eq!(rc, tasker_result::Panic);
        unsafe {
            let msg = CStr::from_ptr(tasker_error_message(err)).to_str().unwrap();
            assert!(msg.contains("boom"), "{msg}");
            tasker_error_free(err);
        }
    }

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

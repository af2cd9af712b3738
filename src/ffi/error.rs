//! Result codes and error objects: how a failure crosses the boundary.

use crate::Error;
use std::ffi::{c_char, CStr, CString};

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
    /// The call was interrupted (`tasker_client_interrupt`) and returned early; the claims it
    /// held were released (back to ready, no attempt counted).
    Interrupted = 19,
}

/// A detailed error: a result code and a UTF-8 message. Owned by the caller.
pub struct tasker_error {
    code: tasker_result,
    message: CString,
}

impl From<FfiError> for tasker_error {
    fn from(e: FfiError) -> tasker_error {
        // A NUL inside the message is shown, not allowed to truncate it.
        let message = CString::new(e.message.replace('\0', "\\0")).unwrap_or_default();
        tasker_error {
            code: e.code,
            message,
        }
    }
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
            Error::InvalidRequest(_) | Error::InvalidSchedule(_) => R::InvalidRequest,
            Error::SchemaValidation(_) => R::SchemaValidation,
            Error::PayloadTooLarge { .. } => R::PayloadTooLarge,
            Error::DuplicateTask(_) => R::DuplicateTask,
            Error::TaskNotFound(_) => R::TaskNotFound,
            Error::StepNotFound(_) => R::StepNotFound,
            Error::IllegalTransition { .. } => R::IllegalTransition,
            Error::StaleClaim(_) => R::StaleClaim,
            Error::ReentrantRun(_) | Error::Closed | Error::HandlerSetup(_) => R::InvalidState,
            Error::Interrupted => R::Interrupted,
            Error::Config(_) => R::Config,
            Error::Database(_) | Error::Migration(_) | Error::Connect(_) => R::Database,
            Error::Serialization(_) | Error::InvalidDocument { .. } => R::InvalidArgument,
            Error::Internal(_) => R::Internal,
        };
        FfiError::new(code, e.to_string())
    }
}

pub(crate) type FfiResult<T> = Result<T, FfiError>;

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

/// Returns a static, NUL-terminated name for a result code ("ok", "null_parameter", ...);
/// "unknown" for any other value. Takes the raw integer: a C enum may hold any `uint32_t`, and
/// an out-of-range value must not be read as a Rust enum (undefined behaviour).
///
/// Threading: any thread.
#[no_mangle]
pub extern "C" fn tasker_result_name(code: u32) -> *const c_char {
    tasker_result::from_code(code)
        .map_or(c"unknown", tasker_result::name)
        .as_ptr()
}

impl tasker_result {
    /// Every variant, in code order (`ALL[i] as u32 == i`).
    const ALL: [tasker_result; 20] = {
        use tasker_result as R;
        [
            R::Ok,
            R::NullParameter,
            R::InvalidArgument,
            R::InvalidTemplate,
            R::TemplateCycle,
            R::UnknownTemplate,
            R::InvalidRequest,
            R::SchemaValidation,
            R::PayloadTooLarge,
            R::DuplicateTask,
            R::TaskNotFound,
            R::StepNotFound,
            R::IllegalTransition,
            R::StaleClaim,
            R::Config,
            R::Database,
            R::Panic,
            R::Internal,
            R::InvalidState,
            R::Interrupted,
        ]
    };

    /// The variant with this number, if any.
    fn from_code(code: u32) -> Option<tasker_result> {
        let code = usize::try_from(code).ok()?;
        Self::ALL.get(code).copied()
    }

    fn name(self) -> &'static CStr {
        use tasker_result as R;
        match self {
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
            R::Interrupted => c"interrupted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_name_and_others_are_unknown() {
        for (i, r) in tasker_result::ALL.iter().enumerate() {
            assert_eq!(*r as u32 as usize, i, "ALL is in code order");
        }
        let name = |c: u32| {
            unsafe { CStr::from_ptr(tasker_result_name(c)) }
                .to_str()
                .unwrap()
        };
        assert_eq!(name(0), "ok");
        assert_eq!(name(13), "stale_claim");
        assert_eq!(name(18), "invalid_state");
        assert_eq!(name(19), "interrupted");
        for c in [20, 64, 1000, u32::MAX] {
            assert_eq!(name(c), "unknown");
        }
    }
}

//! The boundary: every exported body runs inside `boundary` (panics caught, errors mapped to
//! result codes), borrowed inputs are checked here, and host userdata is owned here.

use super::*;
use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

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
            format!(
                "panic inside libtasker: {}",
                crate::error::panic_message(p.as_ref()).unwrap_or_else(|| "unknown panic".into())
            ),
        ),
    };
    let code = e.code;
    if !error.is_null() {
        // SAFETY: the caller passed a writable `tasker_error **` (documented).
        unsafe { *error = Box::into_raw(Box::new(tasker_error::from(e))) };
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

/// Releases the host's userdata; libtasker calls it exactly once, when the registration ends.
pub type tasker_userdata_free_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// Host userdata plus its finalizer, run exactly once on drop.
pub(crate) struct UserData {
    pub ptr: *mut c_void,
    finalizer: tasker_userdata_free_fn,
}

// SAFETY: the header requires userdata to be usable from any host thread that calls in; the
// core only touches it from such threads.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

impl UserData {
    pub fn new(ptr: *mut c_void, finalizer: tasker_userdata_free_fn) -> UserData {
        UserData { ptr, finalizer }
    }

    /// The raw pointer (a method, so closures capture the whole `UserData`).
    pub fn get(&self) -> *mut c_void {
        self.ptr
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(f) = self.finalizer.take() {
            // SAFETY: the host supplied the finalizer for this pointer.
            let _ = catch_unwind(AssertUnwindSafe(|| unsafe { f(self.ptr) }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

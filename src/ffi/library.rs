//! Library-wide functions: the version and logging.

use std::ffi::{c_char, CStr};
use std::panic::catch_unwind;

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
}

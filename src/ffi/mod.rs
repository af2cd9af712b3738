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

// One module per handle family, plus the boundary and buffer plumbing. cbindgen writes items
// in declaration order, so this order is include/tasker.h's (blank lines keep rustfmt from
// sorting it).
mod error;

mod buffer;

mod library;

mod boundary;

mod client;

mod tasks;

mod handler_call;

mod worker;

mod host_queue;

mod events;

mod views;

mod operations;

mod step_call;

// The plumbing every family uses; the families themselves export only `#[no_mangle]` symbols.
use boundary::*;
use buffer::*;
use client::*;
use error::*;
use step_call::*;

#[cfg(test)]
mod tests {
    use super::library::tasker_version;
    use super::*;
    use std::ffi::CStr;

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

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

mod queries;

mod operations;

mod step_call;

mod checkpoint;

mod json;

mod dashboard;

mod metrics;

mod schedules;

mod maintenance;

// The plumbing every family uses; the families themselves export only `#[no_mangle]` symbols.
use boundary::*;
use buffer::*;
use client::*;
use error::*;
use step_call::*;
use tasks::create_task;
use views::view;

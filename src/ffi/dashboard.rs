//! The dashboard handle: the built-in web dashboard served on the client's runtime, started on
//! an address of the host's choice and stopped from any thread.

use super::*;
use crate::{DashboardConfig, DashboardHandle};
use serde::Deserialize;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A running web dashboard. Stop (and free) it with `tasker_dashboard_stop`.
pub struct tasker_dashboard {
    _private: [u8; 0],
}

/// The MessagePack options map of `tasker_dashboard_start`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DashboardOptions {
    allow_actions: bool,
    token: Option<String>,
}

/// Starts the web dashboard of `client` on `listen` ("host:port"; port 0 picks a free port;
/// NULL means "127.0.0.1:8787") and writes a handle owned by the caller to `*out`. The server
/// runs on the client's own runtime threads: no thread of the caller is used, and the call
/// returns once the address is bound. The dashboard keeps the client alive until it is stopped.
///
/// `options`/`options_len`: an optional MessagePack map (NULL/0 for defaults): `allow_actions`
/// (bool, default false: serve the retry, cancel and resolve buttons, CSRF-protected) and
/// `token` (string: every request must present it, as `Authorization: Bearer` or once as
/// `?token=`; required when `listen` is not a loopback address). Unknown keys are rejected.
/// `listen` and `options` are borrowed for the call.
///
/// Errors: NullParameter (client, out); InvalidArgument (listen not UTF-8, malformed options);
/// Config (address unparsable or not bindable, non-loopback without a token, empty token).
/// Threading: any thread, but not from inside a libtasker callback running on the client's
/// runtime.
#[no_mangle]
pub unsafe extern "C" fn tasker_dashboard_start(
    client: *const tasker_client,
    listen: *const c_char,
    options: *const u8,
    options_len: usize,
    out: *mut *mut tasker_dashboard,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let c = client_ref(client)?;
        if out.is_null() {
            return Err(FfiError::null("out"));
        }
        let listen = opt_cstr(listen, "listen")?.unwrap_or(crate::DEFAULT_LISTEN);
        let o: DashboardOptions = if options_len == 0 {
            DashboardOptions::default()
        } else {
            decode(slice(options, options_len, "options")?, "dashboard options")?
        };
        let handle = c.start_dashboard(&DashboardConfig {
            listen: listen.to_string(),
            allow_actions: o.allow_actions,
            token: o.token,
        })?;
        *out = Box::into_raw(Box::new(handle)) as *mut tasker_dashboard;
        Ok(())
    })
}

/// Writes the address the dashboard listens on ("127.0.0.1:43817": the real port when port 0
/// was asked for) as NUL-terminated text to `out` (free with tasker_bytes_free; `len` does not
/// count the NUL).
///
/// Errors: NullParameter. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_dashboard_address(
    dashboard: *const tasker_dashboard,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let d = (dashboard as *const DashboardHandle)
            .as_ref()
            .ok_or_else(|| FfiError::null("dashboard"))?;
        if out.is_null() {
            return Err(FfiError::null("out"));
        }
        write_text(out, d.address().to_string().into_bytes());
        Ok(())
    })
}

/// Stops the dashboard and frees its handle: the address is released, open live streams end,
/// and requests in flight are given a few seconds to finish. NULL is accepted; must not be
/// called twice.
///
/// Threading: any thread, but not from inside a libtasker callback running on the client's
/// runtime; not concurrently with another call on the same handle.
#[no_mangle]
pub unsafe extern "C" fn tasker_dashboard_stop(dashboard: *mut tasker_dashboard) {
    if !dashboard.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            drop(Box::from_raw(dashboard as *mut DashboardHandle))
        }));
    }
}

//! The client handle: connect, free, migrate, register templates and handlers.

use super::*;
use crate::{Client, Config};
use serde_json::Value;
use std::ffi::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// A connection to one database (SQLite file or PostgreSQL), with its runtime, pool,
/// registries and subscribers. Thread-safe: share it between threads. Free with
/// `tasker_client_free`.
pub struct tasker_client {
    _private: [u8; 0],
}

pub(crate) unsafe fn client_ref<'a>(p: *const tasker_client) -> FfiResult<&'a Client> {
    (p as *const Client)
        .as_ref()
        .ok_or_else(|| FfiError::null("client"))
}

/// Connects to `url` and applies the embedded migrations.
///
/// `url`: "sqlite://PATH", "sqlite::memory:" or "postgres://..."; NULL means the environment
/// variable TASKER_DATABASE_URL, else the embedded default "sqlite://tasker.db".
/// `options`/`options_len`: an optional MessagePack map of client options (NULL/0 for
/// defaults): backoff {base_ms, factor, max_ms, jitter}, lease_ms, claim_batch, adaptive_claim,
/// poll_interval_ms, lease_check_interval_ms, schedule_check_interval_ms, max_payload_bytes,
/// max_connections, connect_timeout_ms, environment, reject_duplicates, stop_grace_ms,
/// reenqueue {...}. Unknown keys are rejected.
/// On success `*out` receives a client owned by the caller (free with `tasker_client_free`).
///
/// Errors: NullParameter (out); InvalidArgument (URL or options); Config; Database.
/// Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_client_new(
    url: *const c_char,
    options: *const u8,
    options_len: usize,
    out: *mut *const tasker_client,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        if out.is_null() {
            return Err(FfiError::null("out"));
        }
        let url = match opt_cstr(url, "url")? {
            Some(u) => u.to_string(),
            None => std::env::var("TASKER_DATABASE_URL")
                .unwrap_or_else(|_| crate::DEFAULT_DATABASE_URL.to_string()),
        };
        let config: Config = if options_len == 0 {
            Config::default()
        } else {
            decode(slice(options, options_len, "options")?, "client options")?
        };
        let client = Client::connect_with(&url, config, None)?;
        *out = Box::into_raw(Box::new(client)) as *const tasker_client;
        Ok(())
    })
}

/// Releases a client handle (the deallocator; `tasker_client_close` is the shutdown). NULL is
/// accepted; must not be called twice. Workers and subscriptions keep the underlying client
/// alive until they are freed; registered handler and queue userdata finalizers run when the
/// last of them is gone.
///
/// Threading: any thread, but not while another thread is inside a call on this handle
/// (`tasker_client_close` first waits for those).
#[no_mangle]
pub unsafe extern "C" fn tasker_client_free(client: *const tasker_client) {
    if !client.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            drop(Box::from_raw(client as *mut Client))
        }));
    }
}

/// Interrupts every blocking call running on this client now: `tasker_run_task`,
/// `tasker_worker_run`, `tasker_worker_run_once`, `tasker_handle_step` and their waits (idle,
/// poll, backoff) return `TASKER_RESULT_INTERRUPTED` as soon as the step handler running on
/// their thread (if any) returns. Each gives back the claims whose handlers have not finished
/// (claimed in a batch and not started, or running): the steps go back to ready, their
/// attempt is not counted and no failure is recorded; an outcome a handler reports after the
/// interrupt is not written. The claim of a handler still running is given back at once from
/// an internal thread (its later outcome is refused as stale). Calls started after this one
/// are not affected. NULL is accepted (nothing happens).
///
/// Threading: any thread, including one dedicated to signals and a step handler callback
/// (a wrapper's handler that was itself interrupted calls it so that its run aborts). It is
/// not async-signal-safe: do not call it from inside a POSIX signal handler.
#[no_mangle]
pub unsafe extern "C" fn tasker_client_interrupt(client: *const tasker_client) {
    if let Ok(c) = client_ref(client) {
        let _ = catch_unwind(AssertUnwindSafe(|| c.interrupt()));
    }
}

/// Closes a client: calls made afterwards on it (through this handle, its workers or
/// subscriptions) fail with INVALID_STATE, except calls made from inside a running call on the
/// same thread (a handler's heartbeat); running workers are stopped as by `tasker_worker_stop`
/// (grace period included); subscriptions are dropped (their `userdata_free` runs now);
/// then it waits until the calls running on other threads have returned. Running
/// `tasker_run_task` calls are waited for, not interrupted (`tasker_client_interrupt` first
/// for that). Idempotent: a second close returns OK. Called from inside a step handler, it
/// waits for the other threads' calls only. The handle stays valid: free it with
/// `tasker_client_free` afterwards.
///
/// Errors: NullParameter. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_client_close(
    client: *const tasker_client,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        client_ref(client)?.close();
        Ok(())
    })
}

/// Applies the embedded migrations again (they already ran at connect; idempotent).
///
/// Errors: NullParameter; Database. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_migrate(
    client: *const tasker_client,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || Ok(client_ref(client)?.migrate()?))
}

/// Registers a template from YAML text (`yaml`, `len` bytes of UTF-8, borrowed). Replaces an
/// earlier registration with the same namespace, name and version.
///
/// Errors: NullParameter; InvalidArgument (not UTF-8); InvalidTemplate (malformed YAML,
/// unknown key or dependency, duplicate name, bad semver); TemplateCycle; Database.
/// Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_register_template_yaml(
    client: *const tasker_client,
    yaml: *const u8,
    len: usize,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let c = client_ref(client)?;
        let bytes = slice(yaml, len, "yaml")?;
        let text = std::str::from_utf8(bytes)
            .map_err(|e| FfiError::invalid(format!("yaml is not valid UTF-8: {e}")))?;
        c.register_template_yaml(text)?;
        Ok(())
    })
}

/// Registers a template from a YAML file (`path`: NUL-terminated UTF-8).
///
/// Errors: as `tasker_register_template_yaml`, plus InvalidTemplate when the file cannot be read.
/// Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_register_template_file(
    client: *const tasker_client,
    path: *const c_char,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let c = client_ref(client)?;
        let path = cstr(path, "path")?;
        c.register_template_file(std::path::Path::new(path))?;
        Ok(())
    })
}

/// Registers a template given as a MessagePack map with the YAML structure (borrowed).
///
/// Errors: as `tasker_register_template_yaml`; InvalidArgument for malformed MessagePack.
/// Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_register_template_msgpack(
    client: *const tasker_client,
    data: *const u8,
    len: usize,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let c = client_ref(client)?;
        let value: Value = decode(slice(data, len, "data")?, "template")?;
        c.register_template_value(value)?;
        Ok(())
    })
}

/// Registers (or replaces) the step handler called `name` (NUL-terminated UTF-8).
///
/// `process` is required; `process_results` may be NULL (the output is then persisted as is).
/// `userdata` is passed first to both; `userdata_free` (may be NULL) runs exactly once, when
/// the handler is replaced or unregistered, or when the client is finally released. Userdata
/// must be usable from every thread that calls into this client.
/// The callbacks run only on the thread that called into libtasker (worker run, run_task,
/// handle_step), never on an internal thread. A callback that reports neither output nor
/// failure makes a failed attempt (class "NoOutput").
///
/// Errors: NullParameter (client, name, process); InvalidArgument (name not UTF-8 or empty);
/// InvalidState (the name is already registered and the client's `on_duplicate_handler` is
/// `error`). On error `userdata_free` is not called: the caller still owns userdata.
/// Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_register_handler(
    client: *const tasker_client,
    name: *const c_char,
    process: tasker_process_fn,
    process_results: tasker_process_results_fn,
    userdata: *mut c_void,
    userdata_free: tasker_userdata_free_fn,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let c = client_ref(client)?;
        let name = cstr(name, "name")?;
        let process = process.ok_or_else(|| FfiError::null("process"))?;
        if name.trim().is_empty() {
            return Err(FfiError::invalid("handler name must not be empty"));
        }
        // Built only when stored: a refused registration must not run `userdata_free`.
        c.register_handler_with(name, || {
            Arc::new(FfiHandler {
                process,
                process_results,
                client: c.downgrade(),
                userdata: UserData::new(userdata, userdata_free),
            })
        })?;
        Ok(())
    })
}

/// Removes the handler called `name`; writes whether one existed to `removed` (may be NULL).
///
/// Errors: NullParameter; InvalidArgument. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_unregister_handler(
    client: *const tasker_client,
    name: *const c_char,
    removed: *mut bool,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let c = client_ref(client)?;
        let r = c.unregister_handler(cstr(name, "name")?);
        write(removed, r);
        Ok(())
    })
}

//! Metrics: this client's step counters and histograms and the database's gauges, as a
//! document (MessagePack or JSON) or in the Prometheus text format, for hosts that export
//! metrics their own way.

use super::*;

/// Writes the metrics document as MessagePack to `out` (free with tasker_bytes_free):
/// `steps` (per template and handler: `completed`, `failed`, `retried`, `lease_expired`
/// counters and the `start_delay` and `duration` histograms, counted by THIS client since it
/// connected) and the database-wide `ready_steps` and `tasks_by_state`, read at the call.
/// Shape in docs/ABI.md and docs/schema/documents.schema.json (`Metrics`).
///
/// Errors: NullParameter; InvalidState (the client is closed); Database. Threading: any thread; counters keep counting
/// while it reads (each value is read once, atomically).
#[no_mangle]
pub unsafe extern "C" fn tasker_metrics(
    client: *const tasker_client,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    view(Format::MsgPack, out, error, || {
        Ok(client_ref(client)?.metrics()?)
    })
}

/// `tasker_metrics` as JSON text in `out` (NUL-terminated as tasker_task_view_json; free with
/// tasker_bytes_free).
///
/// Errors: NullParameter; InvalidState (the client is closed); Database. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_metrics_json(
    client: *const tasker_client,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    view(Format::Json, out, error, || {
        Ok(client_ref(client)?.metrics()?)
    })
}

/// The same numbers in the Prometheus text exposition format 0.0.4, as UTF-8 text in `out`
/// (`len` excludes a terminating NUL that follows the text; free with tasker_bytes_free).
/// Serve it with `Content-Type: text/plain; version=0.0.4`.
///
/// Errors: NullParameter; InvalidState (the client is closed); Database. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_metrics_text(
    client: *const tasker_client,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        if out.is_null() {
            return Err(FfiError::null("out"));
        }
        let text = client_ref(client)?.metrics_text()?;
        write_text(out, text.into_bytes());
        Ok(())
    })
}

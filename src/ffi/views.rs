//! Views: the task view, a task's execution context, system health (MessagePack documents;
//! their JSON variants are in json.rs).

use super::*;

/// Writes the task view (task, steps with states, attempts, results and transition history,
/// execution context) as MessagePack to `out` (free with tasker_bytes_free).
///
/// Errors: NullParameter; TaskNotFound; Database. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_task_view(
    client: *const tasker_client,
    task_id: i64,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    view(Format::MsgPack, out, error, || {
        Ok(client_ref(client)?.task_view(task_id)?)
    })
}

/// Writes the task's execution context (counts, execution_status, recommended_action,
/// completion_percentage, health) as MessagePack to `out`.
///
/// Errors: NullParameter; TaskNotFound; Database. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_execution_context(
    client: *const tasker_client,
    task_id: i64,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    view(Format::MsgPack, out, error, || {
        Ok(client_ref(client)?.execution_context(task_id)?)
    })
}

/// Writes system health counts (tasks and steps by state, retryable, exhausted, in backoff,
/// expired leases) as MessagePack to `out`.
///
/// Errors: NullParameter; Database. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_health(
    client: *const tasker_client,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    view(Format::MsgPack, out, error, || {
        Ok(client_ref(client)?.health()?)
    })
}

/// Encodes the view `read` returns into the required `out` buffer.
pub(crate) unsafe fn view<T: serde::Serialize>(
    format: Format,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
    read: impl FnOnce() -> FfiResult<T>,
) -> tasker_result {
    boundary(error, || {
        if out.is_null() {
            return Err(FfiError::null("out"));
        }
        format.write(out, &read()?)
    })
}

//! Queries: waiting for a task to finish or block (MessagePack documents; the JSON variants
//! are in json.rs).

use super::*;

/// Blocks until the task is finished (complete, cancelled, resolved manually) or blocked
/// (state error, or a step out of retries), or until `timeout_ms` milliseconds (wall-clock)
/// have passed, then writes `{"timed_out": bool, "task": <task view>}` as MessagePack to `out`
/// (free with tasker_bytes_free). A timeout is not an error: `timed_out` is true and `task` is
/// the view at that moment. `timeout_ms` 0 looks once. Wakes on this process's commits, on
/// PostgreSQL NOTIFY from other processes, and polls every `poll_interval_ms` otherwise.
///
/// Errors: NullParameter; TaskNotFound; Database; Interrupted (tasker_client_interrupt from
/// another thread ends the wait); InvalidState after tasker_client_close. Threading: any
/// thread; blocks the calling thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_wait_task(
    client: *const tasker_client,
    task_id: i64,
    timeout_ms: u64,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    wait_task(Format::MsgPack, client, task_id, timeout_ms, out, error)
}

/// `tasker_wait_task` in either format (the JSON variant is in json.rs).
pub(crate) unsafe fn wait_task(
    format: Format,
    client: *const tasker_client,
    task_id: i64,
    timeout_ms: u64,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    view(format, out, error, || {
        let timeout = std::time::Duration::from_millis(timeout_ms);
        Ok(client_ref(client)?.wait_task(task_id, timeout)?)
    })
}

//! Queries: waiting for a task to finish or block (MessagePack documents; the JSON variants
//! are in json.rs).

use super::*;

/// Blocks until the task is finished (complete, cancelled, resolved manually) or blocked
/// (state error, or a step out of retries), or until `timeout_ms` milliseconds (wall-clock)
/// have passed, then writes `{"timed_out": bool, "task": <task view>}` as MessagePack to `out`
/// (free with tasker_bytes_free). A timeout is not an error: `timed_out` is true and `task` is
/// the view at that moment. `timeout_ms` 0 looks once. Wakes on this process's commits, on
/// PostgreSQL NOTIFY from other processes (the wait first marks the task as watched, one
/// UPDATE of its row: only watched tasks are notified), and polls every `poll_interval_ms`
/// otherwise.
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

/// Lists tasks matching the MessagePack task filter `filter` (`filter_len` bytes; NULL with
/// length 0 is the empty filter: every task) and writes one page as MessagePack to `out`
/// (free with tasker_bytes_free): `{"items": [task summary, ...], "next_cursor": "..."|nil}`,
/// newest task first. Filter fields (all optional; see docs/ABI.md "Task filter"): states,
/// execution_status, namespace, name, version, initiator, source_system, tags, created_from,
/// created_to, updated_from, updated_to, cursor (a previous page's next_cursor), limit (1 to
/// 1000, default 50). `filter` is borrowed for the call.
///
/// Errors: NullParameter; InvalidArgument (malformed filter, unknown field, limit out of
/// range, a cursor this library did not return); Database. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_list_tasks(
    client: *const tasker_client,
    filter: *const u8,
    filter_len: usize,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    list(
        Format::MsgPack,
        client,
        filter,
        filter_len,
        out,
        error,
        |c, f| c.list_tasks(f),
    )
}

/// Lists steps matching the MessagePack step filter `filter` (NULL with length 0: every step)
/// and writes one page as MessagePack to `out` (free with tasker_bytes_free): `{"items":
/// [step summary, ...], "next_cursor": ...}`, newest step first. Filter fields (all optional):
/// task_id, states, handler, condition ("in_backoff", "exhausted", "lease_expired",
/// "lease_active"), cursor, limit (1 to 1000, default 50). `filter` is borrowed for the call.
///
/// Errors: as tasker_list_tasks. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_list_steps(
    client: *const tasker_client,
    filter: *const u8,
    filter_len: usize,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    list(
        Format::MsgPack,
        client,
        filter,
        filter_len,
        out,
        error,
        |c, f| c.list_steps(f),
    )
}

/// The body of the list entry points and their JSON variants: decodes the filter (none: the
/// empty filter), runs the listing, writes the page.
pub(crate) unsafe fn list<F, T>(
    format: Format,
    client: *const tasker_client,
    filter: *const u8,
    filter_len: usize,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
    run: impl FnOnce(&crate::Client, &F) -> crate::Result<T>,
) -> tasker_result
where
    F: serde::de::DeserializeOwned + Default,
    T: serde::Serialize,
{
    view(format, out, error, || {
        let c = client_ref(client)?;
        let bytes = slice(filter, filter_len, "filter")?;
        let f = if bytes.is_empty() {
            F::default()
        } else {
            format.decode(bytes, "filter")?
        };
        Ok(run(c, &f)?)
    })
}

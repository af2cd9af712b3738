//! Maintenance: what workers do by themselves (task deadlines, retention), for a process
//! without workers to call on its own timer, and the operator's purge of finished tasks.

use super::*;
use crate::models::PurgeRequest;
use std::ffi::c_char;

/// Fails the unfinished tasks past their deadline (`deadline_ms`), at most 100 per call,
/// oldest deadline first: each goes to `error` (transition metadata `reason: deadline`,
/// `error_class: Deadline`) and its unfinished steps are cancelled (a running handler sees
/// its stop reason). Workers (tasker_worker_run) do this by themselves every
/// `lease_check_interval_ms`; call it from a process without workers. Writes how many tasks
/// failed to `failed` (may be NULL); call again while it is 100.
///
/// Errors: NullParameter; Database; InvalidState after tasker_client_close. Threading: any
/// thread; enqueue callbacks run here.
#[no_mangle]
pub unsafe extern "C" fn tasker_enforce_deadlines(
    client: *const tasker_client,
    failed: *mut u64,
    error: *mut *mut tasker_error,
) -> tasker_result {
    count(client, failed, error, |c| {
        c.enforce_deadlines()
            .map(|n| u64::try_from(n).unwrap_or(u64::MAX))
    })
}

/// One pass of the client's `retention` option (absent: nothing is purged): deletes the
/// `complete` and `cancelled` tasks finished longer ago than its `complete_ms` /
/// `cancelled_ms`, among the next window of 10,000 task ids (the windows wrap around), in
/// batches that each commit on their own. Workers do this by themselves every
/// `retention.interval_ms`; call it from a process without workers. Writes how many tasks it
/// purged to `purged` (may be NULL).
///
/// Errors: NullParameter; Database; InvalidState after tasker_client_close. Threading: any
/// thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_apply_retention(
    client: *const tasker_client,
    purged: *mut u64,
    error: *mut *mut tasker_error,
) -> tasker_result {
    count(client, purged, error, |c| c.apply_retention())
}

/// Deletes the `complete` and `cancelled` tasks finished before a time, with their steps and
/// history, in batches that each commit on their own, and writes what it deleted as
/// MessagePack to `out` (free with tasker_bytes_free): `{"dry_run", "tasks", "steps",
/// "batches"}`. `request` (`request_len` bytes, borrowed for the call) is the MessagePack
/// purge request: `finished_before` (epoch ms), `template` (`{"name", "namespace",
/// "version"}`, the last two optional: only that template's tasks), `dry_run` (count only),
/// `batch_size` (1 to 10,000, default 500). Tasks in other states are never touched.
///
/// Errors: NullParameter; InvalidArgument (empty or malformed request, unknown field,
/// batch_size out of range); Database; Interrupted (tasker_client_interrupt from another
/// thread: the batches before it stay deleted); InvalidState after tasker_client_close.
/// Threading: any thread; blocks the calling thread for the whole purge.
#[no_mangle]
pub unsafe extern "C" fn tasker_purge_tasks(
    client: *const tasker_client,
    request: *const u8,
    request_len: usize,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    purge(Format::MsgPack, client, request, request_len, out, error)
}

/// `tasker_purge_tasks` with the request as JSON text (`request_len` bytes, no NUL needed),
/// e.g. `{"finished_before": 1764547200000, "template": {"name": "order_fulfillment"}}`; the
/// report as JSON text in `out` (NUL-terminated as tasker_task_view_json).
///
/// Errors: as tasker_purge_tasks. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_purge_tasks_json(
    client: *const tasker_client,
    request: *const c_char,
    request_len: usize,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    purge(
        Format::Json,
        client,
        request.cast(),
        request_len,
        out,
        error,
    )
}

/// The body of the entry points that write one count.
unsafe fn count(
    client: *const tasker_client,
    out: *mut u64,
    error: *mut *mut tasker_error,
    run: impl FnOnce(&crate::Client) -> crate::Result<u64>,
) -> tasker_result {
    boundary(error, || {
        let n = run(client_ref(client)?)?;
        write(out, n);
        Ok(())
    })
}

/// The body of both purge entry points.
unsafe fn purge(
    format: Format,
    client: *const tasker_client,
    request: *const u8,
    request_len: usize,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    view(format, out, error, || {
        let c = client_ref(client)?;
        let req: PurgeRequest =
            format.decode(slice(request, request_len, "request")?, "request")?;
        Ok(c.purge_tasks(&req)?)
    })
}

//! Tasks: create one, run one inline.

use super::*;
use crate::TaskRequest;

/// Creates a task from a MessagePack task request (see docs/ABI.md: name, namespace, version,
/// context, initiator, source_system, reason, tags, bypass_steps, step_inputs). Writes the
/// task id and whether it was newly created (false: an identical task existed and is returned)
/// to the out-parameters (each may be NULL). Nothing is written to the database on error.
///
/// Errors: NullParameter; InvalidArgument (malformed request); UnknownTemplate;
/// InvalidRequest; SchemaValidation; PayloadTooLarge; DuplicateTask; Database.
/// Threading: any thread; enqueue callbacks (host-queue mode) run on this thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_create_task(
    client: *const tasker_client,
    request: *const u8,
    request_len: usize,
    task_id: *mut i64,
    created: *mut bool,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        create_task(
            Format::MsgPack,
            client,
            request,
            request_len,
            task_id,
            created,
        )
    })
}

/// The body of `tasker_create_task` and its JSON variant.
pub(crate) unsafe fn create_task(
    format: Format,
    client: *const tasker_client,
    request: *const u8,
    request_len: usize,
    task_id: *mut i64,
    created: *mut bool,
) -> FfiResult<()> {
    let c = client_ref(client)?;
    let req: TaskRequest =
        format.decode(slice(request, request_len, "request")?, "task request")?;
    let t = c.create_task(&req)?;
    write(task_id, t.task_id);
    write(created, t.created);
    Ok(())
}

/// Runs one task to the end on this thread (claims its ready steps, waits out backoffs) and
/// returns when it is complete, blocked, cancelled or cannot progress. When `execution` is
/// non-NULL it receives the final execution context (MessagePack; free with tasker_bytes_free).
///
/// Errors: NullParameter; TaskNotFound; InvalidState when called from inside a step handler of
/// the same task on the same thread (it would wait for itself); Database. Handler callbacks and
/// event subscribers run on this thread. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_run_task(
    client: *const tasker_client,
    task_id: i64,
    execution: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let ctx = client_ref(client)?.run_task(task_id)?;
        write_doc(execution, &ctx)
    })
}

//! Operator operations: cancel a task, resolve or retry a step. Each reports whether it
//! changed anything.

use super::*;
use serde_json::Value;

/// Cancels a task: every unfinished step is cancelled and late results are discarded. Writes
/// false to `changed` (may be NULL) when it was already cancelled.
///
/// Errors: NullParameter; TaskNotFound; IllegalTransition (a finished task); Database.
/// Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_cancel_task(
    client: *const tasker_client,
    task_id: i64,
    changed: *mut bool,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let r = client_ref(client)?.cancel_task(task_id)?;
        write(changed, r);
        Ok(())
    })
}

/// Resolves a pending or failed step by hand with `results` (MessagePack, borrowed; NULL/0
/// for an empty map). Its dependents proceed and a blocked task resumes.
///
/// Errors: NullParameter; InvalidArgument; StepNotFound; IllegalTransition; Database.
/// Threading: any thread; enqueue callbacks run here.
#[no_mangle]
pub unsafe extern "C" fn tasker_resolve_step(
    client: *const tasker_client,
    step_id: i64,
    results: *const u8,
    results_len: usize,
    changed: *mut bool,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let c = client_ref(client)?;
        let results: Value = if results_len == 0 {
            Value::Object(Default::default())
        } else {
            decode(slice(results, results_len, "results")?, "results")?
        };
        let r = c.resolve_step(step_id, results)?;
        write(changed, r);
        Ok(())
    })
}

/// Retries a failed step (attempts reset to 0); a blocked task resumes. Writes false to
/// `changed` (may be NULL) when nothing changed.
///
/// Errors: NullParameter; StepNotFound; IllegalTransition (step not in error); Database.
/// Threading: any thread; enqueue callbacks run here.
#[no_mangle]
pub unsafe extern "C" fn tasker_retry_step(
    client: *const tasker_client,
    step_id: i64,
    changed: *mut bool,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let r = client_ref(client)?.retry_step(step_id)?;
        write(changed, r);
        Ok(())
    })
}

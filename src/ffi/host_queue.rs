//! Host-queue mode: the enqueue callbacks and the deliveries of step and task ids.

use super::*;
use std::ffi::c_void;
use std::sync::Arc;
use std::time::Duration;

/// Host-queue callback: enqueue a task (or a step) id after `delay_ms` milliseconds. Return 0
/// on success, anything else on failure (the work stays ready in the database).
pub type tasker_enqueue_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, id: i64, delay_ms: u64) -> i32>;

pub(crate) struct FfiInjector {
    pub enqueue_task: unsafe extern "C" fn(*mut c_void, i64, u64) -> i32,
    pub enqueue_step: unsafe extern "C" fn(*mut c_void, i64, u64) -> i32,
    pub userdata: UserData,
}

impl crate::QueueInjector for FfiInjector {
    fn enqueue_task(&self, task_id: i64, delay: Duration) -> Result<(), String> {
        // SAFETY: registered callback.
        match unsafe { (self.enqueue_task)(self.userdata.ptr, task_id, delay.as_millis() as u64) } {
            0 => Ok(()),
            n => Err(format!("enqueue_task callback returned {n}")),
        }
    }
    fn enqueue_step(&self, step_id: i64, delay: Duration) -> Result<(), String> {
        // SAFETY: registered callback.
        match unsafe { (self.enqueue_step)(self.userdata.ptr, step_id, delay.as_millis() as u64) } {
            0 => Ok(()),
            n => Err(format!("enqueue_step callback returned {n}")),
        }
    }
}

/// Installs the host-queue callbacks (both required), replacing earlier ones; or removes them
/// when both are NULL. libtasker calls `enqueue_step(userdata, step_id, delay_ms)` when a step
/// becomes ready or a retry is due, and `enqueue_task(userdata, task_id, delay_ms)` when a task
/// must be looked at again — after commit, on the thread that called into libtasker.
/// `userdata_free` runs exactly once when the callbacks are replaced or the client is released.
///
/// Errors: NullParameter (client, or only one callback given). Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_set_queue_injector(
    client: *const tasker_client,
    enqueue_task: tasker_enqueue_fn,
    enqueue_step: tasker_enqueue_fn,
    userdata: *mut c_void,
    userdata_free: tasker_userdata_free_fn,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let c = client_ref(client)?;
        match (enqueue_task, enqueue_step) {
            (None, None) => {
                c.set_queue_injector(None);
                drop(UserData::new(userdata, userdata_free));
            }
            (Some(t), Some(s)) => c.set_queue_injector(Some(Arc::new(FfiInjector {
                enqueue_task: t,
                enqueue_step: s,
                userdata: UserData::new(userdata, userdata_free),
            }))),
            _ => {
                return Err(FfiError::null(
                    "enqueue_task and enqueue_step (give both or neither)",
                ))
            }
        }
        Ok(())
    })
}

/// Host-queue delivery of a step: runs its whole lifecycle on this thread and enqueues what
/// became ready. `outcome` (may be NULL) receives a MessagePack map {outcome: "completed" |
/// "failed" | "skipped" | "discarded" | "stale", step_id, ...}. Stale, early or duplicate
/// deliveries are harmless ("skipped").
///
/// Errors: NullParameter; StepNotFound; Interrupted (`tasker_client_interrupt` while the handler
/// ran: the claim was given back, the attempt not counted); Database. Threading: any thread;
/// callbacks run here.
#[no_mangle]
pub unsafe extern "C" fn tasker_handle_step(
    client: *const tasker_client,
    step_id: i64,
    outcome: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let o = client_ref(client)?.handle_step(step_id)?;
        write_doc(outcome, &o)
    })
}

/// Host-queue delivery of a task: expired leases become failed attempts, ready steps are
/// enqueued, otherwise the task is enqueued again later. `execution` (may be NULL) receives
/// the execution context.
///
/// Errors: NullParameter; TaskNotFound; Database. Threading: any thread; callbacks run here.
#[no_mangle]
pub unsafe extern "C" fn tasker_handle_task(
    client: *const tasker_client,
    task_id: i64,
    execution: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let ctx = client_ref(client)?.handle_task(task_id)?;
        write_doc(execution, &ctx)
    })
}

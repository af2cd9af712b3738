//! The worker handle: a built-in worker bound to a client, run on one thread, stopped from any.

use super::*;
use crate::{Client, StopHandle};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A built-in worker bound to a client. Run it on one thread; stop it from any thread.
pub struct tasker_worker {
    _private: [u8; 0],
}

struct Worker {
    client: Client,
    stop: StopHandle,
}

/// Creates a worker for `client` (the worker keeps the client alive). Free it with
/// `tasker_worker_free` once it is not running.
///
/// Errors: NullParameter. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_worker_new(
    client: *const tasker_client,
    out: *mut *mut tasker_worker,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let c = client_ref(client)?;
        if out.is_null() {
            return Err(FfiError::null("out"));
        }
        let w = Worker {
            client: c.clone(),
            stop: StopHandle::new(),
        };
        *out = Box::into_raw(Box::new(w)) as *mut tasker_worker;
        Ok(())
    })
}

unsafe fn worker_ref<'a>(p: *const tasker_worker) -> FfiResult<&'a Worker> {
    (p as *const Worker)
        .as_ref()
        .ok_or_else(|| FfiError::null("worker"))
}

/// Claims up to `claim_batch` ready steps of any task, runs their handlers on this thread and
/// commits the outcomes. Writes how many steps ran to `ran` (may be NULL); 0 means nothing
/// was ready.
///
/// Errors: NullParameter; Interrupted (`tasker_client_interrupt`; the claims whose handlers
/// had not finished were given back); Database. Threading: the calling thread runs the callbacks.
#[no_mangle]
pub unsafe extern "C" fn tasker_worker_run_once(
    worker: *const tasker_worker,
    ran: *mut u64,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let n = worker_ref(worker)?.client.run_once()?;
        write(ran, n as u64);
        Ok(())
    })
}

/// Runs steps on this thread until `tasker_worker_stop` is called (from any thread) or the
/// client is closed; idle periods wait for wakeups (PostgreSQL NOTIFY, local commits, a stop,
/// an interrupt) or the poll interval. Writes the number of steps run to `ran` (may be NULL).
/// A stopped worker returns at once until `tasker_worker_reset`.
///
/// Errors: NullParameter; Interrupted (`tasker_client_interrupt`: the worker gave back the
/// claims whose handlers had not finished; `ran` is not written); InvalidState (client
/// closed). Database errors are logged and retried, not returned.
/// Threading: one thread at a time per worker; many workers may share a client.
#[no_mangle]
pub unsafe extern "C" fn tasker_worker_run(
    worker: *const tasker_worker,
    ran: *mut u64,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let w = worker_ref(worker)?;
        let n = w.client.run_worker(&w.stop)?;
        write(ran, n);
        Ok(())
    })
}

/// Asks the worker to stop, and returns at once. A running `tasker_worker_run` claims nothing
/// more, gives back the steps it claimed but has not started (back to ready, the attempt not
/// counted), lets the running handler finish within the client's `stop_grace_ms` option
/// (default 30 s) and returns OK; an idle worker (waiting for work or a poll) wakes and
/// returns at once. When the grace period runs out first, the running handler's claim is
/// given back from an internal thread, and its outcome, when the handler returns, is refused
/// as stale; `tasker_worker_run` returns when the handler does. A worker stopped before it
/// runs returns at once (until `tasker_worker_reset`). NULL is accepted.
///
/// Threading: any thread, including a step handler callback of this worker and a thread
/// dedicated to signals. It is not async-signal-safe: do not call it from inside a POSIX
/// signal handler.
#[no_mangle]
pub unsafe extern "C" fn tasker_worker_stop(worker: *const tasker_worker) {
    if let Ok(w) = worker_ref(worker) {
        w.stop.stop();
    }
}

/// Re-arms a stopped worker so that `tasker_worker_run` runs again. NULL is accepted.
///
/// Threading: any thread, while the worker is not running.
#[no_mangle]
pub unsafe extern "C" fn tasker_worker_reset(worker: *const tasker_worker) {
    if let Ok(w) = worker_ref(worker) {
        w.stop.reset();
    }
}

/// Frees a worker. NULL is accepted; must not be called twice, nor while the worker runs.
///
/// Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_worker_free(worker: *mut tasker_worker) {
    if !worker.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            drop(Box::from_raw(worker as *mut Worker))
        }));
    }
}

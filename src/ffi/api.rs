//! Exported functions on client, worker and subscription handles.

use super::handler::*;
use super::*;
use crate::{Client, Config, StepOutcome, StopHandle, TaskRequest};
use serde_json::{json, Value};
use std::ffi::c_void;
use std::sync::Arc;

/// A connection to one database (SQLite file or PostgreSQL), with its runtime, pool,
/// registries and subscribers. Thread-safe: share it between threads. Free with
/// `tasker_client_free`.
pub struct tasker_client {
    _private: [u8; 0],
}

/// A built-in worker bound to a client. Run it on one thread; stop it from any thread.
pub struct tasker_worker {
    _private: [u8; 0],
}

/// An event subscription. Freeing it unsubscribes.
pub struct tasker_subscription {
    _private: [u8; 0],
}

struct Worker {
    client: Client,
    stop: StopHandle,
}

struct Subscription {
    client: Client,
    id: u64,
}

unsafe fn client_ref<'a>(p: *const tasker_client) -> FfiResult<&'a Client> {
    (p as *const Client)
        .as_ref()
        .ok_or_else(|| FfiError::null("client"))
}

/// Connects to `url` and applies the embedded migrations.
///
/// `url`: "sqlite://PATH", "sqlite::memory:" or "postgres://..."; NULL means the environment
/// variable TASKER_DATABASE_URL, else the embedded default "sqlite://tasker.db".
/// `options`/`options_len`: an optional MessagePack map of client options (NULL/0 for
/// defaults): backoff {base_ms, factor, max_ms, jitter}, lease_ms, claim_batch, poll_interval_ms,
/// lease_check_interval_ms, max_payload_bytes, max_connections, environment, reject_duplicates,
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

/// Releases a client handle. NULL is accepted; must not be called twice. Workers and
/// subscriptions keep the underlying client alive until they are freed; registered handler
/// and queue userdata finalizers run when the last of them is gone.
///
/// Threading: any thread, but not while another thread is inside a call on this handle.
#[no_mangle]
pub unsafe extern "C" fn tasker_client_free(client: *const tasker_client) {
    if !client.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            drop(Box::from_raw(client as *mut Client))
        }));
    }
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
/// Errors: NullParameter (client, name, process); InvalidArgument (name not UTF-8 or empty).
/// On error `userdata_free` is not called: the caller still owns userdata.
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
        let handler = FfiHandler {
            process,
            process_results,
            client: c.downgrade(),
            userdata: UserData::new(userdata, userdata_free),
        };
        c.register_handler(name, Arc::new(handler))?;
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
        let c = client_ref(client)?;
        let req: TaskRequest = decode(slice(request, request_len, "request")?, "task request")?;
        let t = c.create_task(&req)?;
        write(task_id, t.task_id);
        write(created, t.created);
        Ok(())
    })
}

unsafe fn write_doc<T: serde::Serialize>(out: *mut tasker_bytes, v: &T) -> FfiResult<()> {
    if !out.is_null() {
        write_bytes(out, encode(v)?);
    }
    Ok(())
}

/// Runs one task to the end on this thread (claims its ready steps, waits out backoffs) and
/// returns when it is complete, blocked, cancelled or cannot progress. When `execution` is
/// non-NULL it receives the final execution context (MessagePack; free with tasker_bytes_free).
///
/// Errors: NullParameter; TaskNotFound; Database. Handler callbacks and event subscribers run on
/// this thread. Threading: any thread.
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

/// Calls the handler named by the context's `step.handler` once, on this thread, as the step
/// foundation would (`process`, then `process_results`, panics caught, the results' size
/// limit) but WITHOUT the database: nothing is claimed, written or published, and a heartbeat
/// from inside the handler fails with StaleClaim. For testing handlers in isolation and for
/// measuring the callback round trip (`make bench`).
///
/// `context` is a MessagePack StepContext document, the one handlers receive (docs/ABI.md);
/// missing fields take defaults (0, "", nil, empty map). On success `outcome` receives a
/// MessagePack map (free with tasker_bytes_free): `{"status": "completed", "results": any}`
/// or `{"status": "failed", "error": {message, class, retryable, retry_after, details}}` — a
/// handler's failure (including HandlerNotFound, NoOutput, a panic, PayloadTooLarge) is an
/// outcome, not an error of this call.
///
/// Errors: NullParameter (client, context, outcome); InvalidArgument (malformed context).
/// Threading: any thread; the handler's callbacks run on this thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_call_handler(
    client: *const tasker_client,
    context: *const u8,
    context_len: usize,
    outcome: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        if outcome.is_null() {
            return Err(FfiError::null("outcome"));
        }
        let c = client_ref(client)?;
        let ctx: crate::StepContext =
            decode(slice(context, context_len, "context")?, "step context")?;
        let doc = match c.call_handler(&ctx) {
            Ok(results) => json!({"status": "completed", "results": results}),
            Err(e) => json!({"status": "failed", "error": e}),
        };
        write_doc(outcome, &doc)
    })
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
/// Errors: NullParameter; Database. Threading: the calling thread runs the callbacks.
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

/// Runs steps on this thread until `tasker_worker_stop` is called (from any thread); idle
/// periods wait for wakeups (PostgreSQL NOTIFY, local commits) or the poll interval. Writes the
/// number of steps run to `ran` (may be NULL). A stopped worker returns at once until
/// `tasker_worker_reset`.
///
/// Errors: NullParameter. Database errors are logged and retried, not returned.
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

/// Asks a running `tasker_worker_run` to return after its current step. NULL is accepted.
///
/// Threading: any thread (including a handler callback or a signal-safe context is NOT
/// guaranteed: call it from a normal thread).
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

fn outcome_json(o: &StepOutcome) -> Value {
    match o {
        StepOutcome::Completed {
            step_id,
            task_id,
            task_completed,
        } => {
            json!({"outcome": "completed", "step_id": step_id, "task_id": task_id, "task_completed": task_completed})
        }
        StepOutcome::Failed {
            step_id,
            task_id,
            will_retry,
            retry_delay_ms,
            task_blocked,
        } => json!({
            "outcome": "failed", "step_id": step_id, "task_id": task_id, "will_retry": will_retry,
            "retry_delay_ms": retry_delay_ms, "task_blocked": task_blocked
        }),
        StepOutcome::Discarded { step_id, task_id } => {
            json!({"outcome": "discarded", "step_id": step_id, "task_id": task_id})
        }
        StepOutcome::Stale { step_id, task_id } => {
            json!({"outcome": "stale", "step_id": step_id, "task_id": task_id})
        }
        StepOutcome::Skipped { step_id, reason } => {
            json!({"outcome": "skipped", "step_id": step_id, "reason": reason})
        }
    }
}

/// Host-queue delivery of a step: runs its whole lifecycle on this thread and enqueues what
/// became ready. `outcome` (may be NULL) receives a MessagePack map {outcome: "completed" |
/// "failed" | "skipped" | "discarded" | "stale", step_id, ...}. Stale, early or duplicate
/// deliveries are harmless ("skipped").
///
/// Errors: NullParameter; StepNotFound; Database. Threading: any thread; callbacks run here.
#[no_mangle]
pub unsafe extern "C" fn tasker_handle_step(
    client: *const tasker_client,
    step_id: i64,
    outcome: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let o = client_ref(client)?.handle_step(step_id)?;
        write_doc(outcome, &outcome_json(&o))
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

/// Subscribes to lifecycle events. `patterns`: NUL-terminated, comma-separated event names or
/// prefixes ending in '*' ("task.*,step.completed"); NULL or "" for every event. The callback
/// receives each event (MessagePack map, borrowed) after commit, on the thread whose call
/// caused it. `userdata_free` runs exactly once when the subscription is freed and no event is
/// being delivered to it. `*out` receives the subscription (free it to unsubscribe); it keeps
/// the client alive.
///
/// Errors: NullParameter (client, callback, out); InvalidArgument. Threading: any thread.
#[no_mangle]
pub unsafe extern "C" fn tasker_subscribe(
    client: *const tasker_client,
    patterns: *const c_char,
    callback: tasker_event_fn,
    userdata: *mut c_void,
    userdata_free: tasker_userdata_free_fn,
    out: *mut *mut tasker_subscription,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let c = client_ref(client)?;
        let cb = callback.ok_or_else(|| FfiError::null("callback"))?;
        if out.is_null() {
            return Err(FfiError::null("out"));
        }
        let patterns: Vec<String> = opt_cstr(patterns, "patterns")?
            .unwrap_or("")
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        let ud = UserData::new(userdata, userdata_free);
        let id = c.subscribe(
            patterns,
            Arc::new(move |e: &crate::Event| {
                if let Ok(bytes) = encode(e) {
                    // SAFETY: registered callback; the buffer outlives the call.
                    unsafe { cb(ud.get(), bytes.as_ptr(), bytes.len()) };
                }
            }),
        );
        let sub = Subscription {
            client: c.clone(),
            id,
        };
        *out = Box::into_raw(Box::new(sub)) as *mut tasker_subscription;
        Ok(())
    })
}

/// Unsubscribes and frees a subscription. NULL is accepted; must not be called twice.
///
/// Threading: any thread (not from inside this subscription's own callback).
#[no_mangle]
pub unsafe extern "C" fn tasker_subscription_free(subscription: *mut tasker_subscription) {
    if !subscription.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let s = Box::from_raw(subscription as *mut Subscription);
            s.client.unsubscribe(s.id);
        }));
    }
}

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
    boundary(error, || {
        if out.is_null() {
            return Err(FfiError::null("out"));
        }
        let v = client_ref(client)?.task_view(task_id)?;
        write_doc(out, &v)
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
    boundary(error, || {
        if out.is_null() {
            return Err(FfiError::null("out"));
        }
        let v = client_ref(client)?.execution_context(task_id)?;
        write_doc(out, &v)
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
    boundary(error, || {
        if out.is_null() {
            return Err(FfiError::null("out"));
        }
        let v = client_ref(client)?.health()?;
        write_doc(out, &v)
    })
}

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
            json!({})
        } else {
            decode(slice(results, results_len, "results")?, "results")?
        };
        let r = c.resolve_step(step_id, results)?;
        write(changed, r);
        Ok(())
    })
}

/// Retries a failed step (attempts reset to 0); a blocked task resumes.
///
/// Errors: NullParameter; StepNotFound; IllegalTransition (step not in error); Database.
/// Threading: any thread; enqueue callbacks run here.
#[no_mangle]
pub unsafe extern "C" fn tasker_retry_step(
    client: *const tasker_client,
    step_id: i64,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        client_ref(client)?.retry_step(step_id)?;
        Ok(())
    })
}

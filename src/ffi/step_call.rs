//! Step handlers implemented in C: the hooks' callbacks and the per-invocation
//! `tasker_step_call` they report through.

use super::*;
use crate::models::{document_policy, StepContext};
use crate::step_handler::{retry_allowed, OutputProcessor, StepError, StepHandler};
use crate::WeakClient;
use serde_json::Value;
use std::cell::{OnceCell, RefCell};
use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The `process` hook of a step handler. `context` (MessagePack, see docs/ABI.md) is borrowed for
/// the call. Report the outcome with `tasker_step_call_set_output` or `tasker_step_call_fail`
/// before returning; `call` is valid only during the callback. Runs on the thread that called
/// into libtasker (worker, run_task or handle_step).
pub type tasker_process_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        call: *mut tasker_step_call,
        context: *const u8,
        context_len: usize,
    ),
>;

/// The optional `process_results` hook: receives the context and the output of `process`
/// (both MessagePack, borrowed) and reports the step's results the same way as `process`.
pub type tasker_process_results_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        call: *mut tasker_step_call,
        context: *const u8,
        context_len: usize,
        output: *const u8,
        output_len: usize,
    ),
>;

/// The handle of one callback invocation; opaque to C. Valid only on the callback's thread
/// until the callback returns; afterwards every function refuses it (INVALID_STATE).
//
// The pointer C holds is not an address: it is a never-reused id (see `LiveCall`) that is
// looked up in this thread's registry of running callbacks before anything is dereferenced,
// so a handle kept after its callback returned (or used from another thread) is refused
// instead of touching a dead stack frame.
pub struct tasker_step_call {
    _opaque: [u8; 0],
}

/// The state of one callback invocation: the context it runs for (borrowed from the caller of
/// the callback, so it outlives the call) and the outcome it reports.
pub(crate) struct CallState<'a> {
    pub(crate) client: WeakClient,
    pub(crate) ctx: &'a StepContext,
    /// `step.name` as a C string, made on first request and lent until the callback returns.
    step_name: OnceCell<CString>,
    outcome: RefCell<Option<Result<Value, StepError>>>,
}

/// Ids start well above 4096 (Go's runtime rejects smaller "pointers" on its stacks) and far
/// below any heap; 8-aligned so they look like ordinary pointers to every wrapper.
const FIRST_CALL_ID: usize = 0x1000_0000;
static NEXT_CALL_ID: AtomicUsize = AtomicUsize::new(FIRST_CALL_ID);

thread_local! {
    /// The callbacks running on this thread (nested when a callback calls into libtasker).
    // The lifetime is erased: an entry lives exactly as long as the `LiveCall` borrowing it.
    static LIVE_CALLS: RefCell<Vec<(usize, *const CallState<'static>)>> = const { RefCell::new(Vec::new()) };
}

/// Registers a call for the duration of one callback; unregisters on drop (also on unwind).
struct LiveCall<'s, 'a> {
    id: usize,
    _state: &'s CallState<'a>,
}

impl<'s, 'a> LiveCall<'s, 'a> {
    fn register(state: &'s CallState<'a>) -> LiveCall<'s, 'a> {
        let mut id = NEXT_CALL_ID.fetch_add(8, Ordering::Relaxed);
        if id < FIRST_CALL_ID {
            // Wrapped around after 2^61 calls: skip the low range rather than hand out 0.
            id = FIRST_CALL_ID;
        }
        let erased = (state as *const CallState<'a>).cast::<CallState<'static>>();
        LIVE_CALLS.with(|l| l.borrow_mut().push((id, erased)));
        LiveCall { id, _state: state }
    }

    fn handle(&self) -> *mut tasker_step_call {
        // An opaque id, never dereferenced (see `tasker_step_call`).
        self.id as *mut tasker_step_call
    }
}

impl Drop for LiveCall<'_, '_> {
    fn drop(&mut self) {
        LIVE_CALLS.with(|l| l.borrow_mut().retain(|(id, _)| *id != self.id));
    }
}

/// The state behind a handle, if its callback is running on this thread. The reference must
/// not escape the exported function that asked for it (the callback may return afterwards).
pub(crate) fn live_call<'a>(call: *const tasker_step_call) -> FfiResult<&'a CallState<'a>> {
    if call.is_null() {
        return Err(FfiError::null("call"));
    }
    let id = call as usize;
    let state = LIVE_CALLS.with(|l| {
        l.borrow()
            .iter()
            .find(|(live, _)| *live == id)
            .map(|(_, state)| *state)
    });
    match state {
        // SAFETY: registered by a `LiveCall` that borrows the state and is still alive on this
        // thread (the callback is running further up this thread's stack).
        Some(state) => Ok(unsafe { &*state }),
        None => Err(FfiError::new(
            tasker_result::InvalidState,
            "the tasker_step_call is not live: it is valid only on the callback's thread until the callback returns",
        )),
    }
}

impl<'a> CallState<'a> {
    fn new(client: &WeakClient, ctx: &'a StepContext) -> CallState<'a> {
        CallState {
            client: client.clone(),
            ctx,
            step_name: OnceCell::new(),
            outcome: RefCell::new(None),
        }
    }

    /// The client the handler runs on (heartbeats, checkpoints).
    pub(crate) fn client(&self) -> FfiResult<crate::Client> {
        self.client
            .upgrade()
            .ok_or_else(|| FfiError::new(tasker_result::InvalidState, "the client was freed"))
    }

    fn take(self, hook: &str) -> Result<Value, StepError> {
        self.outcome.into_inner().unwrap_or_else(|| {
            Err(StepError {
                message: format!(
                    "the {hook} callback returned without calling tasker_step_call_set_output or tasker_step_call_fail"
                ),
                class: "NoOutput".into(),
                ..Default::default()
            })
        })
    }
}

pub(crate) struct FfiHandler {
    pub process: unsafe extern "C" fn(*mut c_void, *mut tasker_step_call, *const u8, usize),
    pub process_results: tasker_process_results_fn,
    pub client: WeakClient,
    pub userdata: UserData,
}

pub(crate) fn encode_or_fail(v: &impl serde::Serialize, what: &str) -> Result<Vec<u8>, StepError> {
    encode(v).map_err(|e| StepError {
        message: format!("cannot encode the {what}: {}", e.message),
        class: "EncodingError".into(),
        retryable: false,
        ..Default::default()
    })
}

impl StepHandler for FfiHandler {
    fn process(&self, ctx: &StepContext) -> Result<Value, StepError> {
        let bytes = encode_or_fail(ctx, "step context")?;
        let state = CallState::new(&self.client, ctx);
        {
            let live = LiveCall::register(&state);
            // SAFETY: registered callback; buffers outlive the call.
            unsafe {
                (self.process)(
                    self.userdata.ptr,
                    live.handle(),
                    bytes.as_ptr(),
                    bytes.len(),
                )
            };
        }
        state.take("process")
    }

    fn process_results(&self, ctx: &StepContext, output: Value) -> Result<Value, StepError> {
        let Some(cb) = self.process_results else {
            return OutputProcessor::default_results(output);
        };
        let ctx_bytes = encode_or_fail(ctx, "step context")?;
        let out_bytes = encode_or_fail(&output, "step output")?;
        let state = CallState::new(&self.client, ctx);
        {
            let live = LiveCall::register(&state);
            // SAFETY: as above.
            unsafe {
                cb(
                    self.userdata.ptr,
                    live.handle(),
                    ctx_bytes.as_ptr(),
                    ctx_bytes.len(),
                    out_bytes.as_ptr(),
                    out_bytes.len(),
                )
            };
        }
        state.take("process_results")
    }
}

/// Sets the step's output (MessagePack, copied). Call it from inside `process` (the output) or
/// `process_results` (the persisted results). Replaces an earlier output or failure.
///
/// Errors: NullParameter; InvalidState when `call` is not live (its callback returned, or another
/// thread); InvalidArgument when `data` is not a MessagePack document with string map keys
/// (nothing is recorded then, so the callback may still report a failure).
/// Threading: only on the thread running the callback, before it returns.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_set_output(
    call: *mut tasker_step_call,
    data: *const u8,
    len: usize,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || set_output(Format::MsgPack, call, data, len))
}

/// The body of `tasker_step_call_set_output` and its JSON variant.
pub(crate) unsafe fn set_output(
    format: Format,
    call: *mut tasker_step_call,
    data: *const u8,
    len: usize,
) -> FfiResult<()> {
    let call = live_call(call)?;
    let value: Value = format.decode(slice(data, len, "data")?, "step output")?;
    document_policy::check("output", &value)?;
    *call.outcome.borrow_mut() = Some(Ok(value));
    Ok(())
}

/// Reports a failed attempt. `message` and `error_class` are NUL-terminated UTF-8 (NULL class:
/// "StepError"); `retryable` false makes the failure permanent; `retry_after_seconds` < 0 means
/// none, otherwise the delay before the next attempt (capped by the backoff maximum);
/// `details` is an optional MessagePack document (NULL/0 for none). All inputs are copied.
///
/// Errors: NullParameter (call or message); InvalidState when `call` is not live;
/// InvalidArgument (bad UTF-8 or details).
/// Threading: only on the thread running the callback, before it returns.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_fail(
    call: *mut tasker_step_call,
    message: *const c_char,
    error_class: *const c_char,
    retryable: bool,
    retry_after_seconds: f64,
    details: *const u8,
    details_len: usize,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let failure = Failure {
            message,
            error_class,
            retryable,
            retry_after_seconds,
        };
        fail(Format::MsgPack, call, failure, details, details_len)
    })
}

/// The scalar arguments of `tasker_step_call_fail` and its JSON variant.
pub(crate) struct Failure {
    pub message: *const c_char,
    pub error_class: *const c_char,
    pub retryable: bool,
    pub retry_after_seconds: f64,
}

/// The body of `tasker_step_call_fail` and its JSON variant.
pub(crate) unsafe fn fail(
    format: Format,
    call: *mut tasker_step_call,
    f: Failure,
    details: *const u8,
    details_len: usize,
) -> FfiResult<()> {
    let call = live_call(call)?;
    let message = cstr(f.message, "message")?.to_string();
    let class = opt_cstr(f.error_class, "error_class")?
        .unwrap_or("StepError")
        .to_string();
    let details: Value = if details_len == 0 {
        Value::Null
    } else {
        format.decode(slice(details, details_len, "details")?, "error details")?
    };
    document_policy::check("details", &details)?;
    let retry_after = (f.retry_after_seconds.is_finite() && f.retry_after_seconds >= 0.0)
        .then_some(f.retry_after_seconds);
    *call.outcome.borrow_mut() = Some(Err(StepError {
        message,
        class,
        retryable: f.retryable,
        retry_after,
        details,
    }));
    Ok(())
}

/// Extends the lease of the running step (for long handlers). Writes the new lease expiry
/// (epoch milliseconds) to `expires_at_ms` when non-NULL.
///
/// Errors: NullParameter; StaleClaim when the step was taken over (stop working: the outcome
/// will be refused); InvalidState when `call` is not live or the client is gone; Database.
/// Threading: only on the thread running the callback, before it returns.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_heartbeat(
    call: *mut tasker_step_call,
    expires_at_ms: *mut i64,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let call = live_call(call)?;
        let at = call
            .client()?
            .heartbeat(call.ctx.step.step_id, &call.ctx.claim_token)?;
        write(expires_at_ms, at);
        Ok(())
    })
}

/// Whether the running step should stop, and why: writes to `reason` (when non-NULL) 0 while it
/// may go on, 1 when its task was cancelled (the outcome will be discarded), 2 when the attempt
/// is past its timeout (the outcome will be recorded as a `Timeout` failure), 3 when its claim
/// was lost (taken over after an expired lease; the outcome will be dropped). Call it between
/// units of work of a long handler, next to `tasker_step_call_heartbeat` (whose StaleClaim
/// error also means "stop": cancelled or taken over). Costs one read of the step row by primary
/// key; writes nothing and does not extend the lease.
///
/// Errors: NullParameter for a NULL `call`; InvalidState when `call` is not live or the client
/// is gone; Database. Threading: only on the thread running the callback, before it returns.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_is_cancelled(
    call: *mut tasker_step_call,
    reason: *mut i32,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || {
        let call = live_call(call)?;
        let r = call
            .client()?
            .stop_reason(call.ctx.step.step_id, &call.ctx.claim_token)?;
        write(reason, r.map_or(0, |r| r as i32));
        Ok(())
    })
}

/// The id of the step this call runs. Returns 0 for NULL and for a call that is not live (used
/// after its callback returned, or from another thread).
///
/// Threading: only on the thread running the callback.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_step_id(call: *const tasker_step_call) -> i64 {
    live_call(call).map_or(0, |c| c.ctx.step.step_id)
}

// ---- accessors: what a callback needs from its context, without decoding the document ----
//
// Each checks the handle first (NULL: NullParameter; not live: InvalidState), then its
// out-parameter (NULL: NullParameter), and writes it only on success.

/// Runs an accessor: the live call's value for `out`.
unsafe fn read_call<T>(
    call: *const tasker_step_call,
    out: *mut T,
    out_name: &str,
    error: *mut *mut tasker_error,
    read: impl FnOnce(&CallState) -> FfiResult<T>,
) -> tasker_result {
    boundary(error, || {
        let state = live_call(call)?;
        if out.is_null() {
            return Err(FfiError::null(out_name));
        }
        let v = read(state)?;
        *out = v;
        Ok(())
    })
}

/// Runs a JSON accessor: the live call's document `pick` selects, as JSON text in `out`.
pub(crate) unsafe fn read_call_json<T: serde::Serialize>(
    call: *const tasker_step_call,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
    pick: impl for<'c> FnOnce(&'c StepContext) -> FfiResult<&'c T>,
) -> tasker_result {
    boundary(error, || {
        let state = live_call(call)?;
        if out.is_null() {
            return Err(FfiError::null("out"));
        }
        Format::Json.write(out, pick(state.ctx)?)
    })
}

/// Writes the id of the task this step belongs to to `task_id`.
///
/// Errors: NullParameter (call, task_id); InvalidState when `call` is not live (its callback
/// returned, or another thread). Threading: only on the thread running the callback.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_task_id(
    call: *const tasker_step_call,
    task_id: *mut i64,
    error: *mut *mut tasker_error,
) -> tasker_result {
    read_call(call, task_id, "task_id", error, |c| Ok(c.ctx.task.task_id))
}

/// Writes the step's name (its name in the template, NUL-terminated UTF-8) to `name`.
///
/// Ownership: the string is BORROWED from the call: valid until the callback returns, never
/// freed by the caller; copy it to keep it.
/// Errors: NullParameter (call, name); InvalidState when `call` is not live.
/// Threading: only on the thread running the callback.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_step_name(
    call: *const tasker_step_call,
    name: *mut *const c_char,
    error: *mut *mut tasker_error,
) -> tasker_result {
    read_call(call, name, "name", error, |c| {
        if let Some(s) = c.step_name.get() {
            return Ok(s.as_ptr());
        }
        // The document policy refuses NUL in names, so this fails only on a bug.
        let s = CString::new(c.ctx.step.name.as_str())
            .map_err(|e| FfiError::new(tasker_result::Internal, e.to_string()))?;
        Ok(c.step_name.get_or_init(|| s).as_ptr())
    })
}

/// Writes the number of this attempt to `attempt` (1 for the first; it counts every attempt
/// of the step, including ones whose lease expired).
///
/// Errors: NullParameter (call, attempt); InvalidState when `call` is not live.
/// Threading: only on the thread running the callback.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_attempt(
    call: *const tasker_step_call,
    attempt: *mut i64,
    error: *mut *mut tasker_error,
) -> tasker_result {
    read_call(call, attempt, "attempt", error, |c| Ok(c.ctx.step.attempt))
}

/// Writes the step's retry limit to `retry_limit`: the most attempts it gets, the first one
/// included (the template's `default_retry_limit`).
///
/// Errors: NullParameter (call, retry_limit); InvalidState when `call` is not live.
/// Threading: only on the thread running the callback.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_retry_limit(
    call: *const tasker_step_call,
    retry_limit: *mut i64,
    error: *mut *mut tasker_error,
) -> tasker_result {
    read_call(call, retry_limit, "retry_limit", error, |c| {
        Ok(c.ctx.step.retry_limit)
    })
}

/// Writes to `last` whether a failure reported now would not be retried: the step is not
/// retryable, or this attempt reached its retry limit. (The same rule libtasker applies when
/// the failure is recorded; a failure with `retryable = false` is final either way.)
///
/// Errors: NullParameter (call, last); InvalidState when `call` is not live.
/// Threading: only on the thread running the callback.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_is_last_attempt(
    call: *const tasker_step_call,
    last: *mut bool,
    error: *mut *mut tasker_error,
) -> tasker_result {
    read_call(call, last, "last", error, |c| {
        let s = &c.ctx.step;
        Ok(!retry_allowed(s.retryable, false, s.attempt, s.retry_limit))
    })
}

/// Writes the whole step context (the document `process` receives as MessagePack: task, step,
/// dependency_results, claim_token; docs/ABI.md) to `out` as JSON text.
///
/// Ownership: `out` is the caller's; free it with tasker_bytes_free. The text is followed by a
/// NUL byte that `len` does not count, so `(const char *)out.data` is a C string.
/// Errors: NullParameter (call, out); InvalidState when `call` is not live.
/// Threading: only on the thread running the callback.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_context_json(
    call: *const tasker_step_call,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    read_call_json(call, out, error, |ctx| Ok(ctx))
}

/// Writes the task's context (the `context` of the task request) to `out` as JSON text.
///
/// Ownership, errors and threading: as tasker_step_call_context_json.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_task_context_json(
    call: *const tasker_step_call,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    read_call_json(call, out, error, |ctx| Ok(&ctx.task.context))
}

/// Writes the step's inputs (the request's `step_inputs` for this step; `{}` when none) to
/// `out` as JSON text.
///
/// Ownership, errors and threading: as tasker_step_call_context_json.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_inputs_json(
    call: *const tasker_step_call,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    read_call_json(call, out, error, |ctx| Ok(&ctx.step.inputs))
}

/// Writes the results of the direct dependency `name` (a step this one names in
/// `depends_on_step(s)`; `{"bypassed": true}` for a bypassed one) to `out` as JSON text.
///
/// Ownership: `name` (NUL-terminated UTF-8) is borrowed for the call; `out` as
/// tasker_step_call_context_json.
/// Errors: NullParameter (call, name, out); InvalidState when `call` is not live;
/// InvalidArgument (name not UTF-8); StepNotFound when `name` is not a direct dependency of
/// this step (the message lists the ones it has).
/// Threading: only on the thread running the callback.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_dependency_result_json(
    call: *const tasker_step_call,
    name: *const c_char,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    read_call_json(call, out, error, |ctx| {
        let name = cstr(name, "name")?;
        let deps = &ctx.dependency_results;
        deps.get(name).ok_or_else(|| {
            let known: Vec<&str> = deps.keys().map(String::as_str).collect();
            FfiError::new(
                tasker_result::StepNotFound,
                format!(
                    "step {:?} has no direct dependency named {name:?} (its dependencies: [{}])",
                    ctx.step.name,
                    known.join(", ")
                ),
            )
        })
    })
}

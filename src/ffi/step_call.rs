//! Step handlers implemented in C: the hooks' callbacks and the per-invocation
//! `tasker_step_call` they report through.

use super::*;
use crate::models::{document_policy, StepContext};
use crate::step_handler::{OutputProcessor, StepError, StepHandler};
use crate::WeakClient;
use serde_json::Value;
use std::cell::RefCell;
use std::ffi::{c_char, c_void};
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

/// The state of one callback invocation.
struct CallState {
    client: WeakClient,
    step_id: i64,
    claim_token: String,
    outcome: RefCell<Option<Result<Value, StepError>>>,
}

/// Ids start well above 4096 (Go's runtime rejects smaller "pointers" on its stacks) and far
/// below any heap; 8-aligned so they look like ordinary pointers to every wrapper.
const FIRST_CALL_ID: usize = 0x1000_0000;
static NEXT_CALL_ID: AtomicUsize = AtomicUsize::new(FIRST_CALL_ID);

thread_local! {
    /// The callbacks running on this thread (nested when a callback calls into libtasker).
    static LIVE_CALLS: RefCell<Vec<(usize, *const CallState)>> = const { RefCell::new(Vec::new()) };
}

/// Registers a call for the duration of one callback; unregisters on drop (also on unwind).
struct LiveCall<'a> {
    id: usize,
    _state: &'a CallState,
}

impl<'a> LiveCall<'a> {
    fn register(state: &'a CallState) -> LiveCall<'a> {
        let mut id = NEXT_CALL_ID.fetch_add(8, Ordering::Relaxed);
        if id < FIRST_CALL_ID {
            // Wrapped around after 2^61 calls: skip the low range rather than hand out 0.
            id = FIRST_CALL_ID;
        }
        LIVE_CALLS.with(|l| l.borrow_mut().push((id, state as *const CallState)));
        LiveCall { id, _state: state }
    }

    fn handle(&self) -> *mut tasker_step_call {
        // An opaque id, never dereferenced (see `tasker_step_call`).
        self.id as *mut tasker_step_call
    }
}

impl Drop for LiveCall<'_> {
    fn drop(&mut self) {
        LIVE_CALLS.with(|l| l.borrow_mut().retain(|(id, _)| *id != self.id));
    }
}

/// The state behind a handle, if its callback is running on this thread.
fn live_call<'a>(call: *const tasker_step_call) -> FfiResult<&'a CallState> {
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

impl CallState {
    fn new(client: &WeakClient, ctx: &StepContext) -> CallState {
        CallState {
            client: client.clone(),
            step_id: ctx.step.step_id,
            claim_token: ctx.claim_token.clone(),
            outcome: RefCell::new(None),
        }
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
    boundary(error, || {
        let call = live_call(call)?;
        let value: Value = decode(slice(data, len, "data")?, "step output")?;
        document_policy::check("output", &value)?;
        *call.outcome.borrow_mut() = Some(Ok(value));
        Ok(())
    })
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
        let call = live_call(call)?;
        let message = cstr(message, "message")?.to_string();
        let class = opt_cstr(error_class, "error_class")?
            .unwrap_or("StepError")
            .to_string();
        let details: Value = if details_len == 0 {
            Value::Null
        } else {
            decode(slice(details, details_len, "details")?, "error details")?
        };
        document_policy::check("details", &details)?;
        let retry_after = (retry_after_seconds.is_finite() && retry_after_seconds >= 0.0)
            .then_some(retry_after_seconds);
        *call.outcome.borrow_mut() = Some(Err(StepError {
            message,
            class,
            retryable,
            retry_after,
            details,
        }));
        Ok(())
    })
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
        let client = call
            .client
            .upgrade()
            .ok_or_else(|| FfiError::new(tasker_result::InvalidState, "the client was freed"))?;
        let at = client.heartbeat(call.step_id, &call.claim_token)?;
        write(expires_at_ms, at);
        Ok(())
    })
}

/// The id of the step this call runs. Returns 0 for NULL and for a call that is not live (used
/// after its callback returned, or from another thread).
///
/// Threading: only on the thread running the callback.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_step_id(call: *const tasker_step_call) -> i64 {
    live_call(call).map_or(0, |c| c.step_id)
}

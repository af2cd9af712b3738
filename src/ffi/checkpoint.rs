//! Step checkpoints from C handlers: record the running step's resume point, read the one an
//! earlier attempt recorded.

use super::*;
use serde_json::Value;
use std::ffi::c_char;

/// Records `data` (one MessagePack document, copied) as the running step's checkpoint (a
/// cursor, the items processed, a bounded partial result), replacing its previous one. A retry
/// of the step receives the last checkpoint in its context (`checkpoint`; null when none) and
/// can resume from it. Written at once, fenced by the claim like the step's outcome; does not
/// extend the lease (tasker_step_call_heartbeat does).
///
/// Ownership: `data` is borrowed for the call.
/// Errors: NullParameter; InvalidState when `call` is not live or the client is gone;
/// InvalidArgument when `data` is not one MessagePack document within the document policy;
/// PayloadTooLarge over 64 KiB of JSON (or the client's max_payload_bytes when smaller);
/// StaleClaim when the step was taken over (stop working: the outcome will be refused);
/// Database. Nothing is written on error.
/// Threading: only on the thread running the callback, before it returns.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_checkpoint(
    call: *mut tasker_step_call,
    data: *const u8,
    len: usize,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || record(Format::MsgPack, call, data, len))
}

/// `tasker_step_call_checkpoint` with the checkpoint as JSON text (`len` bytes, no NUL needed),
/// e.g. `{"cursor": 3, "sum": 6}`.
///
/// Ownership, errors and threading: as tasker_step_call_checkpoint (InvalidArgument when `json`
/// is not one JSON document within the document policy).
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_checkpoint_json(
    call: *mut tasker_step_call,
    json: *const c_char,
    len: usize,
    error: *mut *mut tasker_error,
) -> tasker_result {
    boundary(error, || record(Format::Json, call, json.cast(), len))
}

/// Writes the checkpoint an earlier attempt of this step recorded (the context's
/// `checkpoint`) to `out` as JSON text: `null` when none was recorded.
///
/// Ownership: `out` is the caller's; free it with tasker_bytes_free (NUL-terminated as
/// tasker_step_call_context_json).
/// Errors: NullParameter (call, out); InvalidState when `call` is not live.
/// Threading: only on the thread running the callback.
#[no_mangle]
pub unsafe extern "C" fn tasker_step_call_last_checkpoint_json(
    call: *const tasker_step_call,
    out: *mut tasker_bytes,
    error: *mut *mut tasker_error,
) -> tasker_result {
    read_call_json(call, out, error, |ctx| Ok(&ctx.checkpoint))
}

/// The body of `tasker_step_call_checkpoint` and its JSON variant.
unsafe fn record(
    format: Format,
    call: *mut tasker_step_call,
    data: *const u8,
    len: usize,
) -> FfiResult<()> {
    let call = live_call(call)?;
    let value: Value = format.decode(slice(data, len, "data")?, "checkpoint")?;
    let ctx = call.ctx;
    call.client()?
        .checkpoint(ctx.step.step_id, &ctx.claim_token, &value)?;
    Ok(())
}

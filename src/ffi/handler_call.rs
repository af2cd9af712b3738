//! `tasker_call_handler`: a registered handler's hooks run once, without the database.

use super::*;
use crate::models::{document_policy, HandlerCall};

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
        // The step context wraps its documents (task.context, step.inputs, ...) two levels deep.
        let doc = serde_json::to_value(&ctx).map_err(|e| FfiError::invalid(e.to_string()))?;
        document_policy::check_depth("step context", &doc, document_policy::MAX_DEPTH + 2)?;
        write_doc(outcome, &HandlerCall::from(c.call_handler(&ctx)))
    })
}

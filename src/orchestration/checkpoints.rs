//! Step checkpoints: a running step records where it got to (a cursor, the items processed, a
//! bounded partial result); a retry of the step receives the last one in its context
//! (`StepContext::checkpoint`) and resumes from it. Only the last checkpoint is kept.

use super::Client;
use crate::models::document_policy;
use crate::step_handler::serialized_size;
use crate::{Error, Result};
use serde_json::Value;

/// The largest checkpoint, as compact JSON: a checkpoint is a resume point, not a result
/// store, and it is rewritten often while the step runs. A client's `max_payload_bytes` below
/// this bounds checkpoints too.
pub const MAX_CHECKPOINT_BYTES: usize = 64 * 1024;

/// Checks and stores a checkpoint for the attempt holding `claim_token`.
pub(crate) fn record(
    client: &Client,
    step_id: i64,
    claim_token: &str,
    checkpoint: &Value,
) -> Result<()> {
    document_policy::check("checkpoint", checkpoint)?;
    let limit = MAX_CHECKPOINT_BYTES.min(client.inner.config.max_payload_bytes);
    let size = serialized_size(checkpoint);
    if size > limit {
        return Err(Error::PayloadTooLarge {
            what: "checkpoint",
            size,
            limit,
        });
    }
    let store = &client.inner.store;
    client.block(store.record_checkpoint(step_id, claim_token, checkpoint, client.now()))?;
    tracing::debug!(step_id, size, "checkpoint recorded");
    Ok(())
}

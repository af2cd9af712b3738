//! The store's upkeep of the rate-limit start records (SQL in backend/claim_keyed.rs;
//! docs/FLOW_CONTROL.md "Rate limits").

use super::Store;
use crate::Result;

impl Store {
    /// Deletes the rate-limit starts recorded before `before`, of every key.
    pub async fn prune_rate_starts(&self, before: i64) -> Result<u64> {
        dispatch_resending!(self, b => b.prune_rate_starts(before).await)
    }
}

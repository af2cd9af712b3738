//! `RateStarts`: the workers' upkeep of the rate-limit start records. A claim keeps only each
//! rate-limited key's newest N starts, but only for keys it still claims; once an hour per
//! client the starts older than the longest window a rate limit may have (24 h) are deleted,
//! so a key no longer used does not keep its rows for ever.

use super::Client;
use crate::registry::flow_control::MAX_RATE_PER_MS;
use crate::Result;

/// How often one client prunes (milliseconds).
const PRUNE_INTERVAL_MS: u64 = 3_600_000;

pub(crate) struct RateStarts<'a> {
    client: &'a Client,
}

impl<'a> RateStarts<'a> {
    pub fn new(client: &'a Client) -> RateStarts<'a> {
        RateStarts { client }
    }

    /// Prunes if this client's turn came. Returns how many starts it deleted.
    pub fn prune_if_due(&self) -> Result<u64> {
        let c = self.client;
        let now = c.now();
        if !super::periodic::take_turn(&c.inner.last_rate_prune, now, PRUNE_INTERVAL_MS) {
            return Ok(0);
        }
        // No start older than the longest window can count against any limit.
        let window = i64::try_from(MAX_RATE_PER_MS).unwrap_or(i64::MAX);
        let n = c.block(c.inner.store.prune_rate_starts(now.saturating_sub(window)))?;
        if n > 0 {
            tracing::debug!(deleted = n, "pruned old rate-limit starts");
        }
        Ok(n)
    }
}

//! `Retention`: the workers purge old finished tasks by themselves (`Config::retention`), at
//! most once per `interval_ms` per client, with the purge's bounded batches (each its own
//! transaction). One pass looks at the next `RETENTION_WINDOW` task ids only (a primary-key
//! range), so its cost does not grow with the table; the windows wrap around after the newest
//! task, so every task is looked at again about every (tasks / window) intervals.

use super::Client;
use crate::config::RetentionConfig;
use crate::database::PurgeCutoffs;
use crate::models::DEFAULT_PURGE_BATCH;
use crate::Result;
use std::sync::atomic::Ordering;

/// How many task ids one pass looks at.
const RETENTION_WINDOW: i64 = 10_000;

pub(crate) struct Retention<'a> {
    client: &'a Client,
}

impl<'a> Retention<'a> {
    pub fn new(client: &'a Client) -> Retention<'a> {
        Retention { client }
    }

    /// Applies the configured retention if this client's turn came (`interval_ms`). Returns
    /// how many tasks it purged.
    pub fn apply_if_due(&self) -> Result<u64> {
        let inner = &self.client.inner;
        let Some(r) = inner.config.retention else {
            return Ok(0);
        };
        if !super::periodic::take_turn(&inner.last_retention_run, self.client.now(), r.interval_ms)
        {
            return Ok(0);
        }
        self.apply(&r)
    }

    /// One pass of the configured retention (none configured: nothing). Returns how many tasks
    /// it purged.
    pub fn apply_configured(&self) -> Result<u64> {
        match self.client.inner.config.retention {
            Some(r) => self.apply(&r),
            None => Ok(0),
        }
    }

    /// Purges the old finished tasks of the next window of task ids.
    fn apply(&self, r: &RetentionConfig) -> Result<u64> {
        let c = self.client;
        let inner = &c.inner;
        let now = c.now();
        // A state without a retention keeps its tasks: nothing finished before i64::MIN.
        let before = |ms: Option<u64>| {
            ms.map_or(i64::MIN, |ms| {
                now.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX))
            })
        };
        let cut = PurgeCutoffs {
            complete_before: before(r.complete_ms),
            cancelled_before: before(r.cancelled_ms),
        };
        if r.complete_ms.is_none() && r.cancelled_ms.is_none() {
            return Ok(0);
        }
        let from = inner.retention_cursor.load(Ordering::Relaxed);
        let upto = from.saturating_add(RETENTION_WINDOW);
        let (mut after, mut purged) = (from, 0u64);
        loop {
            let batch = c.block(inner.store.purge_batch(
                (after, upto),
                cut,
                None,
                DEFAULT_PURGE_BATCH,
                false,
            ))?;
            if batch.tasks == 0 {
                break;
            }
            purged = purged.saturating_add(batch.tasks);
            after = batch.last_task_id;
        }
        let newest = c.block(inner.store.newest_task_id())?;
        let next = if upto >= newest { 0 } else { upto };
        inner.retention_cursor.store(next, Ordering::Relaxed);
        if purged > 0 {
            tracing::info!(tasks = purged, "retention purged finished tasks");
        }
        Ok(purged)
    }
}

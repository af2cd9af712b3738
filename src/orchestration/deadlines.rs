//! `Deadlines`: task deadlines. Past its deadline an unfinished task fails (`error`, class
//! `Deadline`) and its unfinished steps are cancelled. Enforced by the workers' maintenance loop
//! (a bounded, index-backed scan at most once per `lease_check_interval_ms`, never on the claim
//! path) and by an inline run of the task itself.

use super::Client;
use crate::Result;

/// How many due deadlines one pass checks.
const DEADLINE_BATCH: i64 = 100;

pub(crate) struct Deadlines<'a> {
    client: &'a Client,
}

impl<'a> Deadlines<'a> {
    pub fn new(client: &'a Client) -> Deadlines<'a> {
        Deadlines { client }
    }

    /// Checks the due deadlines, at most once per `lease_check_interval_ms` in this client.
    /// Returns how many tasks failed.
    pub fn enforce_if_due(&self) -> Result<usize> {
        let c = self.client;
        let inner = &c.inner;
        let now = c.now();
        if !super::periodic::take_turn(
            &inner.last_deadline_check,
            now,
            inner.config.lease_check_interval_ms,
        ) {
            return Ok(0);
        }
        self.enforce_due()
    }

    /// Checks up to `DEADLINE_BATCH` due deadlines now. Returns how many tasks failed.
    pub fn enforce_due(&self) -> Result<usize> {
        let c = self.client;
        let due = c.block(c.inner.store.due_deadlines(c.now(), DEADLINE_BATCH))?;
        let mut failed = 0;
        for task_id in due {
            failed += usize::from(self.enforce(task_id)?);
        }
        if failed > 0 {
            tracing::info!(count = failed, "tasks past their deadline failed");
        }
        Ok(failed)
    }

    /// The task's deadline while not checked yet (one read by primary key).
    pub fn pending(&self, task_id: i64) -> Result<Option<i64>> {
        let c = self.client;
        c.block(c.inner.store.pending_deadline(task_id))
    }

    /// Fails the task if it is unfinished and past its deadline; true when it failed.
    pub fn enforce(&self, task_id: i64) -> Result<bool> {
        let c = self.client;
        let out = c.block(c.inner.store.enforce_deadline(task_id, c.now()))?;
        c.publish(&out.recorded);
        Ok(out.changed)
    }
}

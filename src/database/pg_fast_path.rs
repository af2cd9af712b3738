//! PostgreSQL's fast paths: what the concept files try before their transaction, under the
//! same names as SQLite's (`sqlite_raw_create.rs`, `sqlite_raw_claim.rs`,
//! `sqlite_raw_complete.rs`). `Ok(None)` means not taken, nothing written: the caller's
//! transaction does it (and every case it knows).

use super::complete_autocommit::CompletionRow;
use super::*;

impl Backend {
    /// The task, its steps, edges and first transitions as one statement in autocommit
    /// (`create_autocommit.rs`).
    pub(super) async fn create_task_fast(
        &self,
        t: &NewTask,
        now: i64,
    ) -> Result<Option<(CreatedTask, Vec<Recorded>)>> {
        self.create_task_autocommit(t, now).await
    }

    /// No fast path for an inline run's first claim: the claim is one statement already.
    pub(super) async fn claim_loaded_task_fast(
        &self,
        _task_id: i64,
        _limit: i64,
        _now: i64,
    ) -> Result<Option<(Vec<ClaimedStep>, Vec<Recorded>)>> {
        Ok(None)
    }

    /// Complete-and-claim as one call of the complete-and-claim function
    /// (`complete_and_claim_fn.rs`), when it claims (`limit` > 0). What the function leaves
    /// (stale claim, task not in progress) is `None`.
    pub(super) async fn complete_step_and_claim_fast(
        &self,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        results: &Value,
        now: i64,
        limit: i64,
    ) -> Result<Option<CompletedAndClaimed>> {
        if limit <= 0 {
            return Ok(None);
        }
        let row = CompletionRow {
            id: step_id,
            token: claim_token,
            task: task_id,
            results,
        };
        let (mut settled, next, rec) = self
            .complete_and_claim_fn(std::slice::from_ref(&row), now, task_id, limit)
            .await?;
        Ok(match settled.pop() {
            Some(Some(one)) => Some((one, next, rec)),
            _ => None,
        })
    }
}

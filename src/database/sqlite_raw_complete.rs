//! Complete-and-claim — the transaction of every step of an inline run after the first — on
//! the SQLite writer connection's raw handle (`sqlite_raw_tx.rs`). The same statements as the
//! sqlx path (`count_one_sql`, `complete_one_sql`, `task_hop_sql`, the claim's), the same
//! state-machine checks, fencing and records. A task not in progress (cancelled: the discard
//! path; blocked, pending) is handed back, rolled back, to the sqlx transaction.

use super::complete_one::{complete_one_sql, completed_record};
use super::sqlite_raw_claim::claim_task;
use super::sqlite_raw_tx::drive_task_raw;
use super::*;
use crate::database::sqlite_raw::{RawArg, RawTx};
use crate::state_machine::Entity;

impl Backend {
    /// SQLite's fast path of [`Backend::complete_step_and_claim`] (each dialect defines it;
    /// PostgreSQL's is in `pg_fast_path.rs`): on the raw handle. `Ok(None)`: not taken here,
    /// nothing written (see `raw_write`); the caller runs the sqlx transaction. A stale claim
    /// is `StaleClaim`, rolled back, as on the sqlx path.
    pub(super) async fn complete_step_and_claim_fast(
        &self,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        results: &Value,
        now: i64,
        limit: i64,
    ) -> Result<Option<CompletedAndClaimed>> {
        let results = serde_json::to_string(results)?;
        let lease_ms = self.claim_lease_ms;
        self.raw_write(|tx| {
            complete_and_claim(
                tx,
                lease_ms,
                task_id,
                step_id,
                claim_token,
                results,
                now,
                limit,
            )
        })
        .await
    }
}

/// The transaction's body (NOTIFY is none on SQLite).
fn complete_and_claim(
    tx: &mut RawTx<'_>,
    lease_ms: i64,
    task_id: i64,
    step_id: i64,
    claim_token: &str,
    results: String,
    now: i64,
    limit: i64,
) -> Result<Option<CompletedAndClaimed>> {
    let rows = tx.exec(
        count_one_sql(true),
        &[RawArg::Int(task_id), RawArg::Int(now)],
    )?;
    let row = rows.first().ok_or(Error::TaskNotFound(task_id))?;
    let unfinished = row.at(1)?.int()?;
    let task_state = state_of(&row.at(2)?.text()?)?;
    if task_state != State::InProgress {
        return Ok(None);
    }
    ensure_allowed(Entity::Step, State::InProgress, State::Complete)?;
    let rows = tx.exec(
        complete_one_sql(),
        &[
            RawArg::Int(step_id),
            RawArg::Text(claim_token.to_string()),
            RawArg::Text(results),
            RawArg::Int(now),
        ],
    )?;
    let mut out = StepSettled::default();
    let mut done = None;
    for r in &rows {
        let kind = r.get("kind")?.int()?;
        let n = r.get("n")?.int()?;
        let at = r.get("at")?.opt_int()?;
        if kind == 0 {
            done = Some((n, at, r.get("name")?.opt_text()?.unwrap_or_default()));
        } else if n == 0 && at.is_some() {
            out.newly_ready.push(r.get("workflow_step_id")?.int()?);
        }
    }
    let (attempts, started, name) = done.ok_or(Error::StaleClaim(step_id))?;
    out.recorded.push(completed_record(
        task_id, step_id, name, attempts, started, now,
    ));
    if unfinished == 0 {
        drive_task_raw(
            tx,
            &mut out.recorded,
            task_id,
            task_state,
            State::Complete,
            now,
        )?;
        out.task_finished = true;
    }
    let mut rec = Vec::new();
    let mut next = Vec::new();
    if !out.task_finished && limit > 0 {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let (claimed, loaded) = claim_task(tx, &mut rec, task_id, limit, now, &token, lease_ms)?;
        next = claimed.into_iter().zip(loaded).collect();
    }
    Ok(Some((out, next, rec)))
}

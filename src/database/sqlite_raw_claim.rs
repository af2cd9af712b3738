//! An inline run's first claim (`claim_loaded` of one task) on the SQLite writer connection's
//! raw handle (`sqlite_raw_tx.rs`): the task read (the write transaction is its lock), the
//! claim of its unlimited ready steps with their run contexts, and the start of a pending
//! task — `Backend::claim_scoped` for one task, with the same statements (`LOCK_TASK`,
//! `candidates_sql`, `sqlite_claim_call`, `task_hop_sql`). Steps under a concurrency limit
//! follow on the sqlx path (`claim_keyed_after`), as after the sqlx claim.

use super::claim::{finish_claim, sqlite_claim_call, ClaimedColumns};
use super::claim_sql::candidates_sql;
use super::sqlite_raw_tx::{drive_task_raw, raw_args};
use super::*;
use crate::database::sqlite_raw::{RawArg, RawRow, RawTx};
use crate::state_machine::Entity;
use std::collections::HashMap;

impl Backend {
    /// SQLite's fast path of [`Backend::claim_loaded`] for one task (each dialect defines it;
    /// PostgreSQL's is in `pg_fast_path.rs`): on the raw handle. `Ok(None)`: not taken here
    /// (see `raw_write`), the caller runs the sqlx claim.
    pub(super) async fn claim_loaded_task_fast(
        &self,
        task_id: i64,
        limit: i64,
        now: i64,
    ) -> Result<Option<(Vec<ClaimedStep>, Vec<Recorded>)>> {
        let lease_ms = self.claim_lease_ms;
        let unlimited = self
            .raw_write(|tx| {
                let mut rec = Vec::new();
                let (claimed, loaded) =
                    claim_task_started(tx, &mut rec, task_id, limit, now, lease_ms)?;
                Ok(Some((claimed, loaded, rec)))
            })
            .await?;
        let Some(unlimited) = unlimited else {
            return Ok(None);
        };
        let (claimed, loaded, rec) = self
            .claim_keyed_after(unlimited, ClaimScope::Task(task_id), limit, now, true)
            .await?;
        Ok(Some((claimed.into_iter().zip(loaded).collect(), rec)))
    }
}

/// `Backend::claim_scoped` of one task: nothing unless the task is pending or in progress; a
/// pending task with a claimed step is started (its events first).
fn claim_task_started(
    tx: &mut RawTx<'_>,
    rec: &mut Vec<Recorded>,
    task_id: i64,
    limit: i64,
    now: i64,
    lease_ms: i64,
) -> Result<(Vec<Claimed>, Vec<LoadedStep>)> {
    let rows = tx.exec(sql::LOCK_TASK, &[RawArg::Int(task_id)])?;
    let Some(row) = rows.first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let state = state_of(&row.at(0)?.text()?)?;
    if !matches!(state, State::Pending | State::InProgress) {
        return Ok((Vec::new(), Vec::new()));
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    let mut step_rec = Vec::new();
    let (mut claimed, loaded) =
        claim_task(tx, &mut step_rec, task_id, limit, now, &token, lease_ms)?;
    if state == State::Pending && !claimed.is_empty() {
        drive_task_raw(tx, rec, task_id, state, State::InProgress, now)?;
        for c in &mut claimed {
            c.task_state = State::InProgress;
        }
    }
    rec.append(&mut step_rec);
    Ok((claimed, loaded))
}

/// `Backend::claim_in` of one task's unlimited ready steps, with their run contexts (the
/// caller has the task: its write transaction).
pub(super) fn claim_task(
    tx: &mut RawTx<'_>,
    rec: &mut Vec<Recorded>,
    task_id: i64,
    limit: i64,
    now: i64,
    token: &str,
    lease_ms: i64,
) -> Result<(Vec<Claimed>, Vec<LoadedStep>)> {
    ensure_allowed(Entity::Step, State::Error, State::Pending)?;
    ensure_allowed(Entity::Step, State::Pending, State::InProgress)?;
    let candidates = candidates_sql(ClaimScope::Task(task_id), "$3", "$4", None);
    let rows = tx.exec(
        &candidates,
        &[
            RawArg::Int(now),
            RawArg::Text(token.to_string()),
            RawArg::Int(limit),
            RawArg::Int(task_id),
        ],
    )?;
    if rows.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let claimed = rows
        .iter()
        .map(|r| {
            Ok((
                r.at(0)?.int()?,
                r.at(3)?.int()?,
                r.at(4)?.text()?,
                r.at(5)?.int()?.saturating_add(1),
                r.at(1)?.text()?,
                r.at(2)?.text()?,
                r.at(7)?.int()?,
            ))
        })
        .collect::<Result<Vec<ClaimedColumns>>>()?;
    let (sql, args) = sqlite_claim_call(&claimed, token, now, lease_ms, true)?;
    let mut by_id: HashMap<i64, RawRow> = HashMap::new();
    for r in tx.exec(&sql, &raw_args(args)?)? {
        by_id.insert(r.get("workflow_step_id")?.int()?, r);
    }
    let load_rows = claimed
        .iter()
        .map(|c| by_id.remove(&c.0).ok_or(Error::StepNotFound(c.0)))
        .collect::<Result<Vec<_>>>()?;
    finish_claim(claimed, &load_rows, token, rec)
}

//! TaskFinalizer for one step inside a transaction: the task row locked and counted, the
//! fenced outcome, its transition and the children's counters in one statement, and the task's
//! completion when it was the last step. Used by every completion path that is not the
//! one-statement one (`complete.rs`, `decision.rs`, the raw SQLite handle's).

use super::*;
use crate::state_machine::Entity;
use sqlx::types::Json;
use sqlx::Row;
use std::sync::OnceLock;

impl Backend {
    /// The completion inside `tx` (no NOTIFY: the callers decide).
    pub(super) async fn complete_in(
        tx: &mut Tx,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        results: &Value,
        now: i64,
    ) -> Result<StepSettled> {
        // Locks the task row first (the lock order) AND counts this step as finished in one
        // statement (was a SELECT ... FOR UPDATE and a later UPDATE). If the claim turns out to be
        // stale below, the error rolls the whole transaction back, the decrement included; the
        // `= 0` guard only keeps such a doomed statement from tripping the CHECK constraint.
        let (unfinished, task_state) = Self::count_one_finished(tx, task_id, now, true).await?;
        Self::complete_locked(
            tx,
            task_id,
            task_state,
            Some(unfinished),
            step_id,
            claim_token,
            results,
            now,
        )
        .await
    }

    /// A completion once its task row is locked (`task_state` read under that lock). With
    /// `counted = Some(n)` the caller already decremented the task's unfinished counter to `n`;
    /// otherwise it is decremented here, last. A stale claim returns `StaleClaim` before
    /// anything is written for this step.
    pub(super) async fn complete_locked(
        tx: &mut Tx,
        task_id: i64,
        task_state: State,
        counted: Option<i64>,
        step_id: i64,
        claim_token: &str,
        results: &Value,
        now: i64,
    ) -> Result<StepSettled> {
        let mut out = StepSettled::default();
        if task_state == State::Cancelled {
            Self::discard_cancelled(tx, &mut out.recorded, task_id, step_id, claim_token, now)
                .await?;
            out.discarded = true;
            return Ok(out);
        }
        // The outcome, its transition and the children's counters: one round trip.
        ensure_allowed(Entity::Step, State::InProgress, State::Complete)?;
        let sql = complete_one_sql();
        let rows = sqlx::query(sql)
            .bind(step_id)
            .bind(claim_token)
            .bind(Json(results))
            .bind(now)
            .fetch_all(&mut **tx)
            .await?;
        let mut done: Option<(i64, Option<i64>, String)> = None;
        for r in rows {
            let kind: i32 = r.try_get("kind")?;
            let n: i64 = r.try_get("n")?;
            let at: Option<i64> = r.try_get("at")?;
            if kind == 0 {
                done = Some((
                    n,
                    at,
                    r.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
                ));
            } else if n == 0 && at.is_some() {
                out.newly_ready.push(r.try_get("workflow_step_id")?);
            }
        }
        let (attempts, started, name) = done.ok_or(Error::StaleClaim(step_id))?;
        out.recorded.push(completed_record(
            task_id, step_id, name, attempts, started, now,
        ));
        let unfinished = match counted {
            Some(n) => n,
            None => Self::count_one_finished(tx, task_id, now, false).await?.0,
        };
        if unfinished == 0 {
            Self::drive_task(
                tx,
                &mut out.recorded,
                task_id,
                task_state,
                State::Complete,
                serde_json::json!({}),
                now,
            )
            .await?;
            out.task_finished = true;
        }
        Ok(out)
    }
}

/// One step's completion (`$1` step, `$2` claim token, `$3` results, `$4` time): the outcome
/// fenced by the claim token, its transition row and the children's parent counters in ONE
/// round trip: a data-modifying CTE on PostgreSQL, one multi-statement call on SQLite (also run
/// on the raw handle, `sqlite_raw_complete.rs`). Rows: kind 0 = this step (attempts, started
/// at, name), kind 1 = a child (pending parents, ready_at). On SQLite the later statements run
/// even when the claim is stale; the caller's StaleClaim error rolls the transaction back.
pub(super) fn complete_one_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    sql_once(&SQL, build_complete_one_sql)
}

fn build_complete_one_sql() -> String {
    let done_set = "state = 'complete', results = $3, processed_at = $4, claim_token = NULL, \
                    lease_expires_at = NULL, ready_at = NULL, updated_at = $4";
    let done_where = "workflow_step_id = $1 AND claim_token = $2 AND state = 'in_progress'";
    let metadata = format!(
        "{}('attempt', d.attempts, 'execution_duration_ms', $4 - COALESCE(d.last_attempted_at, $4))",
        sql::JSON_OBJECT
    );
    let (src, tail) = sql::COMPLETED_STEP;
    let insert = Append {
        entity: Entity::Step,
        src,
        id: "d.workflow_step_id",
        from: "'in_progress'",
        to: "'complete'",
        metadata: &metadata,
        step: "10",
        tail,
        now: "$4",
    }
    .sql();
    if PG {
        let rel = release_children_sql("SELECT workflow_step_id FROM done", "$4", RELEASED);
        format!(
            "WITH done AS (UPDATE tasker_workflow_steps SET {done_set} WHERE {done_where} \
             RETURNING workflow_step_id, name, attempts, last_attempted_at), \
             ins AS ({insert}), rel AS ({rel}) \
             SELECT 0 AS kind, workflow_step_id, attempts AS n, last_attempted_at AS at, name FROM done \
             UNION ALL SELECT 1, workflow_step_id, pending_parents, ready_at, NULL FROM rel"
        )
    } else {
        let rel = release_children_sql(
            "$1",
            "$4",
            "1 AS kind, workflow_step_id, pending_parents AS n, ready_at AS at, NULL AS name",
        );
        format!(
            "UPDATE tasker_workflow_steps SET {done_set} WHERE {done_where} \
             RETURNING 0 AS kind, workflow_step_id, attempts AS n, last_attempted_at AS at, name; \
             {insert}; {rel}"
        )
    }
}

/// The record of a step's `in_progress -> complete` (attempt, time since it started).
pub(super) fn completed_record(
    task_id: i64,
    step_id: i64,
    name: String,
    attempts: i64,
    started: Option<i64>,
    now: i64,
) -> Recorded {
    Recorded {
        entity: Entity::Step,
        task_id,
        step_id: Some(step_id),
        step_name: Some(name),
        from: Some(State::InProgress),
        to: State::Complete,
        metadata: serde_json::json!({"attempt": attempts, "execution_duration_ms": now.saturating_sub(started.unwrap_or(now))}),
    }
}

//! Operator actions: cancel a task, resolve or retry a step.

use super::*;
use crate::state_machine::{self, Entity};
use sqlx::types::Json;
use sqlx::Row;

/// How `end_task` ends a task: its state now and its target, the reason recorded on each
/// cancelled step, the task transition's metadata.
pub(super) struct TaskEnd {
    pub from: State,
    pub to: State,
    pub step_reason: &'static str,
    pub metadata: Value,
}

impl Backend {
    /// Decrements the children's parent counters and the task's unfinished counter after a step
    /// finished (complete or resolved_manually); completes the task when nothing is left.
    pub(super) async fn after_step_finished(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        task_id: i64,
        task_state: State,
        step_id: i64,
        now: i64,
    ) -> Result<(Vec<i64>, bool)> {
        let rows = sqlx::query(&release_children_sql("$1", "$2", RELEASED))
            .bind(step_id)
            .bind(now)
            .fetch_all(&mut **tx)
            .await?;
        let newly_ready = ready_children(&rows)?;
        let (unfinished, _) = Self::count_one_finished(tx, task_id, now, false).await?;
        let finished = unfinished == 0;
        if finished {
            Self::drive_task(
                tx,
                rec,
                task_id,
                task_state,
                State::Complete,
                serde_json::json!({}),
                now,
            )
            .await?;
        } else if !newly_ready.is_empty() {
            Self::notify_ready(tx).await?;
        }
        Ok((newly_ready, finished))
    }

    pub async fn cancel_task(&self, task_id: i64, now: i64) -> Result<OpOutcome> {
        let mut out = OpOutcome::default();
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let state = Self::lock_task(tx, task_id).await?;
        if !state_machine::check(Entity::Task, state, State::Cancelled)? {
            w.tx.rollback().await?;
            return Ok(out);
        }
        let end = TaskEnd {
            from: state,
            to: State::Cancelled,
            step_reason: "task_cancelled",
            metadata: serde_json::json!({"reason": "cancelled"}),
        };
        Self::end_task(tx, &mut out.recorded, task_id, end, now).await?;
        w.tx.commit().await?;
        out.changed = true;
        Ok(out)
    }

    /// Cancels every unfinished step of the task (claims cleared, so a running handler's
    /// outcome is refused; metadata reason `end.step_reason`), then drives the task to `end.to`.
    pub(super) async fn end_task(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        task_id: i64,
        end: TaskEnd,
        now: i64,
    ) -> Result<()> {
        // One statement per prior state, so each transition row names its true origin.
        // A tolerated batch failure is final: it keeps its error.
        for from in [State::InProgress, State::Error, State::Pending] {
            ensure_allowed(Entity::Step, from, State::Cancelled)?;
            let rows = sqlx::query(&format!(
                "UPDATE tasker_workflow_steps SET state = 'cancelled', ready_at = NULL, claim_token = NULL, \
                 lease_expires_at = NULL, updated_at = $3 WHERE task_id = $1 AND state = $2 AND NOT {TOLERATED} \
                 RETURNING workflow_step_id, name",
            ))
            .bind(task_id)
            .bind(from.as_str())
            .bind(now)
            .fetch_all(&mut **tx)
            .await?;
            for r in rows {
                let id: i64 = r.try_get(0)?;
                let name: String = r.try_get(1)?;
                Self::transition(
                    tx,
                    rec,
                    Entity::Step,
                    task_id,
                    Some((id, &name)),
                    Some(from),
                    State::Cancelled,
                    serde_json::json!({ "reason": end.step_reason }),
                    now,
                )
                .await?;
            }
        }
        Self::drive_task(tx, rec, task_id, end.from, end.to, end.metadata, now).await
    }

    /// A step's task, name, state and whether its error is a tolerated batch failure.
    pub(super) async fn step_for_update(
        tx: &mut Tx,
        step_id: i64,
    ) -> Result<(i64, String, State, bool)> {
        let r = sqlx::query(&format!(
            "SELECT task_id, name, state, CASE WHEN {TOLERATED} THEN 1 ELSE 0 END \
             FROM tasker_workflow_steps WHERE workflow_step_id = $1"
        ))
        .bind(step_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::StepNotFound(step_id))?;
        Ok((
            r.try_get(0)?,
            r.try_get(1)?,
            state_of(&r.try_get::<String, _>(2)?)?,
            r.try_get::<i32, _>(3)? == 1,
        ))
    }

    /// After an operator fixed a failed step: a task in error resumes when no exhausted step is left.
    pub(super) async fn maybe_resume_task(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        task_id: i64,
        now: i64,
    ) -> Result<()> {
        let state = Self::lock_task(tx, task_id).await?;
        if state != State::Error {
            return Ok(());
        }
        let exhausted: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM tasker_workflow_steps WHERE task_id = $1 AND {EXHAUSTED_STEP}"
        ))
        .bind(task_id)
        .fetch_one(&mut **tx)
        .await?;
        if exhausted == 0 {
            Self::drive_task(
                tx,
                rec,
                task_id,
                state,
                State::Pending,
                serde_json::json!({"reason": "failed_steps_handled"}),
                now,
            )
            .await?;
        }
        Ok(())
    }

    pub async fn resolve_step(&self, step_id: i64, results: &Value, now: i64) -> Result<OpOutcome> {
        let mut out = OpOutcome::default();
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let task_id = Self::step_task_id_tx(tx, step_id).await?;
        let task_state = Self::lock_task(tx, task_id).await?;
        let (_, name, state, tolerated) = Self::step_for_update(tx, step_id).await?;
        if !state_machine::check_step(state, tolerated, State::ResolvedManually)? {
            w.tx.rollback().await?;
            return Ok(out);
        }
        if task_state == State::Cancelled {
            return Err(Error::IllegalTransition {
                entity: "task",
                from: "cancelled".into(),
                to: "resolved step".into(),
            });
        }
        sqlx::query(
            "UPDATE tasker_workflow_steps SET state = 'resolved_manually', results = $2, processed_at = $3, \
             ready_at = NULL, claim_token = NULL, lease_expires_at = NULL, updated_at = $3 WHERE workflow_step_id = $1",
        )
        .bind(step_id)
        .bind(Json(results))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Self::transition(
            tx,
            &mut out.recorded,
            Entity::Step,
            task_id,
            Some((step_id, &name)),
            Some(state),
            State::ResolvedManually,
            serde_json::json!({"reason": "manual"}),
            now,
        )
        .await?;
        let (ready, finished) =
            Self::after_step_finished(tx, &mut out.recorded, task_id, task_state, step_id, now)
                .await?;
        if !finished {
            Self::maybe_resume_task(tx, &mut out.recorded, task_id, now).await?;
            Self::notify_ready(tx).await?;
        }
        w.tx.commit().await?;
        out.newly_ready = ready;
        out.changed = true;
        Ok(out)
    }

    pub async fn retry_step(&self, step_id: i64, now: i64) -> Result<OpOutcome> {
        let mut out = OpOutcome::default();
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let task_id = Self::step_task_id_tx(tx, step_id).await?;
        let task_state = Self::lock_task(tx, task_id).await?;
        let (_, name, state, tolerated) = Self::step_for_update(tx, step_id).await?;
        state_machine::check_step(state, tolerated, State::Pending)?;
        if state != State::Error {
            return Err(Error::IllegalTransition {
                entity: "step",
                from: state.to_string(),
                to: "retry (only a step in error can be retried)".into(),
            });
        }
        if task_state == State::Cancelled {
            return Err(Error::IllegalTransition {
                entity: "task",
                from: "cancelled".into(),
                to: "retried step".into(),
            });
        }
        ensure_allowed(Entity::Step, State::Error, State::Pending)?;
        sqlx::query(
            "UPDATE tasker_workflow_steps SET state = 'pending', attempts = 0, ready_at = $2, backoff_request_ms = NULL, \
             updated_at = $2 WHERE workflow_step_id = $1",
        )
        .bind(step_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Self::transition(
            tx,
            &mut out.recorded,
            Entity::Step,
            task_id,
            Some((step_id, &name)),
            Some(State::Error),
            State::Pending,
            serde_json::json!({"reason": "manual_retry", "attempts_reset": true}),
            now,
        )
        .await?;
        Self::maybe_resume_task(tx, &mut out.recorded, task_id, now).await?;
        Self::notify_ready(tx).await?;
        w.tx.commit().await?;
        out.newly_ready = vec![step_id];
        out.changed = true;
        Ok(out)
    }
}

//! Failed attempts and results that arrive for a cancelled task.

use super::*;
use crate::orchestration::batch::{ISOLATED_KEY, TOLERATED_KEY};
use crate::registry::BatchFailure;
use crate::state_machine::Entity;
use crate::step_handler::RetryDecision;
use sqlx::types::Json;
use sqlx::Row;

impl Backend {
    /// Finishes a claimed step whose task was cancelled meanwhile: the result is discarded.
    pub(super) async fn discard_cancelled(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        now: i64,
    ) -> Result<()> {
        ensure_allowed(Entity::Step, State::InProgress, State::Cancelled)?;
        let name: Option<String> = sqlx::query_scalar(
            "UPDATE tasker_workflow_steps SET state = 'cancelled', claim_token = NULL, lease_expires_at = NULL, \
             ready_at = NULL, updated_at = $3 \
             WHERE workflow_step_id = $1 AND claim_token = $2 AND state = 'in_progress' RETURNING name",
        )
        .bind(step_id)
        .bind(claim_token)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        let name = name.ok_or(Error::StaleClaim(step_id))?;
        Self::transition(
            tx,
            rec,
            Entity::Step,
            task_id,
            Some((step_id, &name)),
            Some(State::InProgress),
            State::Cancelled,
            serde_json::json!({"reason": "task_cancelled", "result_discarded": true}),
            now,
        )
        .await
    }

    pub async fn fail_step(
        &self,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        failure: &Failure,
        decision: &RetryDecision,
        now: i64,
    ) -> Result<StepSettled> {
        let mut out = StepSettled::default();
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let task_state = Self::lock_task(tx, task_id).await?;
        if task_state == State::Cancelled {
            Self::discard_cancelled(tx, &mut out.recorded, task_id, step_id, claim_token, now)
                .await?;
            w.tx.commit().await?;
            out.discarded = true;
            return Ok(out);
        }
        let row = sqlx::query(
            "SELECT name, attempts, batch_failure FROM tasker_workflow_steps \
             WHERE workflow_step_id = $1 AND claim_token = $2 AND state = 'in_progress'",
        )
        .bind(step_id)
        .bind(claim_token)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::StaleClaim(step_id))?;
        let name: String = row.try_get(0)?;
        let attempts: i64 = row.try_get(1)?;
        // A batch instance of a continue_on_failure or isolate fan-out (NULL otherwise).
        let strategy = row
            .try_get::<Option<String>, _>(2)?
            .and_then(|f| BatchFailure::parse(&f));
        // The decision was taken by the step's RetryAnalyzer from the attempts of this claim
        // (the token fences them: a new attempt means a new claim and token).
        let (will_retry, delay) = (decision.will_retry, decision.delay_ms);
        let final_strategy = strategy.filter(|_| !will_retry);
        let tolerated = final_strategy == Some(BatchFailure::ContinueOnFailure);
        let mut results = failure_json(failure, attempts, now);
        if tolerated {
            // Marks the document the convergence step receives as a tolerated failure.
            results[TOLERATED_KEY] = serde_json::Value::Bool(true);
        }
        ensure_allowed(Entity::Step, State::InProgress, State::Error)?;
        // A retry is ready after its delay, counted from now or, as the decision says (an
        // expired lease), from the claim.
        sqlx::query(
            "UPDATE tasker_workflow_steps SET state = 'error', results = $2, claim_token = NULL, lease_expires_at = NULL, \
             ready_at = CASE WHEN $6 THEN COALESCE(last_attempted_at, $5) + $4 ELSE $3 END, \
             backoff_request_ms = $4, updated_at = $5 WHERE workflow_step_id = $1",
        )
        .bind(step_id)
        .bind(Json(results))
        .bind(delay.map(|d| now.saturating_add(d as i64)))
        .bind(delay.map(|d| d as i64))
        .bind(now)
        .bind(decision.from_claim)
        .execute(&mut **tx)
        .await?;
        let mut metadata = serde_json::json!({
            "attempt": attempts,
            "error_class": failure.class,
            "error_message": failure.message,
            "retry_available": will_retry,
            "backoff_ms": delay,
        });
        if let Some(f) = strategy {
            // The history says why this error does not block the task.
            metadata["batch_failure"] = f.as_str().into();
            if let Some(f) = final_strategy {
                let key = match f {
                    BatchFailure::ContinueOnFailure => TOLERATED_KEY,
                    _ => ISOLATED_KEY,
                };
                metadata[key] = true.into();
            }
        }
        Self::transition(
            tx,
            &mut out.recorded,
            Entity::Step,
            task_id,
            Some((step_id, &name)),
            Some(State::InProgress),
            State::Error,
            metadata,
            now,
        )
        .await?;
        out.will_retry = will_retry;
        out.retry_delay_ms = delay;
        if tolerated {
            // Final, and finished for its task: the convergence step loses a pending parent.
            let (ready, finished) =
                Self::after_step_finished(tx, &mut out.recorded, task_id, task_state, step_id, now)
                    .await?;
            out.newly_ready = ready;
            out.task_finished = finished;
        } else if final_strategy == Some(BatchFailure::Isolate) {
            // Parked: the task goes on; its execution context shows the batch as blocked.
        } else if !will_retry && matches!(task_state, State::Pending | State::InProgress) {
            Self::drive_task(tx, &mut out.recorded, task_id, task_state, State::Error,
                serde_json::json!({"reason": "steps_in_error_state", "step_id": step_id, "step_name": name}), now).await?;
            out.task_blocked = true;
        } else if !will_retry {
            out.task_blocked = true;
        }
        w.tx.commit().await?;
        Ok(out)
    }
}

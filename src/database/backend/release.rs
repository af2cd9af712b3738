//! Released claims: a step claimed by a worker that is stopping, or by a run that was
//! interrupted, goes back to ready without counting the attempt (the claim's `attempts + 1` is
//! undone) and without a failure record. Fenced by the claim token like every outcome.

use super::*;
use crate::state_machine::Entity;
use sqlx::Row;

impl Backend {
    /// Releases each claim that is still current; returns the transitions written (one
    /// `in_progress -> pending` per released step, reason "released"). A claim already gone
    /// (completed, failed, reaped, cancelled, released before) is skipped.
    pub async fn release_claims(&self, claims: &[HeldClaim], now: i64) -> Result<Vec<Recorded>> {
        let mut rec = Vec::new();
        if claims.is_empty() {
            return Ok(rec);
        }
        ensure_allowed(Entity::Step, State::InProgress, State::Pending)?;
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        // The documented lock order: task rows first, in task-id order, then their steps.
        let mut tasks: Vec<i64> = claims.iter().map(|c| c.task_id).collect();
        tasks.sort_unstable();
        tasks.dedup();
        for task_id in &tasks {
            match Self::lock_task(tx, *task_id).await {
                Ok(_) | Err(Error::TaskNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        for c in claims {
            let row = sqlx::query(
                "UPDATE tasker_workflow_steps SET state = 'pending', \
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
                 claim_token = NULL, lease_expires_at = NULL, ready_at = $3, updated_at = $3 \
                 WHERE workflow_step_id = $1 AND claim_token = $2 AND state = 'in_progress' \
                 RETURNING name, attempts",
            )
            .bind(c.step_id)
            .bind(&c.claim_token)
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(row) = row else {
                continue;
            };
            let name: String = row.try_get(0)?;
            let attempts: i64 = row.try_get(1)?;
            Self::transition(
                tx,
                &mut rec,
                Entity::Step,
                c.task_id,
                Some((c.step_id, &name)),
                Some(State::InProgress),
                State::Pending,
                serde_json::json!({"reason": "released", "attempts": attempts}),
                now,
            )
            .await?;
        }
        if !rec.is_empty() {
            Self::notify_ready(tx).await?;
        }
        w.tx.commit().await?;
        Ok(rec)
    }
}

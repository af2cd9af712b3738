//! Claim leases: expiry scan and heartbeats.

use super::*;
use crate::metrics::StepLabels;
use crate::models::StopReason;
use sqlx::Row;

impl Backend {
    pub async fn expired_leases(
        &self,
        scope: ClaimScope,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Expired>> {
        let filter = match scope {
            ClaimScope::Any => "",
            // `+task_id` keeps the planners (SQLite's in particular) off the (task_id, name)
            // index, which would visit every step of a large task; the partial lease index holds
            // only running steps.
            ClaimScope::Task(_) => " AND +s.task_id = $3",
            ClaimScope::Step(_) => " AND s.workflow_step_id = $3",
        };
        // The template and handler ride along for the lease-expired metric's labels.
        let sql = format!(
            "SELECT s.workflow_step_id, s.task_id, s.claim_token, s.attempts, s.retryable, s.retry_limit, \
             s.backoff_base_ms, s.backoff_factor, s.backoff_max_ms, s.backoff_jitter, \
             s.last_attempted_at + s.timeout_ms AS deadline_at, ns.name AS namespace, nt.name AS task_name, nt.version, s.handler_name \
             FROM tasker_workflow_steps s{} \
             WHERE s.state = 'in_progress' AND s.lease_expires_at < $1{filter} ORDER BY s.lease_expires_at LIMIT $2",
            LOAD_TASK_JOINS.replace("{step}", "s")
        );
        let mut q = sqlx::query(&sql).bind(now).bind(limit);
        if let ClaimScope::Task(id) | ClaimScope::Step(id) = scope {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Expired {
                    step_id: r.try_get(0)?,
                    task_id: r.try_get(1)?,
                    claim_token: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                    attempts: r.try_get(3)?,
                    retryable: r.try_get(4)?,
                    retry_limit: r.try_get(5)?,
                    backoff: backoff_from_row(r)?,
                    deadline_at: r.try_get("deadline_at")?,
                    labels: StepLabels {
                        namespace: r.try_get("namespace")?,
                        name: r.try_get("task_name")?,
                        version: r.try_get("version")?,
                        handler: r.try_get("handler_name")?,
                    },
                })
            })
            .collect()
    }

    /// Extends the lease of a claim that is still current; returns the new expiry.
    pub async fn heartbeat(&self, step_id: i64, claim_token: &str, now: i64) -> Result<i64> {
        let expiry: Option<i64> = sqlx::query_scalar(
            "UPDATE tasker_workflow_steps SET lease_expires_at = $3 + COALESCE(NULLIF(lease_ms, 0), $4), \
             updated_at = $3 \
             WHERE workflow_step_id = $1 AND claim_token = $2 AND state = 'in_progress' RETURNING lease_expires_at",
        )
        .bind(step_id)
        .bind(claim_token)
        .bind(now)
        .bind(self.claim_lease_ms)
        .fetch_optional(&self.pool)
        .await?;
        expiry.ok_or(Error::StaleClaim(step_id))
    }

    /// Why the attempt holding `claim_token` should stop (None: it may go on). One read of the
    /// step row by its primary key; nothing is written.
    pub async fn stop_reason(
        &self,
        step_id: i64,
        claim_token: &str,
        now: i64,
    ) -> Result<Option<StopReason>> {
        let row = sqlx::query(
            "SELECT state, claim_token, last_attempted_at + timeout_ms AS deadline_at \
             FROM tasker_workflow_steps WHERE workflow_step_id = $1",
        )
        .bind(step_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::StepNotFound(step_id))?;
        let state: String = row.try_get(0)?;
        let token: Option<String> = row.try_get(1)?;
        let deadline_at: Option<i64> = row.try_get(2)?;
        Ok(if state == State::Cancelled.as_str() {
            Some(StopReason::Cancelled)
        } else if token.as_deref() != Some(claim_token) {
            Some(StopReason::ClaimLost)
        } else if deadline_at.is_some_and(|d| now > d) {
            Some(StopReason::TimedOut)
        } else {
            None
        })
    }
}

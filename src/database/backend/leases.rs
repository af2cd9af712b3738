//! Claim leases: expiry scan and heartbeats.

use super::*;
use crate::metrics::StepLabels;
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
             ns.name AS namespace, nt.name AS task_name, nt.version, s.handler_name \
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
}

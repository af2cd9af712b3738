//! Claim leases: expiry scan and heartbeats.

use super::*;
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
            ClaimScope::Task(_) => " AND +task_id = $3",
            ClaimScope::Step(_) => " AND workflow_step_id = $3",
        };
        let sql = format!(
            "SELECT workflow_step_id, task_id, claim_token, attempts, retryable, retry_limit, \
             backoff_base_ms, backoff_factor, backoff_max_ms, backoff_jitter FROM tasker_workflow_steps \
             WHERE state = 'in_progress' AND lease_expires_at < $1{filter} ORDER BY lease_expires_at LIMIT $2"
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

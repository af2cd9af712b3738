//! The database-wide gauges of the metrics (`Client::metrics`): the ready backlog and the tasks
//! in each state, read when metrics are requested (never on the hot path).

use super::*;
use sqlx::Row;

impl Backend {
    /// Steps claimable now (the claim's own condition: due, no unfinished parent, task
    /// running or pending), and the number of tasks per state (states with none left out).
    pub async fn metric_gauges(&self, now: i64) -> Result<(i64, Vec<(State, i64)>)> {
        let backlog: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM tasker_workflow_steps ws JOIN tasker_tasks t ON t.task_id = ws.task_id \
             WHERE ws.ready_at IS NOT NULL AND ws.pending_parents = 0 AND ws.ready_at <= $1 \
             AND t.state IN {STATES_ACTIVE}"
        ))
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let rows = sqlx::query("SELECT state, COUNT(*) FROM tasker_tasks GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let by_state = rows
            .iter()
            .map(|r| Ok((state_of(&r.try_get::<String, _>(0)?)?, r.try_get(1)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok((backlog, by_state))
    }
}

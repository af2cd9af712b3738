//! The handlers whose steps are in error now, most failing first: served by the partial index
//! `steps_error_handler_idx` (only steps in `error` are in it), so it reads those steps and not
//! the whole step table.

use super::*;
use sqlx::Row;

impl Backend {
    pub async fn failing_handlers(&self, limit: u32) -> Result<Vec<FailingHandler>> {
        let rows = sqlx::query(
            "SELECT handler_name, COUNT(*) AS n, MAX(workflow_step_id), MAX(updated_at) \
             FROM tasker_workflow_steps WHERE state = 'error' \
             GROUP BY handler_name ORDER BY n DESC, handler_name LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FailingHandler {
                    handler: r.try_get(0)?,
                    steps: r.try_get(1)?,
                    newest_step_id: r.try_get(2)?,
                    updated_at: r.try_get(3)?,
                })
            })
            .collect()
    }
}

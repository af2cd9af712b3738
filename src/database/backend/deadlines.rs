//! Task deadlines: the tasks whose deadline passed and is not checked yet (an index-backed scan
//! of the maintenance loop), and failing one of them when it is unfinished.

use super::*;
use sqlx::Row;

impl Backend {
    /// Records the deadline of a task just inserted (in its creation transaction).
    pub(super) async fn set_deadline(tx: &mut Tx, task_id: i64, deadline_at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE tasker_tasks SET deadline_at = $2, deadline_pending = $3 WHERE task_id = $1",
        )
        .bind(task_id)
        .bind(deadline_at)
        .bind(true)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The task's deadline while not checked yet (None: none, or already checked).
    pub async fn pending_deadline(&self, task_id: i64) -> Result<Option<i64>> {
        let mut conn = self.checkout().await?;
        let deadline: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT deadline_at FROM tasker_tasks WHERE task_id = $1 AND deadline_pending",
        )
        .bind(task_id)
        .fetch_optional(&mut *conn)
        .await?;
        conn.done();
        Ok(deadline.flatten())
    }

    /// At most `limit` tasks whose deadline is before `now` and not checked yet, oldest
    /// deadline first (the partial index `tasks_deadline_idx` holds only those).
    pub async fn due_deadlines(&self, now: i64, limit: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT task_id FROM tasker_tasks WHERE deadline_pending AND deadline_at < $1 \
             ORDER BY deadline_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Checks the task's deadline: past it, a pending or running task fails (`error`, metadata
    /// reason `deadline`, class `Deadline`) and its unfinished steps are cancelled, so nothing
    /// more is claimed and running handlers see `Cancelled`. The deadline is then marked
    /// checked, whatever the task's state. `changed` says whether the task failed.
    pub async fn enforce_deadline(&self, task_id: i64, now: i64) -> Result<OpOutcome> {
        let mut out = OpOutcome::default();
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let state = Self::lock_task(tx, task_id).await?;
        let row = sqlx::query(
            "SELECT deadline_at, deadline_pending FROM tasker_tasks WHERE task_id = $1",
        )
        .bind(task_id)
        .fetch_one(&mut **tx)
        .await?;
        let deadline_at: Option<i64> = row.try_get(0)?;
        let pending: bool = row.try_get(1)?;
        let Some(deadline_at) = deadline_at.filter(|d| pending && *d < now) else {
            w.tx.rollback().await?;
            return Ok(out);
        };
        if matches!(state, State::Pending | State::InProgress) {
            let end = super::operations::TaskEnd {
                from: state,
                to: State::Error,
                step_reason: "task_deadline",
                metadata: serde_json::json!({
                    "reason": "deadline",
                    "error_class": "Deadline",
                    "deadline_at": deadline_at,
                }),
            };
            Self::end_task(tx, &mut out.recorded, task_id, end, now).await?;
            out.changed = true;
        }
        sqlx::query("UPDATE tasker_tasks SET deadline_pending = $2 WHERE task_id = $1")
            .bind(task_id)
            .bind(false)
            .execute(&mut **tx)
            .await?;
        w.tx.commit().await?;
        Ok(out)
    }
}

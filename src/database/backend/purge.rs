//! Purging finished tasks: one batch of `complete`/`cancelled` tasks finished before a time,
//! deleted with everything that refers to them in one transaction (children first: the foreign
//! keys have no cascade). Batches walk the task ids upwards, so the whole purge reads the task
//! table once however many batches it takes.

use super::*;
use sqlx::Row;

/// The finished tasks of one batch: ids in `($1, $2]`, finished before `$3`.
const BATCH: &str = "SELECT task_id FROM tasker_tasks WHERE task_id > $1 AND task_id <= $2 \
     AND state IN ('complete','cancelled') AND COALESCE(completed_at, updated_at) < $3";

impl Backend {
    /// Deletes (or with `dry_run` counts) the next at most `limit` finished tasks with an id
    /// above `after`. Returns (tasks, steps, the last task id of the batch); no tasks: done.
    pub async fn purge_batch(
        &self,
        after: i64,
        finished_before: i64,
        limit: u32,
        dry_run: bool,
    ) -> Result<(u64, u64, i64)> {
        // The batch's ids: BATCH with no upper bound, the first `limit` of them.
        let ids: Vec<i64> = sqlx::query_scalar(&format!("{BATCH} ORDER BY task_id LIMIT $4"))
            .bind(after)
            .bind(i64::MAX)
            .bind(finished_before)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let Some(&last) = ids.last() else {
            return Ok((0, 0, after));
        };
        let steps_of_batch = format!(
            "SELECT workflow_step_id FROM tasker_workflow_steps WHERE task_id IN ({BATCH})"
        );
        if dry_run {
            let steps: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM ({steps_of_batch}) s"))
                .bind(after)
                .bind(last)
                .bind(finished_before)
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
            return Ok((ids.len() as u64, steps.unsigned_abs(), last));
        }
        let mut w = self.begin().await?;
        let mut deleted = Vec::with_capacity(8);
        for sql in [
            format!("DELETE FROM tasker_step_checkpoints WHERE workflow_step_id IN ({steps_of_batch})"),
            format!("DELETE FROM tasker_workflow_step_transitions WHERE workflow_step_id IN ({steps_of_batch})"),
            format!("DELETE FROM tasker_workflow_step_edges WHERE from_step_id IN ({steps_of_batch})"),
            format!("DELETE FROM tasker_workflow_steps WHERE task_id IN ({BATCH})"),
            format!("DELETE FROM tasker_task_transitions WHERE task_id IN ({BATCH})"),
            format!("DELETE FROM tasker_task_annotations WHERE task_id IN ({BATCH})"),
            // A purged task's tick goes with it: the schedule's tick history stays bounded.
            format!("DELETE FROM tasker_schedule_ticks WHERE task_id IN ({BATCH})"),
            format!("DELETE FROM tasker_tasks WHERE task_id IN ({BATCH})"),
        ] {
            let done = sqlx::query(&sql)
                .bind(after)
                .bind(last)
                .bind(finished_before)
                .execute(&mut *w.tx)
                .await?;
            deleted.push(done.rows_affected());
        }
        w.tx.commit().await?;
        // deleted[3]: the steps, deleted[7]: the tasks (the statements' order above).
        Ok((deleted[7], deleted[3], last))
    }
}

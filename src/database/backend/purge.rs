//! Purging finished tasks: one batch of `complete`/`cancelled` tasks finished before a time,
//! deleted with everything that refers to them in one transaction (children first: the foreign
//! keys have no cascade). Batches walk the task ids upwards, so the whole purge reads the task
//! table once however many batches it takes.

use super::*;
use sqlx::Row;

/// The finished tasks of one batch: ids in `($1, $2]`, `complete` ones finished before `$3`,
/// `cancelled` ones before `$4`.
const BATCH: &str = "SELECT task_id FROM tasker_tasks WHERE task_id > $1 AND task_id <= $2 \
     AND ((state = 'complete' AND COALESCE(completed_at, updated_at) < $3) \
     OR (state = 'cancelled' AND COALESCE(completed_at, updated_at) < $4))";

impl Backend {
    /// The highest task id (0 when there is none): where the retention's windows wrap.
    pub async fn newest_task_id(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(task_id) FROM tasker_tasks")
                .fetch_one(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    /// Deletes (or with `dry_run` counts) the next at most `limit` finished tasks with an id in
    /// `(after, upto]`. Returns (tasks, steps, the last task id of the batch); no tasks: done.
    pub async fn purge_batch(
        &self,
        (after, upto): (i64, i64),
        cut: PurgeCutoffs,
        limit: u32,
        dry_run: bool,
    ) -> Result<(u64, u64, i64)> {
        // The batch's ids: the first `limit` of BATCH.
        let ids: Vec<i64> = sqlx::query_scalar(&format!("{BATCH} ORDER BY task_id LIMIT $5"))
            .bind(after)
            .bind(upto)
            .bind(cut.complete_before)
            .bind(cut.cancelled_before)
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
                .bind(cut.complete_before)
                .bind(cut.cancelled_before)
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
                .bind(cut.complete_before)
                .bind(cut.cancelled_before)
                .execute(&mut *w.tx)
                .await?;
            deleted.push(done.rows_affected());
        }
        w.tx.commit().await?;
        // deleted[3]: the steps, deleted[7]: the tasks (the statements' order above).
        Ok((deleted[7], deleted[3], last))
    }
}

//! Purging finished tasks: one batch of `complete`/`cancelled` tasks finished before a time,
//! deleted with everything that refers to them in one transaction (children first: the foreign
//! keys have no cascade). Batches walk the task ids upwards, so the whole purge reads the task
//! table once however many batches it takes.

use super::*;
use sqlx::Row;

/// The finished tasks of one batch: ids in `($1, $2]`, `complete` ones finished before `$3`,
/// `cancelled` ones before `$4`, of the given named tasks (template versions) only when some
/// are given.
fn batch_sql(named_tasks: Option<&[i64]>) -> String {
    let mut sql = String::from(
        "SELECT task_id FROM tasker_tasks WHERE task_id > $1 AND task_id <= $2 \
         AND ((state = 'complete' AND COALESCE(completed_at, updated_at) < $3) \
         OR (state = 'cancelled' AND COALESCE(completed_at, updated_at) < $4))",
    );
    if let Some(ids) = named_tasks {
        // Ids read from the database, not input: inlined as literals so every statement of
        // the batch keeps the same four parameters.
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        sql.push_str(&format!(" AND named_task_id IN ({})", list.join(",")));
    }
    sql
}

/// Which of the report's counts a delete of the batch gives.
enum Counted {
    Steps,
    Tasks,
    Neither,
}

impl Backend {
    /// The named-task ids (one per registered version) a purge's template filter matches.
    pub async fn named_task_ids(&self, t: &PurgeTemplate) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT nt.named_task_id FROM tasker_named_tasks nt \
             JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id \
             WHERE nt.name = $1 AND ($2 IS NULL OR ns.name = $2) AND ($3 IS NULL OR nt.version = $3) \
             ORDER BY nt.named_task_id",
        )
        .bind(&t.name)
        .bind(t.namespace.as_deref())
        .bind(t.version.as_deref())
        .fetch_all(&self.pool)
        .await?)
    }

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
    /// `(after, upto]` (of `named_tasks` only, when given); no tasks in the result: done.
    pub async fn purge_batch(
        &self,
        (after, upto): (i64, i64),
        cut: PurgeCutoffs,
        named_tasks: Option<&[i64]>,
        limit: u32,
        dry_run: bool,
    ) -> Result<PurgeBatch> {
        let batch = batch_sql(named_tasks);
        // The batch's ids: the first `limit` of the batch's query.
        let ids: Vec<i64> = sqlx::query_scalar(&format!("{batch} ORDER BY task_id LIMIT $5"))
            .bind(after)
            .bind(upto)
            .bind(cut.complete_before)
            .bind(cut.cancelled_before)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let Some(&last) = ids.last() else {
            return Ok(PurgeBatch {
                tasks: 0,
                steps: 0,
                last_task_id: after,
            });
        };
        let steps_of_batch = format!(
            "SELECT workflow_step_id FROM tasker_workflow_steps WHERE task_id IN ({batch})"
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
            return Ok(PurgeBatch {
                tasks: ids.len() as u64,
                steps: steps.unsigned_abs(),
                last_task_id: last,
            });
        }
        let mut w = self.begin().await?;
        let (mut tasks, mut steps) = (0, 0);
        for (sql, counted) in [
            (format!("DELETE FROM tasker_step_checkpoints WHERE workflow_step_id IN ({steps_of_batch})"), Counted::Neither),
            (format!("DELETE FROM tasker_workflow_step_transitions WHERE workflow_step_id IN ({steps_of_batch})"), Counted::Neither),
            (format!("DELETE FROM tasker_workflow_step_edges WHERE from_step_id IN ({steps_of_batch})"), Counted::Neither),
            (format!("DELETE FROM tasker_workflow_steps WHERE task_id IN ({batch})"), Counted::Steps),
            (format!("DELETE FROM tasker_task_transitions WHERE task_id IN ({batch})"), Counted::Neither),
            (format!("DELETE FROM tasker_task_annotations WHERE task_id IN ({batch})"), Counted::Neither),
            // A purged task's tick goes with it: the schedule's tick history stays bounded.
            (format!("DELETE FROM tasker_schedule_ticks WHERE task_id IN ({batch})"), Counted::Neither),
            (format!("DELETE FROM tasker_tasks WHERE task_id IN ({batch})"), Counted::Tasks),
        ] {
            let done = sqlx::query(&sql)
                .bind(after)
                .bind(last)
                .bind(cut.complete_before)
                .bind(cut.cancelled_before)
                .execute(&mut *w.tx)
                .await?;
            match counted {
                Counted::Steps => steps = done.rows_affected(),
                Counted::Tasks => tasks = done.rows_affected(),
                Counted::Neither => {}
            }
        }
        w.tx.commit().await?;
        Ok(PurgeBatch {
            tasks,
            steps,
            last_task_id: last,
        })
    }
}

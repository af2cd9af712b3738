//! The decrements a finished step causes: its children lose a pending parent, its task an
//! unfinished step. Each exists once, shared by every completion path.

use super::*;
use sqlx::Row;
use std::sync::OnceLock;

/// The one children-decrement statement: the children of the steps `parents` (placeholders
/// or a subquery of step ids) lose one pending parent per finished parent (a child with two
/// parents among them loses two).
pub(super) fn release_children_sql(parents: &str, now: &str, returning: &str) -> String {
    format!(
        "UPDATE tasker_workflow_steps AS s SET pending_parents = s.pending_parents - c.n, updated_at = {now} \
         FROM (SELECT to_step_id, COUNT(*) AS n FROM tasker_workflow_step_edges \
         WHERE from_step_id IN ({parents}) GROUP BY to_step_id) AS c \
         WHERE s.workflow_step_id = c.to_step_id RETURNING {returning}"
    )
}

/// What `release_children_sql` returns for [`ready_children`].
pub(super) const RELEASED: &str = "workflow_step_id, pending_parents, ready_at";

/// The children (rows of `RELEASED`) that became claimable.
pub(super) fn ready_children(rows: &[<Db as sqlx::Database>::Row]) -> Result<Vec<i64>> {
    let mut ready = Vec::new();
    for r in rows {
        let pending: i64 = r.try_get(1)?;
        let ready_at: Option<i64> = r.try_get(2)?;
        if pending == 0 && ready_at.is_some() {
            ready.push(r.try_get::<i64, _>(0)?);
        }
    }
    Ok(ready)
}

/// The one counter-decrement statement: each task of `counts` (rows `tid`, `n`) has `n` fewer
/// unfinished steps; returns task_id, unfinished_steps and the state before. `guarded` leaves a
/// cancelled task untouched and never goes below zero (for the single-step path, which counts
/// before it knows whether the claim is stale; a stale claim rolls the count back). (RETURNING
/// names are unqualified and unambiguous: SQLite accepts no alias there.)
pub(super) fn count_finished_sql(counts: &str, now: &str, guarded: bool) -> String {
    let (n, at) = if guarded {
        (
            "CASE WHEN t.state = 'cancelled' OR t.unfinished_steps = 0 THEN 0 ELSE c.n END",
            format!("CASE WHEN t.state = 'cancelled' THEN t.updated_at ELSE {now} END"),
        )
    } else {
        ("c.n", now.to_string())
    };
    format!(
        "UPDATE tasker_tasks AS t SET unfinished_steps = t.unfinished_steps - {n}, updated_at = {at} \
         FROM ({counts}) AS c WHERE t.task_id = c.tid RETURNING task_id, unfinished_steps, state"
    )
}

/// [`count_finished_sql`] for one step of one task (`$1` the task, `$2` the time).
pub(super) fn count_one_sql(guarded: bool) -> &'static str {
    static SQL: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    sql_once(&SQL[usize::from(guarded)], || {
        count_finished_sql("SELECT $1 AS tid, 1 AS n", "$2", guarded)
    })
}

impl Backend {
    /// Counts one finished step of the task (see `count_finished_sql` for `guarded`); returns
    /// the steps left unfinished and the task's state.
    pub(super) async fn count_one_finished(
        tx: &mut Tx,
        task_id: i64,
        now: i64,
        guarded: bool,
    ) -> Result<(i64, State)> {
        let row = sqlx::query(count_one_sql(guarded))
            .bind(task_id)
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(Error::TaskNotFound(task_id))?;
        Ok((row.try_get(1)?, state_of(&row.try_get::<String, _>(2)?)?))
    }
}

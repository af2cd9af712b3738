//! `create_task` on the SQLite writer connection's raw handle (`sqlite_raw_tx.rs`): the task
//! row, its first transition (the one transition writer), the step rows, the edges and the
//! steps' first transitions in one transaction of two calls, where the sqlx path
//! (`tasks.rs`) takes BEGIN, five statements and COMMIT, each a hand-off to sqlx's connection
//! thread. The common case only: a task whose identity already exists, with a deadline,
//! bypassed steps or more than `MAX_STEPS` steps is handed back (nothing written) to the sqlx
//! transaction, which knows every case.

use super::common::NumberedArgs;
use super::sqlite_raw_tx::raw_args;
use super::step_columns::{step_column_names, step_columns, Col};
use super::tasks::INSERT_TASK;
use super::transitions::{append_rows_sql, TransitionRow};
use super::*;
use crate::database::sqlite_raw::RawArg;
use crate::state_machine::Entity;

/// Larger tasks take the sqlx path: each distinct statement text is prepared and cached per
/// writer connection, and a text grows with the task's steps and edges.
const MAX_STEPS: usize = 64;

impl Backend {
    /// SQLite's fast path of [`Backend::create_task`] (each dialect defines it; PostgreSQL's
    /// is in `pg_fast_path.rs`). `Ok(None)`: not taken here, nothing written (see the module
    /// doc and `raw_write`).
    pub(super) async fn create_task_fast(
        &self,
        t: &NewTask,
        now: i64,
    ) -> Result<Option<(CreatedTask, Vec<Recorded>)>> {
        if t.deadline_at.is_some()
            || t.steps.is_empty()
            || t.steps.len() > MAX_STEPS
            || t.steps.iter().any(|s| s.bypassed)
        {
            return Ok(None);
        }
        let steps =
            i64::try_from(t.steps.len()).map_err(|_| Error::Internal("too many steps".into()))?;
        let task = task_args(t, now, steps)?;
        self.raw_write(|tx| {
            let rows = tx.exec(INSERT_TASK, &task)?;
            // No row: the identity exists; the sqlx path finds that task.
            let Some(row) = rows.first() else {
                return Ok(None);
            };
            let task_id = row.at(0)?.int()?;
            let mut rec = Vec::new();
            let (sql, args) = rest_of_create(t, task_id, now, &mut rec)?;
            tx.exec(&sql, &args)?;
            let created = CreatedTask {
                task_id,
                created: true,
            };
            Ok(Some((created, rec)))
        })
        .await
    }
}

/// `$1..$11` of [`INSERT_TASK`], bound as sqlx binds them (JSON as text).
fn task_args(t: &NewTask, now: i64, steps: i64) -> Result<Vec<RawArg>> {
    Ok(vec![
        RawArg::Int(t.named_task_id),
        RawArg::Int(now),
        RawArg::Text(t.initiator.clone()),
        RawArg::Text(t.source_system.clone()),
        RawArg::Text(t.reason.clone()),
        RawArg::Text(serde_json::to_string(&t.bypass_steps)?),
        RawArg::Text(serde_json::to_string(&t.tags)?),
        RawArg::Text(serde_json::to_string(&t.context)?),
        RawArg::Text(t.identity_hash.clone()),
        RawArg::Int(steps),
        // Unfinished: every step (no bypassed step takes this path).
        RawArg::Int(steps),
    ])
}

/// Appends `a`; returns its placeholder.
fn push(args: &mut Vec<RawArg>, a: RawArg) -> String {
    args.push(a);
    format!("${}", args.len())
}

/// A step column's value as the raw path binds it (booleans as 0/1, JSON as text, as sqlx).
fn col_arg(col: Col<'_>) -> Result<RawArg> {
    Ok(match col {
        Col::Int(v) => v.map_or(RawArg::Null, RawArg::Int),
        Col::Float(v) => v.map_or(RawArg::Null, RawArg::Real),
        Col::Bool(v) => RawArg::Int(i64::from(v)),
        Col::Text(v) => v.map_or(RawArg::Null, |s| RawArg::Text(s.to_string())),
        Col::Json(v) => RawArg::Text(serde_json::to_string(v)?),
    })
}

/// The task's `pending` transition, the steps, the edges (by step name: the `(task_id, name)`
/// key) and the steps' `pending` transitions: one multi-statement call sharing `$N`.
fn rest_of_create(
    t: &NewTask,
    task_id: i64,
    now: i64,
    rec: &mut Vec<Recorded>,
) -> Result<(String, Vec<RawArg>)> {
    let mut numbered = NumberedArgs::default();
    let now_p = numbered.int(now);
    let task_p = numbered.int(task_id);
    let first = TransitionRow {
        task_id,
        id: task_id,
        step_name: None,
        from: None,
        to: State::Pending,
        metadata: serde_json::json!({}),
    };
    let mut sql = append_rows_sql(
        &mut numbered,
        Entity::Task,
        std::slice::from_ref(&first),
        &now_p,
    )?;
    let mut args = raw_args(numbered)?;
    let start_p = push(&mut args, RawArg::Int(t.start_at));
    let prio_p = push(&mut args, RawArg::Int(t.priority));
    let mut rows = Vec::with_capacity(t.steps.len());
    for s in &t.steps {
        let mut row = vec![task_p.clone()];
        for (_, col) in step_columns(s) {
            let a = col_arg(col)?;
            row.push(push(&mut args, a));
        }
        let batch_failure = s
            .batch_failure
            .map_or(RawArg::Null, |f| RawArg::Text(f.as_str().to_string()));
        let bf = push(&mut args, batch_failure);
        rows.push(format!(
            "({}, 'pending', 0, {start_p}, NULL, NULL, {now_p}, {now_p}, {prio_p}, {bf})",
            row.join(", ")
        ));
    }
    sql.push_str(&format!(
        "; INSERT INTO tasker_workflow_steps (task_id, {}, state, attempts, ready_at, results, \
         processed_at, created_at, updated_at, priority, batch_failure) VALUES {}",
        step_column_names(""),
        rows.join(", ")
    ));
    if !t.edges.is_empty() {
        let name = |i: usize| -> Result<String> {
            t.steps
                .get(i)
                .map(|s| s.name.clone())
                .ok_or_else(|| Error::Internal("edge names an unknown step".into()))
        };
        let mut pairs = Vec::with_capacity(t.edges.len());
        for (f, to) in &t.edges {
            let (fp, tp) = (
                push(&mut args, RawArg::Text(name(*f)?)),
                push(&mut args, RawArg::Text(name(*to)?)),
            );
            pairs.push(format!("({fp}, {tp})"));
        }
        sql.push_str(&format!(
            "; INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, \
             updated_at) SELECT f.workflow_step_id, c.workflow_step_id, 'provides', {now_p}, {now_p} \
             FROM (VALUES {}) AS e \
             JOIN tasker_workflow_steps f ON f.task_id = {task_p} AND f.name = e.column1 \
             JOIN tasker_workflow_steps c ON c.task_id = {task_p} AND c.name = e.column2",
            pairs.join(", ")
        ));
    }
    sql.push_str(&format!(
        "; INSERT INTO tasker_workflow_step_transitions (workflow_step_id, from_state, to_state, \
         metadata, sort_key, created_at) SELECT workflow_step_id, NULL, 'pending', '{{}}', 10, {now_p} \
         FROM tasker_workflow_steps WHERE task_id = {task_p}"
    ));
    rec.push(Recorded {
        entity: Entity::Task,
        task_id,
        step_id: None,
        step_name: None,
        from: None,
        to: State::Pending,
        metadata: first.metadata,
    });
    Ok((sql, args))
}

//! Task creation's one-statement path (PostgreSQL; compiled by `pg.rs` only): the task, its first transition, every step,
//! edge and step transition and the NOTIFY as ONE data-modifying CTE in autocommit, the steps
//! and edges passed as JSON record sets (any number of steps, no chunking). The transactional
//! path (`tasks.rs`) takes BEGIN, six statements or more (one per 400 steps) and COMMIT.
//!
//! It handles the common case only: a task with bypassed steps or a deadline takes the
//! transactional path, which also completes a task whose steps are all bypassed.

use super::step_columns::{step_column_names, step_columns, Col};
use super::tasks::{bind_task, INSERT_TASK};
use super::*;
use crate::state_machine::Entity;
use sqlx::types::Json;
use sqlx::Row;
use std::sync::OnceLock;

/// The statement: `$1..$11` the task row (`INSERT_TASK`), `$12` the steps (JSON records),
/// `$13` the edges (JSON records of step names), `$14` when the steps become claimable, `$15`
/// their priority.
fn create_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    sql_once(&SQL, build_create_sql)
}

fn build_create_sql() -> String {
    let types = step_columns(&NewStep::default())
        .iter()
        .map(|(name, col)| format!("{name} {}", col.pg_type()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH t AS ({INSERT_TASK}), \
     tt AS (INSERT INTO tasker_task_transitions (task_id, from_state, to_state, metadata, sort_key, created_at) \
     SELECT task_id, NULL, 'pending', '{{}}'::jsonb, 10, $2 FROM t), \
     x AS (SELECT * FROM jsonb_to_recordset($12::jsonb) AS x({types})), \
     s AS (INSERT INTO tasker_workflow_steps (task_id, {}, state, attempts, ready_at, created_at, updated_at, priority) \
     SELECT t.task_id, {}, 'pending', 0, $14, $2, $2, $15 FROM t, x RETURNING workflow_step_id, name), \
     e AS (INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, updated_at) \
     SELECT a.workflow_step_id, b.workflow_step_id, 'provides', $2, $2 \
     FROM jsonb_to_recordset($13::jsonb) AS u(f text, t text) \
     JOIN s a ON a.name = u.f JOIN s b ON b.name = u.t), \
     st AS (INSERT INTO tasker_workflow_step_transitions (workflow_step_id, from_state, to_state, metadata, \
     sort_key, created_at) SELECT workflow_step_id, NULL, 'pending', '{{}}'::jsonb, 10, $2 FROM s), \
     nf AS (SELECT pg_notify('{READY_CHANNEL}', '') FROM t) \
     SELECT 0 AS kind, task_id FROM t \
     UNION ALL SELECT 1, 0 FROM nf \
     UNION ALL SELECT 2, task_id FROM tasker_tasks WHERE identity_hash = $9 AND NOT EXISTS (SELECT 1 FROM t)",
        step_column_names(""),
        step_column_names("x.")
    )
}

impl Backend {
    /// Creates `t` in one autocommit statement (PostgreSQL only; see the module doc), or
    /// returns `None` when the task must take the transactional path.
    pub(super) async fn create_task_autocommit(
        &self,
        t: &NewTask,
        now: i64,
    ) -> Result<Option<(CreatedTask, Vec<Recorded>)>> {
        // A deadline is one more write (deadlines.rs): the transactional path does it.
        if t.steps.is_empty() || t.steps.iter().any(|s| s.bypassed) || t.deadline_at.is_some() {
            return Ok(None);
        }
        let steps: Vec<Value> = t
            .steps
            .iter()
            .map(|s| {
                Value::Object(
                    step_columns(s)
                        .iter()
                        .map(|(name, col)| ((*name).to_string(), col.json()))
                        .collect(),
                )
            })
            .collect();
        let mut edges = Vec::with_capacity(t.edges.len());
        for (f, to) in &t.edges {
            let name = |i: usize| {
                t.steps
                    .get(i)
                    .map(|s| s.name.as_str())
                    .ok_or_else(|| Error::Internal("edge names an unknown step".into()))
            };
            edges.push(serde_json::json!({"f": name(*f)?, "t": name(*to)?}));
        }
        let sql = create_sql();
        let mut conn = self.checkout().await?;
        let rows = bind_task(sqlx::query(sql), t, now, t.steps.len() as i64)
            .bind(Json(Value::Array(steps)))
            .bind(Json(Value::Array(edges)))
            .bind(t.start_at)
            .bind(t.priority)
            .fetch_all(&mut *conn)
            .await?;
        conn.done();
        drop(conn);
        let mut created = None;
        let mut existing = None;
        for r in &rows {
            match r.try_get::<i32, _>("kind")? {
                0 => created = Some(r.try_get::<i64, _>("task_id")?),
                2 => existing = Some(r.try_get::<i64, _>("task_id")?),
                _ => {}
            }
        }
        if let Some(task_id) = created {
            if t.steps.len() >= super::tasks::BULK_ANALYZE_STEPS {
                self.analyze_after_bulk_insert(t.steps.len()).await;
            }
            let rec = vec![Recorded {
                entity: Entity::Task,
                task_id,
                step_id: None,
                step_name: None,
                from: None,
                to: State::Pending,
                metadata: serde_json::json!({}),
            }];
            return Ok(Some((
                CreatedTask {
                    task_id,
                    created: true,
                },
                rec,
            )));
        }
        // A duplicate. The statement's snapshot may predate a concurrent creator's commit
        // (ON CONFLICT waited for it): then look again.
        let task_id = match existing {
            Some(id) => id,
            None => {
                sqlx::query_scalar("SELECT task_id FROM tasker_tasks WHERE identity_hash = $1")
                    .bind(&t.identity_hash)
                    .fetch_one(&self.pool)
                    .await?
            }
        };
        Ok(Some((
            CreatedTask {
                task_id,
                created: false,
            },
            Vec::new(),
        )))
    }
}

/// How this statement declares and passes a step column (the JSON record set).
impl Col<'_> {
    /// Its type in PostgreSQL's `jsonb_to_recordset` column definition.
    fn pg_type(&self) -> &'static str {
        match self {
            Col::Int(_) => "bigint",
            Col::Float(_) => "float8",
            Col::Bool(_) => "boolean",
            Col::Text(_) => "text",
            Col::Json(_) => "jsonb",
        }
    }

    /// Its value in a JSON record.
    fn json(&self) -> Value {
        match self {
            Col::Int(v) => serde_json::json!(v),
            Col::Float(v) => serde_json::json!(v),
            Col::Bool(v) => Value::Bool(*v),
            Col::Text(v) => serde_json::json!(v),
            Col::Json(v) => (*v).clone(),
        }
    }
}

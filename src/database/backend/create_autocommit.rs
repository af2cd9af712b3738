//! Task creation's one-statement path (PostgreSQL): the task, its first transition, every step,
//! edge and step transition and the NOTIFY as ONE data-modifying CTE in autocommit, the steps
//! and edges passed as JSON record sets (any number of steps, no chunking). The transactional
//! path (`tasks.rs`) takes BEGIN, six statements or more (one per 400 steps) and COMMIT.
//!
//! It handles the common case only: a task with bypassed steps or a deadline takes the
//! transactional path, which also completes a task whose steps are all bypassed.

use super::tasks::{bind_task, INSERT_TASK};
use super::*;
use crate::state_machine::Entity;
use sqlx::types::Json;
use sqlx::Row;

/// The statement: `$1..$11` the task row (`INSERT_TASK`), `$12` the steps (JSON records),
/// `$13` the edges (JSON records of step names), `$14` when the steps become claimable, `$15`
/// their priority.
fn create_sql() -> String {
    format!(
        "WITH t AS ({INSERT_TASK}), \
     tt AS (INSERT INTO tasker_task_transitions (task_id, from_state, to_state, metadata, sort_key, created_at) \
     SELECT task_id, NULL, 'pending', '{{}}'::jsonb, 10, $2 FROM t), \
     x AS (SELECT * FROM jsonb_to_recordset($12::jsonb) AS x(named_step_id bigint, name text, handler_name text, \
     handler_config jsonb, retryable boolean, retry_limit bigint, skippable boolean, pending_parents bigint, \
     lease_ms bigint, timeout_ms bigint, backoff_base_ms bigint, backoff_factor float8, backoff_max_ms bigint, backoff_jitter float8, \
     inputs jsonb, concurrency_key text, concurrency_limit bigint)), \
     s AS (INSERT INTO tasker_workflow_steps (task_id, named_step_id, name, handler_name, handler_config, state, \
     retryable, retry_limit, skippable, attempts, ready_at, pending_parents, lease_ms, timeout_ms, backoff_base_ms, \
     backoff_factor, backoff_max_ms, backoff_jitter, inputs, created_at, updated_at, priority, concurrency_key, concurrency_limit) \
     SELECT t.task_id, x.named_step_id, x.name, x.handler_name, x.handler_config, 'pending', x.retryable, \
     x.retry_limit, x.skippable, 0, $14, x.pending_parents, x.lease_ms, x.timeout_ms, x.backoff_base_ms, x.backoff_factor, \
     x.backoff_max_ms, x.backoff_jitter, x.inputs, $2, $2, $15, x.concurrency_key, x.concurrency_limit FROM t, x RETURNING workflow_step_id, name), \
     e AS (INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, updated_at) \
     SELECT a.workflow_step_id, b.workflow_step_id, 'provides', $2, $2 \
     FROM jsonb_to_recordset($13::jsonb) AS u(f text, t text) \
     JOIN s a ON a.name = u.f JOIN s b ON b.name = u.t), \
     st AS (INSERT INTO tasker_workflow_step_transitions (workflow_step_id, from_state, to_state, metadata, \
     sort_key, created_at) SELECT workflow_step_id, NULL, 'pending', '{{}}'::jsonb, 10, $2 FROM s), \
     nf AS (SELECT pg_notify('{READY_CHANNEL}', '') FROM t) \
     SELECT 0 AS kind, task_id FROM t \
     UNION ALL SELECT 1, 0 FROM nf \
     UNION ALL SELECT 2, task_id FROM tasker_tasks WHERE identity_hash = $9 AND NOT EXISTS (SELECT 1 FROM t)"
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
                serde_json::json!({
                    "named_step_id": s.named_step_id,
                    "name": s.name,
                    "handler_name": s.handler,
                    "handler_config": s.handler_config,
                    "retryable": s.retryable,
                    "retry_limit": s.retry_limit,
                    "skippable": s.skippable,
                    "pending_parents": s.pending_parents,
                    "lease_ms": s.lease_ms,
                    "timeout_ms": s.timeout_ms,
                    "backoff_base_ms": s.backoff.base_ms.map(|v| v as i64),
                    "backoff_factor": s.backoff.factor,
                    "backoff_max_ms": s.backoff.max_ms.map(|v| v as i64),
                    "backoff_jitter": s.backoff.jitter,
                    "inputs": s.inputs,
                    "concurrency_key": s.concurrency.as_ref().map(|c| &c.0),
                    "concurrency_limit": s.concurrency.as_ref().map(|c| c.1),
                })
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
        let rows = bind_task(sqlx::query(&sql), t, now, t.steps.len() as i64)
            .bind(Json(Value::Array(steps)))
            .bind(Json(Value::Array(edges)))
            .bind(t.start_at)
            .bind(t.priority)
            .fetch_all(&self.pool)
            .await?;
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

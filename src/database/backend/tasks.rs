//! Creating a task with its steps, edges and initial transitions; starting it.

use super::step_columns::{step_column_names, step_columns, Col};
use super::*;
use crate::state_machine::Entity;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

/// Inserts the task row, or nothing when a task with its identity exists: `$1` named task, `$2`
/// now, `$3..$5` initiator, source system, reason, `$6..$8` bypass list, tags, context, `$9`
/// identity hash, `$10` steps, `$11` unfinished steps (see [`bind_task`]).
pub(super) const INSERT_TASK: &str = "INSERT INTO tasker_tasks (named_task_id, state, complete, \
     requested_at, initiator, source_system, reason, bypass_steps, tags, context, identity_hash, \
     total_steps, unfinished_steps, created_at, updated_at) \
     VALUES ($1, 'pending', FALSE, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $2, $2) \
     ON CONFLICT (identity_hash) DO NOTHING RETURNING task_id";

/// Binds `$1..$11` of [`INSERT_TASK`].
pub(super) fn bind_task<'q>(
    q: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>,
    t: &'q NewTask,
    now: i64,
    unfinished: i64,
) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>> {
    q.bind(t.named_task_id)
        .bind(now)
        .bind(&t.initiator)
        .bind(&t.source_system)
        .bind(&t.reason)
        .bind(Json(&t.bypass_steps))
        .bind(Json(&t.tags))
        .bind(Json(&t.context))
        .bind(&t.identity_hash)
        .bind(t.steps.len() as i64)
        .bind(unfinished)
}

/// Tasks with at least this many steps may refresh the planner statistics (PostgreSQL).
pub(super) const BULK_ANALYZE_STEPS: usize = 1000;

impl Backend {
    pub async fn create_task(&self, t: &NewTask, now: i64) -> Result<(CreatedTask, Vec<Recorded>)> {
        if t.steps.iter().any(|s| s.flow_key.is_some()) {
            self.keyed.open();
        }
        // The dialect's fast path first (PostgreSQL: one statement in autocommit; SQLite: the
        // writer's raw handle); what it does not take runs the transaction below.
        if let Some(created) = self.create_task_fast(t, now).await? {
            return Ok(created);
        }
        let mut rec = Vec::new();
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let unfinished = t.steps.iter().filter(|s| !s.bypassed).count() as i64;
        let task_id: Option<i64> = bind_task(sqlx::query(INSERT_TASK), t, now, unfinished)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        let task_id = match task_id {
            Some(id) => id,
            None => {
                let existing: i64 =
                    sqlx::query_scalar("SELECT task_id FROM tasker_tasks WHERE identity_hash = $1")
                        .bind(&t.identity_hash)
                        .fetch_one(&mut **tx)
                        .await?;
                w.tx.rollback().await?;
                return Ok((
                    CreatedTask {
                        task_id: existing,
                        created: false,
                    },
                    rec,
                ));
            }
        };
        if let Some(d) = t.deadline_at {
            Self::set_deadline(tx, task_id, d).await?;
        }
        Self::transition(
            tx,
            &mut rec,
            Entity::Task,
            task_id,
            None,
            None,
            State::Pending,
            serde_json::json!({}),
            now,
        )
        .await?;

        let ids =
            Self::insert_steps(tx, task_id, &t.steps, t.start_at, now, t.priority, false).await?;
        let id_of = |i: usize| -> Result<i64> {
            ids.get(&t.steps[i].name)
                .copied()
                .ok_or_else(|| Error::Internal("inserted step id missing".into()))
        };
        let mut edge_ids = Vec::with_capacity(t.edges.len());
        for (f, to) in &t.edges {
            edge_ids.push((id_of(*f)?, id_of(*to)?));
        }
        for chunk in edge_ids.chunks(1000) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "INSERT INTO tasker_workflow_step_edges (from_step_id, to_step_id, name, created_at, updated_at) ",
            );
            qb.push_values(chunk, |mut b, (f, to)| {
                b.push_bind(*f)
                    .push_bind(*to)
                    .push_bind("provides")
                    .push_bind(now)
                    .push_bind(now);
            });
            qb.build().execute(&mut **tx).await?;
        }
        // Initial transition rows: pending, or resolved_manually for bypassed steps.
        let mut initial = Vec::with_capacity(t.steps.len());
        for (i, s) in t.steps.iter().enumerate() {
            initial.push((id_of(i)?, s.bypassed));
        }
        Self::insert_initial_transitions(tx, &initial, now).await?;
        for (i, s) in t.steps.iter().enumerate() {
            if s.bypassed {
                rec.push(Recorded {
                    entity: Entity::Step,
                    task_id,
                    step_id: Some(id_of(i)?),
                    step_name: Some(s.name.clone()),
                    from: None,
                    to: State::ResolvedManually,
                    metadata: serde_json::json!({"reason": "bypassed"}),
                });
            }
        }
        if unfinished == 0 {
            Self::drive_task(
                tx,
                &mut rec,
                task_id,
                State::Pending,
                State::Complete,
                serde_json::json!({"reason": "all_steps_bypassed"}),
                now,
            )
            .await?;
        } else {
            Self::notify_ready(tx).await?;
        }
        w.tx.commit().await?;
        if PG && t.steps.len() >= BULK_ANALYZE_STEPS {
            self.analyze_after_bulk_insert(t.steps.len()).await;
        }
        Ok((
            CreatedTask {
                task_id,
                created: true,
            },
            rec,
        ))
    }

    /// Inserts step rows of a task, in chunks (multi-row INSERT ... RETURNING); returns the
    /// ids of the rows inserted by name. With `skip_existing`, a name the task already has is
    /// left alone (the (task_id, name) key; a decision's steps are created once).
    pub(super) async fn insert_steps(
        tx: &mut Tx,
        task_id: i64,
        steps: &[NewStep],
        start_at: i64,
        now: i64,
        priority: i64,
        skip_existing: bool,
    ) -> Result<HashMap<String, i64>> {
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(steps.len());
        for chunk in steps.chunks(400) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
                "INSERT INTO tasker_workflow_steps (task_id, {}, state, attempts, ready_at, results, \
                 processed_at, created_at, updated_at, priority, batch_failure) ",
                step_column_names("")
            ));
            qb.push_values(chunk, |mut b, s| {
                let ready_at = if s.bypassed { None } else { Some(start_at) };
                b.push_bind(task_id);
                for (_, col) in step_columns(s) {
                    match col {
                        Col::Int(v) => b.push_bind(v),
                        Col::Float(v) => b.push_bind(v),
                        Col::Bool(v) => b.push_bind(v),
                        Col::Text(v) => b.push_bind(v.map(str::to_owned)),
                        Col::Json(v) => b.push_bind(Json(v.clone())),
                    };
                }
                b.push_bind(if s.bypassed {
                    "resolved_manually"
                } else {
                    "pending"
                })
                .push_bind(0i64)
                .push_bind(ready_at)
                .push_bind(if s.bypassed {
                    Some(Json(serde_json::json!({"bypassed": true})))
                } else {
                    None
                })
                .push_bind(if s.bypassed { Some(now) } else { None })
                .push_bind(now)
                .push_bind(now)
                .push_bind(priority)
                .push_bind(s.batch_failure.map(|f| f.as_str()));
            });
            if skip_existing {
                qb.push(" ON CONFLICT (task_id, name) DO NOTHING");
            }
            qb.push(" RETURNING workflow_step_id, name");
            let rows = qb.build().fetch_all(&mut **tx).await?;
            for r in rows {
                ids.insert(r.try_get("name")?, r.try_get("workflow_step_id")?);
            }
        }
        Ok(ids)
    }

    /// The first transition row of each new step `(id, bypassed)`: pending, or
    /// resolved_manually for a bypassed step.
    pub(super) async fn insert_initial_transitions(
        tx: &mut Tx,
        initial: &[(i64, bool)],
        now: i64,
    ) -> Result<()> {
        for chunk in initial.chunks(1000) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "INSERT INTO tasker_workflow_step_transitions (workflow_step_id, from_state, to_state, metadata, \
                 sort_key, created_at) ",
            );
            qb.push_values(chunk, |mut b, (id, bypassed)| {
                let (to, meta) = if *bypassed {
                    (
                        "resolved_manually",
                        serde_json::json!({"reason": "bypassed"}),
                    )
                } else {
                    ("pending", serde_json::json!({}))
                };
                b.push_bind(*id)
                    .push_bind(None::<String>)
                    .push_bind(to)
                    .push_bind(Json(meta))
                    .push_bind(10i64)
                    .push_bind(now);
            });
            qb.build().execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// After a task of many steps (PostgreSQL): when its rows are a tenth or more of the step
    /// table (what autovacuum's analyze threshold waits for, but autovacuum only looks once a
    /// minute), refresh the planner statistics of the step tables now. Without them the
    /// batched claim and completion statements of the task's own run are planned for a table a
    /// tenth of its size (make bench, fan-out 10,000: the run took twice as long on a new
    /// database). Best effort: a failure (e.g. a role that does not own the tables) is logged.
    pub(super) async fn analyze_after_bulk_insert(&self, steps: usize) {
        let run = async {
            let estimate: f32 = sqlx::query_scalar(
                "SELECT reltuples FROM pg_class WHERE oid = 'tasker_workflow_steps'::regclass",
            )
            .fetch_one(&self.pool)
            .await?;
            // reltuples is -1 until the table was first analyzed.
            if estimate < 0.0 || steps as f64 >= 0.1 * f64::from(estimate) {
                sqlx::query("ANALYZE tasker_workflow_steps, tasker_workflow_step_edges, tasker_workflow_step_transitions")
                    .execute(&self.pool)
                    .await?;
            }
            Ok::<(), Error>(())
        };
        if let Err(e) = run.await {
            tracing::warn!(error = %e, "ANALYZE after a large task failed; the planner catches up at the next autovacuum");
        }
    }

    /// Asks for a NOTIFY on `FINISHED_CHANNEL` when the task finishes or becomes blocked:
    /// `wait_task` calls it before it first looks at the task. Only watched tasks are notified
    /// (PostgreSQL serialises notifying commits; migration 0021 says why no wakeup is lost).
    /// Idempotent; nothing on SQLite.
    pub async fn watch_finish(&self, task_id: i64) -> Result<()> {
        if let Some(sql) = sql::WATCH_FINISH {
            sqlx::query(sql).bind(task_id).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Moves a pending task to in_progress (after the claim that started it committed, so the
    /// claim never waits on a task lock while holding step locks).
    pub async fn start_task(&self, task_id: i64, now: i64) -> Result<Vec<Recorded>> {
        let mut rec = Vec::new();
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let state = Self::lock_task(tx, task_id).await?;
        if state == State::Pending {
            Self::drive_task(
                tx,
                &mut rec,
                task_id,
                state,
                State::InProgress,
                serde_json::json!({}),
                now,
            )
            .await?;
            w.tx.commit().await?;
        } else {
            w.tx.rollback().await?;
        }
        Ok(rec)
    }
}

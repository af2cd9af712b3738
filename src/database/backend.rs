// Included twice by database/mod.rs, once per sqlx driver (`Db`, `PG`). Keep it dialect-neutral:
// `$N` placeholders (both drivers), TRUE/FALSE literals, RETURNING, ON CONFLICT, FILTER clauses.

use super::*;
use crate::config::{BackoffConfig, BackoffOverride};
use crate::state_machine::{self, Entity};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

type Tx = sqlx::Transaction<'static, Db>;

const STATES_ACTIVE: &str = "('pending','in_progress')";

/// Tasks with at least this many steps may refresh the planner statistics (PostgreSQL).
const BULK_ANALYZE_STEPS: usize = 1000;

/// Run-context columns of a step (alias `s`), then of its task (`t`, `nt`, `ns`).
const LOAD_STEP_COLUMNS: &str = "s.handler_name, s.retry_limit, s.retryable, s.inputs, s.handler_config, s.lease_ms, \
     s.backoff_base_ms, s.backoff_factor, s.backoff_max_ms, s.backoff_jitter";
const LOAD_TASK_COLUMNS: &str = "t.context, t.initiator, t.source_system, t.reason, t.tags, nt.name AS task_name, \
     nt.version, ns.name AS namespace";
/// Joins for `LOAD_TASK_COLUMNS`; `{step}` is the alias of the row carrying the step's task_id.
const LOAD_TASK_JOINS: &str = " JOIN tasker_tasks t ON t.task_id = {step}.task_id \
     JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id \
     JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id";
/// A step's parents (`p`) through its incoming edges (`e`).
const DEPS_FROM: &str =
    "FROM tasker_workflow_step_edges e JOIN tasker_workflow_steps p ON p.workflow_step_id = e.from_step_id";

/// Arguments of a hand-numbered query: each push returns its placeholder (`$1`, `$2`, ... in
/// push order). One call can then carry several statements that share parameters by number
/// (sqlx-sqlite binds `$N` by number in every statement of a multi-statement call).
#[derive(Default)]
struct NumberedArgs(Vec<Arg>);

enum Arg {
    Int(i64),
    Text(String),
    Json(Value),
}

impl NumberedArgs {
    fn push(&mut self, a: Arg) -> String {
        self.0.push(a);
        format!("${}", self.0.len())
    }
    fn int(&mut self, v: i64) -> String {
        self.push(Arg::Int(v))
    }
    fn text(&mut self, v: &str) -> String {
        self.push(Arg::Text(v.to_string()))
    }
    fn json(&mut self, v: Value) -> String {
        self.push(Arg::Json(v))
    }
    fn bind<'q>(
        self,
        mut q: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>,
    ) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>> {
        for a in self.0 {
            q = match a {
                Arg::Int(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::Json(v) => q.bind(Json(v)),
            };
        }
        q
    }
}

/// SQLite statements appending one step transition `from -> to` per row (step id, metadata):
/// flip the current rows, then insert the new ones (sort key = the step's highest + 10).
fn sqlite_step_transitions_sql(args: &mut NumberedArgs, rows: &[(i64, Value)], from: &str, to: &str, now: &str) -> String {
    let ids: Vec<String> = rows.iter().map(|(id, _)| args.int(*id)).collect();
    let values = rows
        .iter()
        .zip(&ids)
        .map(|((_, m), id)| {
            let m = args.json(m.clone());
            format!(
                "({id}, '{from}', '{to}', {m}, (SELECT COALESCE(MAX(sort_key), 0) + 10 \
                 FROM tasker_workflow_step_transitions WHERE workflow_step_id = {id}), TRUE, {now}, {now})"
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE tasker_workflow_step_transitions SET most_recent = FALSE, updated_at = {now} \
         WHERE most_recent = TRUE AND workflow_step_id IN ({}); \
         INSERT INTO tasker_workflow_step_transitions \
         (workflow_step_id, from_state, to_state, metadata, sort_key, most_recent, created_at, updated_at) VALUES {values}",
        ids.join(", ")
    )
}

/// The parents' results of the step aliased `step`, as one JSON object (or NULL): a column.
fn deps_column(step: &str) -> String {
    let agg = if PG {
        "jsonb_object_agg(p.name, p.results)"
    } else {
        "json_group_object(p.name, json(p.results))"
    };
    format!("(SELECT {agg} {DEPS_FROM} WHERE e.to_step_id = {step}.workflow_step_id) AS deps")
}

/// A claimed step's run context from a row carrying `LOAD_STEP_COLUMNS`, `LOAD_TASK_COLUMNS`,
/// `task_id` and `deps` (see `deps_column`).
fn loaded_from_row(r: &<Db as sqlx::Database>::Row, c: &Claimed) -> Result<LoadedStep> {
    let inputs: Json<Value> = r.try_get("inputs")?;
    let handler_config: Json<Value> = r.try_get("handler_config")?;
    let context: Json<Value> = r.try_get("context")?;
    let tags: Json<Value> = r.try_get("tags")?;
    let base: Option<i64> = r.try_get("backoff_base_ms")?;
    let max: Option<i64> = r.try_get("backoff_max_ms")?;
    let deps: Option<Json<Value>> = r.try_get("deps")?;
    let dependency_results = match deps.map(|j| j.0) {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => Default::default(),
        Some(other) => return Err(Error::Internal(format!("dependency results are not an object: {other}"))),
    };
    Ok(LoadedStep {
        context: StepContext {
            task: TaskInfo {
                task_id: r.try_get("task_id")?,
                namespace: r.try_get("namespace")?,
                name: r.try_get("task_name")?,
                version: r.try_get("version")?,
                context: context.0,
                initiator: r.try_get("initiator")?,
                source_system: r.try_get("source_system")?,
                reason: r.try_get("reason")?,
                tags: tags.0,
            },
            step: StepInfo {
                step_id: c.step_id,
                name: c.name.clone(),
                handler: r.try_get("handler_name")?,
                attempt: c.attempts,
                retry_limit: r.try_get("retry_limit")?,
                retryable: r.try_get("retryable")?,
                inputs: inputs.0,
                handler_config: handler_config.0,
            },
            dependency_results,
            claim_token: c.claim_token.clone(),
        },
        backoff: BackoffOverride {
            base_ms: base.map(|v| v.max(0) as u64),
            factor: r.try_get("backoff_factor")?,
            max_ms: max.map(|v| v.max(0) as u64),
            jitter: r.try_get("backoff_jitter")?,
        },
        lease_ms: r.try_get("lease_ms")?,
    })
}

pub struct Backend {
    pub pool: sqlx::Pool<Db>,
    /// SQLite allows one writer: in-process writers queue here instead of spinning on SQLITE_BUSY.
    write_lock: Option<tokio::sync::Mutex<()>>,
}

/// One transition row to append: `id` is the task id or the step id, depending on the entity.
struct TransitionRow {
    task_id: i64,
    id: i64,
    step_name: Option<String>,
    from: Option<State>,
    to: State,
    metadata: Value,
}

/// A write transaction; on SQLite it also holds the in-process writer lock.
struct WriteTx<'a> {
    tx: Tx,
    _guard: Option<tokio::sync::MutexGuard<'a, ()>>,
}

impl Backend {
    fn new(pool: sqlx::Pool<Db>) -> Backend {
        Backend {
            pool,
            write_lock: if PG { None } else { Some(tokio::sync::Mutex::new(())) },
        }
    }

    async fn begin(&self) -> Result<WriteTx<'_>> {
        match &self.write_lock {
            Some(lock) => {
                let guard = lock.lock().await;
                // IMMEDIATE takes the write lock up front, so a read-then-write transaction never
                // fails on lock upgrade; other processes wait in the busy handler.
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(WriteTx {
                    tx,
                    _guard: Some(guard),
                })
            }
            None => Ok(WriteTx {
                tx: self.pool.begin().await?,
                _guard: None,
            }),
        }
    }

    /// Locks the task row (PostgreSQL) and returns its state. Every write that touches a task's
    /// steps after claim time takes this lock first, which orders them and avoids deadlocks.
    async fn lock_task(tx: &mut Tx, task_id: i64) -> Result<State> {
        let sql = if PG {
            "SELECT state FROM tasker_tasks WHERE task_id = $1 FOR UPDATE"
        } else {
            "SELECT state FROM tasker_tasks WHERE task_id = $1"
        };
        let row: Option<String> = sqlx::query_scalar(sql)
            .bind(task_id)
            .fetch_optional(&mut **tx)
            .await?;
        match row {
            Some(s) => state_of(&s),
            None => Err(Error::TaskNotFound(task_id)),
        }
    }

    async fn notify_ready(tx: &mut Tx) -> Result<()> {
        if PG {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(READY_CHANNEL)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Appends a transition row (the previous one stops being `most_recent`) and records it.
    async fn transition(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        entity: Entity,
        task_id: i64,
        step: Option<(i64, &str)>,
        from: Option<State>,
        to: State,
        metadata: Value,
        now: i64,
    ) -> Result<()> {
        let id = match (entity, step) {
            (Entity::Step, Some((sid, _))) => sid,
            _ => task_id,
        };
        let row = TransitionRow {
            task_id,
            id,
            step_name: step.map(|s| s.1.to_string()),
            from,
            to,
            metadata,
        };
        Self::transitions(tx, rec, entity, &[row], now).await
    }

    /// Appends one transition row for each of several distinct entities in ONE statement (one
    /// round trip instead of two per row: the flag flip of the previous `most_recent` row and the
    /// insert of the new one travel together). An entity may appear only once per call.
    async fn transitions(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        entity: Entity,
        rows: &[TransitionRow],
        now: i64,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        for r in rows {
            if let Some(f) = r.from {
                if !state_machine::allowed(entity, f, r.to) {
                    return Err(Error::IllegalTransition {
                        entity: if entity == Entity::Task { "task" } else { "step" },
                        from: f.to_string(),
                        to: r.to.to_string(),
                    });
                }
            }
        }
        let (table, col) = match entity {
            Entity::Step => ("tasker_workflow_step_transitions", "workflow_step_id"),
            Entity::Task => ("tasker_task_transitions", "task_id"),
        };
        let mut qb: QueryBuilder<Db> = QueryBuilder::new("");
        if PG {
            // A data-modifying CTE: `prev` flips the old row; reading its RETURNING (for the
            // sort key) makes it run before the insert, so the partial unique index on
            // most_recent never sees two current rows.
            qb.push("WITH v (id, from_state, to_state, metadata) AS (");
            qb.push_values(rows, |mut b, r| {
                b.push_bind(r.id)
                    .push_bind(r.from.map(|s| s.as_str()))
                    .push_bind(r.to.as_str())
                    .push_bind(Json(&r.metadata));
            });
            qb.push(format!(
                "), prev AS (UPDATE {table} SET most_recent = FALSE, updated_at = "
            ));
            qb.push_bind(now);
            qb.push(format!(
                " WHERE {col} IN (SELECT id FROM v) AND most_recent = TRUE RETURNING {col} AS id, sort_key) \
                 INSERT INTO {table} ({col}, from_state, to_state, metadata, sort_key, most_recent, created_at, updated_at) \
                 SELECT v.id, v.from_state, v.to_state, v.metadata, COALESCE(prev.sort_key, 0) + 10, TRUE, "
            ));
            qb.push_bind(now);
            qb.push(", ");
            qb.push_bind(now);
            qb.push(" FROM v LEFT JOIN prev ON prev.id = v.id");
        } else {
            // SQLite runs several statements of one query string in order, in one call to its
            // connection thread; `$N` parameters are shared by position.
            qb.push(format!("UPDATE {table} SET most_recent = FALSE, updated_at = "));
            qb.push_bind(now);
            qb.push(format!(" WHERE most_recent = TRUE AND {col} IN ("));
            let mut ids = qb.separated(", ");
            for r in rows {
                ids.push_bind(r.id);
            }
            qb.push(format!(
                "); INSERT INTO {table} ({col}, from_state, to_state, metadata, sort_key, most_recent, created_at, updated_at) "
            ));
            qb.push_values(rows, |mut b, r| {
                b.push_bind(r.id)
                    .push_bind(r.from.map(|s| s.as_str()))
                    .push_bind(r.to.as_str())
                    .push_bind(Json(&r.metadata))
                    .push(format!("(SELECT COALESCE(MAX(sort_key), 0) + 10 FROM {table} WHERE {col} = "))
                    .push_bind_unseparated(r.id)
                    .push_unseparated(")")
                    .push("TRUE")
                    .push_bind(now)
                    .push_bind(now);
            });
        }
        qb.build().execute(&mut **tx).await?;
        for r in rows {
            rec.push(Recorded {
                entity,
                task_id: r.task_id,
                step_id: (entity == Entity::Step).then_some(r.id),
                step_name: r.step_name.clone(),
                from: r.from,
                to: r.to,
                metadata: r.metadata.clone(),
            });
        }
        Ok(())
    }

    /// Moves the task (locked by the caller) from `current` to `target` along legal transitions.
    async fn drive_task(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        task_id: i64,
        current: State,
        target: State,
        metadata: Value,
        now: i64,
    ) -> Result<()> {
        use State::*;
        let path: &[State] = match (current, target) {
            (a, b) if a == b => &[],
            (Pending, Complete) => &[InProgress, Complete],
            (Error, Complete) => &[Pending, InProgress, Complete],
            (Error, InProgress) => &[Pending, InProgress],
            _ => &[],
        };
        let path: Vec<State> = if path.is_empty() && current != target {
            vec![target]
        } else {
            path.to_vec()
        };
        // Each hop is ONE round trip: the task row and its transition row (a data-modifying CTE
        // on PostgreSQL, one multi-statement call on SQLite).
        let update = "UPDATE tasker_tasks SET state = $2, complete = $3, \
                      completed_at = CASE WHEN $3 THEN $4 ELSE completed_at END, updated_at = $4 WHERE task_id = $1";
        let cols = "(task_id, from_state, to_state, metadata, sort_key, most_recent, created_at, updated_at)";
        let sql = if PG {
            format!(
                "WITH up AS ({update} RETURNING task_id), \
                 prev AS (UPDATE tasker_task_transitions SET most_recent = FALSE, updated_at = $4 \
                 WHERE task_id IN (SELECT task_id FROM up) AND most_recent = TRUE RETURNING sort_key) \
                 INSERT INTO tasker_task_transitions {cols} \
                 SELECT task_id, $5, $2, $6, COALESCE((SELECT sort_key FROM prev), 0) + 10, TRUE, $4, $4 FROM up"
            )
        } else {
            format!(
                "{update}; \
                 UPDATE tasker_task_transitions SET most_recent = FALSE, updated_at = $4 WHERE task_id = $1 AND most_recent = TRUE; \
                 INSERT INTO tasker_task_transitions {cols} VALUES ($1, $5, $2, $6, \
                 (SELECT COALESCE(MAX(sort_key), 0) + 10 FROM tasker_task_transitions WHERE task_id = $1), TRUE, $4, $4)"
            )
        };
        let mut from = current;
        for to in path {
            if !state_machine::allowed(Entity::Task, from, to) {
                return Err(crate::error::Error::IllegalTransition {
                    entity: "task",
                    from: from.to_string(),
                    to: to.to_string(),
                });
            }
            sqlx::query(&sql)
                .bind(task_id)
                .bind(to.as_str())
                .bind(to == Complete)
                .bind(now)
                .bind(from.as_str())
                .bind(Json(&metadata))
                .execute(&mut **tx)
                .await?;
            rec.push(Recorded {
                entity: Entity::Task,
                task_id,
                step_id: None,
                step_name: None,
                from: Some(from),
                to,
                metadata: metadata.clone(),
            });
            from = to;
        }
        Ok(())
    }

    pub async fn upsert_template(
        &self,
        namespace: &str,
        name: &str,
        version: &str,
        description: Option<&str>,
        configuration: &Value,
        steps: &[(String, String, Option<String>)],
        now: i64,
    ) -> Result<(i64, Vec<i64>)> {
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let ns_id: i64 = sqlx::query_scalar(
            "INSERT INTO tasker_task_namespaces (name, created_at, updated_at) VALUES ($1, $2, $2) \
             ON CONFLICT (name) DO UPDATE SET updated_at = EXCLUDED.updated_at RETURNING task_namespace_id",
        )
        .bind(namespace)
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        let named_task_id: i64 = sqlx::query_scalar(
            "INSERT INTO tasker_named_tasks (task_namespace_id, name, version, description, configuration, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (task_namespace_id, name, version) DO UPDATE SET \
             description = EXCLUDED.description, configuration = EXCLUDED.configuration, updated_at = EXCLUDED.updated_at \
             RETURNING named_task_id",
        )
        .bind(ns_id)
        .bind(name)
        .bind(version)
        .bind(description)
        .bind(Json(configuration))
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        let mut systems: HashMap<&str, i64> = HashMap::new();
        let mut ids = Vec::with_capacity(steps.len());
        for (step_name, system, desc) in steps {
            let sys_id = match systems.get(system.as_str()) {
                Some(id) => *id,
                None => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO tasker_dependent_systems (name, created_at, updated_at) VALUES ($1, $2, $2) \
                         ON CONFLICT (name) DO UPDATE SET updated_at = EXCLUDED.updated_at RETURNING dependent_system_id",
                    )
                    .bind(system)
                    .bind(now)
                    .fetch_one(&mut **tx)
                    .await?;
                    systems.insert(system.as_str(), id);
                    id
                }
            };
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO tasker_named_steps (dependent_system_id, name, description, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (dependent_system_id, name) DO UPDATE SET updated_at = EXCLUDED.updated_at \
                 RETURNING named_step_id",
            )
            .bind(sys_id)
            .bind(step_name)
            .bind(desc.as_deref())
            .bind(now)
            .fetch_one(&mut **tx)
            .await?;
            ids.push(id);
        }
        w.tx.commit().await?;
        Ok((named_task_id, ids))
    }

    pub async fn template_configurations(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<(String, Value)>> {
        let rows = sqlx::query(
            "SELECT nt.version, nt.configuration FROM tasker_named_tasks nt \
             JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id \
             WHERE ns.name = $1 AND nt.name = $2",
        )
        .bind(namespace)
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let v: String = r.try_get("version")?;
                let c: Json<Value> = r.try_get("configuration")?;
                Ok((v, c.0))
            })
            .collect()
    }

    pub async fn create_task(&self, t: &NewTask, now: i64) -> Result<(CreatedTask, Vec<Recorded>)> {
        let mut rec = Vec::new();
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let unfinished = t.steps.iter().filter(|s| !s.bypassed).count() as i64;
        let task_id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO tasker_tasks (named_task_id, state, complete, requested_at, initiator, source_system, reason, \
             bypass_steps, tags, context, identity_hash, total_steps, unfinished_steps, created_at, updated_at) \
             VALUES ($1, 'pending', FALSE, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $2, $2) \
             ON CONFLICT (identity_hash) DO NOTHING RETURNING task_id",
        )
        .bind(t.named_task_id)
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
        .fetch_optional(&mut **tx)
        .await?;
        let task_id = match task_id {
            Some(id) => id,
            None => {
                let existing: i64 = sqlx::query_scalar(
                    "SELECT task_id FROM tasker_tasks WHERE identity_hash = $1",
                )
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
        Self::transition(tx, &mut rec, Entity::Task, task_id, None, None, State::Pending, serde_json::json!({}), now)
            .await?;

        // Steps, in chunks (multi-row INSERT ... RETURNING; rows are matched back by name).
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(t.steps.len());
        for chunk in t.steps.chunks(400) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "INSERT INTO tasker_workflow_steps (task_id, named_step_id, name, handler_name, handler_config, state, \
                 retryable, retry_limit, skippable, attempts, ready_at, pending_parents, lease_ms, backoff_base_ms, \
                 backoff_factor, backoff_max_ms, backoff_jitter, inputs, results, processed_at, created_at, updated_at) ",
            );
            qb.push_values(chunk, |mut b, s| {
                let ready_at = if s.bypassed { None } else { Some(now) };
                b.push_bind(task_id)
                    .push_bind(s.named_step_id)
                    .push_bind(s.name.clone())
                    .push_bind(s.handler.clone())
                    .push_bind(Json(s.handler_config.clone()))
                    .push_bind(if s.bypassed { "resolved_manually" } else { "pending" })
                    .push_bind(s.retryable)
                    .push_bind(s.retry_limit)
                    .push_bind(s.skippable)
                    .push_bind(0i64)
                    .push_bind(ready_at)
                    .push_bind(s.pending_parents)
                    .push_bind(s.lease_ms)
                    .push_bind(s.backoff.base_ms.map(|v| v as i64))
                    .push_bind(s.backoff.factor)
                    .push_bind(s.backoff.max_ms.map(|v| v as i64))
                    .push_bind(s.backoff.jitter)
                    .push_bind(Json(s.inputs.clone()))
                    .push_bind(if s.bypassed {
                        Some(Json(serde_json::json!({"bypassed": true})))
                    } else {
                        None
                    })
                    .push_bind(if s.bypassed { Some(now) } else { None })
                    .push_bind(now)
                    .push_bind(now);
            });
            qb.push(" RETURNING workflow_step_id, name");
            let rows = qb.build().fetch_all(&mut **tx).await?;
            for r in rows {
                ids.insert(r.try_get("name")?, r.try_get("workflow_step_id")?);
            }
        }
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
                b.push_bind(*f).push_bind(*to).push_bind("provides").push_bind(now).push_bind(now);
            });
            qb.build().execute(&mut **tx).await?;
        }
        // Initial transition rows: pending, or resolved_manually for bypassed steps.
        let mut initial = Vec::with_capacity(t.steps.len());
        for (i, s) in t.steps.iter().enumerate() {
            initial.push((id_of(i)?, s.bypassed));
        }
        for chunk in initial.chunks(1000) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "INSERT INTO tasker_workflow_step_transitions (workflow_step_id, from_state, to_state, metadata, \
                 sort_key, most_recent, created_at, updated_at) ",
            );
            qb.push_values(chunk, |mut b, (id, bypassed)| {
                let (to, meta) = if *bypassed {
                    ("resolved_manually", serde_json::json!({"reason": "bypassed"}))
                } else {
                    ("pending", serde_json::json!({}))
                };
                b.push_bind(*id)
                    .push_bind(None::<String>)
                    .push_bind(to)
                    .push_bind(Json(meta))
                    .push_bind(10i64)
                    .push_bind(true)
                    .push_bind(now)
                    .push_bind(now);
            });
            qb.build().execute(&mut **tx).await?;
        }
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
            Self::drive_task(tx, &mut rec, task_id, State::Pending, State::Complete, serde_json::json!({"reason": "all_steps_bypassed"}), now).await?;
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

    /// After a task of many steps (PostgreSQL): when its rows are a tenth or more of the step
    /// table (what autovacuum's analyze threshold waits for, but autovacuum only looks once a
    /// minute), refresh the planner statistics of the step tables now. Without them the
    /// batched claim and completion statements of the task's own run are planned for a table a
    /// tenth of its size (make bench, fan-out 10,000: the run took twice as long on a new
    /// database). Best effort: a failure (e.g. a role that does not own the tables) is logged.
    async fn analyze_after_bulk_insert(&self, steps: usize) {
        let run = async {
            let estimate: f32 = sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = 'tasker_workflow_steps'::regclass")
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

    pub async fn claim(
        &self,
        scope: ClaimScope,
        limit: i64,
        now: i64,
    ) -> Result<(Vec<Claimed>, Vec<Recorded>)> {
        let mut rec = Vec::new();
        let mut w = self.begin().await?;
        let (claimed, _) = Self::claim_scoped(&mut w.tx, &mut rec, scope, limit, now, false).await?;
        w.tx.commit().await?;
        Ok((claimed, rec))
    }

    /// Claims like [`Backend::claim`] and, in the same transaction, loads what each claimed step
    /// needs to run (task, step, dependency results): the foundation then needs no further
    /// connection checkout or round trip before calling the handler.
    pub async fn claim_loaded(
        &self,
        scope: ClaimScope,
        limit: i64,
        now: i64,
    ) -> Result<(Vec<ClaimedStep>, Vec<Recorded>)> {
        let mut rec = Vec::new();
        let mut w = self.begin().await?;
        let (claimed, loaded) = Self::claim_scoped(&mut w.tx, &mut rec, scope, limit, now, true).await?;
        w.tx.commit().await?;
        Ok((claimed.into_iter().zip(loaded).collect(), rec))
    }

    /// A claim inside `tx`, starting the claimed steps' pending tasks in the same transaction
    /// (instead of a separate one after commit). For one task (inline runs) the task row is
    /// locked FIRST — the documented lock order, task then steps. Other scopes never wait for a
    /// task lock: they only start tasks whose row is free (the caller starts the rest).
    async fn claim_scoped(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        scope: ClaimScope,
        limit: i64,
        now: i64,
        load: bool,
    ) -> Result<(Vec<Claimed>, Vec<LoadedStep>)> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let ClaimScope::Task(task_id) = scope else {
            let mut step_rec = Vec::new();
            let (mut claimed, loaded) = Self::claim_in(tx, &mut step_rec, scope, limit, now, &token, load).await?;
            // Start pending tasks here too, saving their own transaction (and WAL flush), but
            // only those whose row can be locked without waiting (SKIP LOCKED): this claim
            // already holds step locks, so it must never wait for a task lock. A task skipped
            // here is started by the caller after commit (`start_task`), as before.
            let mut pending: Vec<i64> = claimed
                .iter()
                .filter(|c| c.task_state == State::Pending)
                .map(|c| c.task_id)
                .collect();
            pending.sort_unstable();
            pending.dedup();
            if !pending.is_empty() {
                let list = (1..=pending.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
                let sql = format!(
                    "SELECT task_id FROM tasker_tasks WHERE task_id IN ({list}) AND state = 'pending' ORDER BY task_id{}",
                    if PG { " FOR UPDATE SKIP LOCKED" } else { "" }
                );
                let mut q = sqlx::query_scalar::<_, i64>(&sql);
                for id in &pending {
                    q = q.bind(*id);
                }
                for id in q.fetch_all(&mut **tx).await? {
                    Self::drive_task(tx, rec, id, State::Pending, State::InProgress, serde_json::json!({}), now).await?;
                    for c in claimed.iter_mut().filter(|c| c.task_id == id) {
                        c.task_state = State::InProgress;
                    }
                }
            }
            // Task events first, as when tasks were started in their own transaction.
            rec.append(&mut step_rec);
            return Ok((claimed, loaded));
        };
        let state = match Self::lock_task(tx, task_id).await {
            Ok(s) => s,
            Err(Error::TaskNotFound(_)) => return Ok((Vec::new(), Vec::new())),
            Err(e) => return Err(e),
        };
        if !matches!(state, State::Pending | State::InProgress) {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut step_rec = Vec::new();
        let (mut claimed, loaded) = Self::claim_in(tx, &mut step_rec, scope, limit, now, &token, load).await?;
        if state == State::Pending && !claimed.is_empty() {
            // Task events first, as when the task was started in its own transaction.
            Self::drive_task(tx, rec, task_id, state, State::InProgress, serde_json::json!({}), now).await?;
            for c in &mut claimed {
                c.task_state = State::InProgress;
            }
        }
        rec.append(&mut step_rec);
        Ok((claimed, loaded))
    }

    /// The claim statement(s) inside `tx`: no task lock taken or awaited. With `load`, the run
    /// context of every claimed step comes back too (second vector, same order): the foundation
    /// then needs no further round trip before calling the handler.
    ///
    /// Round trips: PostgreSQL ONE statement (a data-modifying CTE: lock + update the
    /// candidates, flip and append their transition rows, return the run contexts); SQLite two
    /// calls (pick the candidates, then one multi-statement call that updates them, appends
    /// the transitions and selects the run contexts).
    async fn claim_in(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        scope: ClaimScope,
        limit: i64,
        now: i64,
        token: &str,
        load: bool,
    ) -> Result<(Vec<Claimed>, Vec<LoadedStep>)> {
        let filter = match scope {
            ClaimScope::Any => "",
            ClaimScope::Task(_) => " AND ws.task_id = $4",
            ClaimScope::Step(_) => " AND ws.workflow_step_id = $4",
        };
        let scope_id = match scope {
            ClaimScope::Any => 0,
            ClaimScope::Task(id) | ClaimScope::Step(id) => id,
        };
        let candidates = format!(
            "SELECT ws.workflow_step_id, ws.state AS old_state, t.state AS task_state, ws.task_id, ws.name, \
             ws.attempts, ws.ready_at AS claim_order \
             FROM tasker_workflow_steps ws JOIN tasker_tasks t ON t.task_id = ws.task_id \
             WHERE ws.ready_at IS NOT NULL AND ws.pending_parents = 0 AND ws.ready_at <= $1 \
             AND t.state IN {STATES_ACTIVE}{filter} \
             ORDER BY ws.ready_at, ws.workflow_step_id LIMIT $3"
        );
        let set = "state = 'in_progress', attempts = s.attempts + 1, last_attempted_at = $1, claim_token = $2, \
                   lease_expires_at = $1 + s.lease_ms, ready_at = NULL, backoff_request_ms = NULL, updated_at = $1";
        // The claimed rows in claim order: (step id, task id, name, attempts after the claim,
        // old state, task state) and, with `load`, the row carrying the run context.
        let mut claimed: Vec<(i64, i64, String, i64, String, String)> = Vec::new();
        let mut load_rows: Vec<<Db as sqlx::Database>::Row> = Vec::new();
        if PG {
            let (load_cols, load_join) = if load {
                (
                    format!(", {LOAD_TASK_COLUMNS}, {}", deps_column("cl")),
                    LOAD_TASK_JOINS.replace("{step}", "cl"),
                )
            } else {
                (String::new(), String::new())
            };
            // `prev` flips the current transition rows; `ins` reads them (for the sort key), so
            // each flip happens before its insert and the partial unique index on most_recent
            // never sees two current rows. A retried step (old state error) gets the
            // error -> pending hop the ancestor never made, then pending -> in_progress.
            let sql = format!(
                "WITH cl AS (UPDATE tasker_workflow_steps s SET {set} \
                 FROM ({candidates} FOR UPDATE OF ws SKIP LOCKED) c \
                 WHERE s.workflow_step_id = c.workflow_step_id \
                 RETURNING s.workflow_step_id, s.task_id, s.name, s.attempts, c.old_state, c.task_state, c.claim_order, \
                 {LOAD_STEP_COLUMNS}), \
                 prev AS (UPDATE tasker_workflow_step_transitions tr SET most_recent = FALSE, updated_at = $1 FROM cl \
                 WHERE tr.workflow_step_id = cl.workflow_step_id AND tr.most_recent = TRUE \
                 RETURNING tr.workflow_step_id AS id, tr.sort_key), \
                 ins AS (INSERT INTO tasker_workflow_step_transitions \
                 (workflow_step_id, from_state, to_state, metadata, sort_key, most_recent, created_at, updated_at) \
                 SELECT cl.workflow_step_id, x.from_state, x.to_state, x.metadata, COALESCE(prev.sort_key, 0) + x.k, \
                 x.most_recent, $1, $1 FROM cl LEFT JOIN prev ON prev.id = cl.workflow_step_id \
                 CROSS JOIN LATERAL (VALUES \
                 ('error', 'pending', jsonb_build_object('retry_attempt', cl.attempts), 10, FALSE), \
                 ('pending', 'in_progress', jsonb_build_object('attempt', cl.attempts), \
                 CASE WHEN cl.old_state = 'error' THEN 20 ELSE 10 END, TRUE)) \
                 AS x(from_state, to_state, metadata, k, most_recent) \
                 WHERE x.to_state = 'in_progress' OR cl.old_state = 'error') \
                 SELECT cl.*{load_cols} FROM cl{load_join} ORDER BY cl.claim_order, cl.workflow_step_id"
            );
            let mut q = sqlx::query(&sql).bind(now).bind(token).bind(limit);
            if scope != ClaimScope::Any {
                q = q.bind(scope_id);
            }
            for r in q.fetch_all(&mut **tx).await? {
                claimed.push((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                    r.try_get(5)?,
                ));
                if load {
                    load_rows.push(r);
                }
            }
        } else {
            // SQLite: the IMMEDIATE transaction already excludes every other writer, so what the
            // candidates query read stays true until this transaction ends.
            let mut q = sqlx::query(&candidates).bind(now).bind(token).bind(limit);
            if scope != ClaimScope::Any {
                q = q.bind(scope_id);
            }
            let rows = q.fetch_all(&mut **tx).await?;
            if rows.is_empty() {
                return Ok((Vec::new(), Vec::new()));
            }
            for r in &rows {
                let attempts: i64 = r.try_get(5)?;
                claimed.push((r.try_get(0)?, r.try_get(3)?, r.try_get(4)?, attempts + 1, r.try_get(1)?, r.try_get(2)?));
            }
            // One call: the update, the transition rows (hops, then starts), the run contexts.
            // Explicit `$N` placeholders only: sqlx-sqlite shares them by number across the
            // statements of one call.
            let mut args = NumberedArgs::default();
            // `set` refers to the time as $1 and the token as $2: pushed first, in that order.
            let now_p = args.int(now);
            args.text(token);
            let ids = claimed.iter().map(|c| args.int(c.0)).collect::<Vec<_>>().join(", ");
            let mut sql = format!("UPDATE tasker_workflow_steps AS s SET {set} WHERE s.workflow_step_id IN ({ids})");
            let hops: Vec<(i64, Value)> = claimed
                .iter()
                .filter(|c| c.4 == "error")
                .map(|c| (c.0, serde_json::json!({"retry_attempt": c.3})))
                .collect();
            let starts: Vec<(i64, Value)> =
                claimed.iter().map(|c| (c.0, serde_json::json!({"attempt": c.3}))).collect();
            for (rows, from, to) in [(&hops, "error", "pending"), (&starts, "pending", "in_progress")] {
                if !rows.is_empty() {
                    sql.push_str("; ");
                    sql.push_str(&sqlite_step_transitions_sql(&mut args, rows, from, to, &now_p));
                }
            }
            if load {
                sql.push_str(&format!(
                    "; SELECT s.workflow_step_id, s.task_id, {LOAD_STEP_COLUMNS}, {LOAD_TASK_COLUMNS}, {} \
                     FROM tasker_workflow_steps s{} WHERE s.workflow_step_id IN ({ids})",
                    deps_column("s"),
                    LOAD_TASK_JOINS.replace("{step}", "s")
                ));
            }
            let mut by_id: HashMap<i64, <Db as sqlx::Database>::Row> = HashMap::new();
            for r in args.bind(sqlx::query(&sql)).fetch_all(&mut **tx).await? {
                by_id.insert(r.try_get("workflow_step_id")?, r);
            }
            if load {
                for c in &claimed {
                    load_rows.push(by_id.remove(&c.0).ok_or(Error::StepNotFound(c.0))?);
                }
            }
        }
        // Transition records for the whole batch: the retry hops first, then every start.
        let mut out = Vec::with_capacity(claimed.len());
        let mut starts = Vec::with_capacity(claimed.len());
        for (step_id, task_id, name, attempts, old_state, task_state) in claimed {
            let step = |from, to, metadata| Recorded {
                entity: Entity::Step,
                task_id,
                step_id: Some(step_id),
                step_name: Some(name.clone()),
                from: Some(from),
                to,
                metadata,
            };
            if state_of(&old_state)? == State::Error {
                rec.push(step(State::Error, State::Pending, serde_json::json!({"retry_attempt": attempts})));
            }
            starts.push(step(State::Pending, State::InProgress, serde_json::json!({"attempt": attempts})));
            out.push(Claimed {
                step_id,
                task_id,
                name,
                attempts,
                claim_token: token.to_string(),
                task_state: state_of(&task_state)?,
            });
        }
        rec.append(&mut starts);
        let loaded = load_rows
            .iter()
            .zip(&out)
            .map(|(r, c)| loaded_from_row(r, c))
            .collect::<Result<Vec<_>>>()?;
        Ok((out, loaded))
    }

    /// Moves a pending task to in_progress (after the claim that started it committed, so the
    /// claim never waits on a task lock while holding step locks).
    pub async fn start_task(&self, task_id: i64, now: i64) -> Result<Vec<Recorded>> {
        let mut rec = Vec::new();
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let state = Self::lock_task(tx, task_id).await?;
        if state == State::Pending {
            Self::drive_task(tx, &mut rec, task_id, state, State::InProgress, serde_json::json!({}), now).await?;
            w.tx.commit().await?;
        } else {
            w.tx.rollback().await?;
        }
        Ok(rec)
    }

    pub async fn load_step(&self, step_id: i64, claim_token: &str) -> Result<LoadedStep> {
        let sql = format!(
            "SELECT s.workflow_step_id, s.task_id, s.name, s.attempts, {LOAD_STEP_COLUMNS}, {LOAD_TASK_COLUMNS}, {} \
             FROM tasker_workflow_steps s{} WHERE s.workflow_step_id = $1",
            deps_column("s"),
            LOAD_TASK_JOINS.replace("{step}", "s")
        );
        let r = sqlx::query(&sql)
            .bind(step_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::StepNotFound(step_id))?;
        let c = Claimed {
            step_id,
            task_id: r.try_get("task_id")?,
            name: r.try_get("name")?,
            attempts: r.try_get("attempts")?,
            claim_token: claim_token.to_string(),
            // Not read by `loaded_from_row`.
            task_state: State::InProgress,
        };
        loaded_from_row(&r, &c)
    }

    pub async fn step_backoff(&self, step_id: i64) -> Result<BackoffOverride> {
        let r = sqlx::query(
            "SELECT backoff_base_ms, backoff_factor, backoff_max_ms, backoff_jitter FROM tasker_workflow_steps \
             WHERE workflow_step_id = $1",
        )
        .bind(step_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::StepNotFound(step_id))?;
        let base: Option<i64> = r.try_get(0)?;
        let max: Option<i64> = r.try_get(2)?;
        Ok(BackoffOverride {
            base_ms: base.map(|v| v.max(0) as u64),
            factor: r.try_get(1)?,
            max_ms: max.map(|v| v.max(0) as u64),
            jitter: r.try_get(3)?,
        })
    }

    /// Finishes a claimed step whose task was cancelled meanwhile: the result is discarded.
    async fn discard_cancelled(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        now: i64,
    ) -> Result<()> {
        let name: Option<String> = sqlx::query_scalar(
            "UPDATE tasker_workflow_steps SET state = 'cancelled', claim_token = NULL, lease_expires_at = NULL, \
             ready_at = NULL, updated_at = $3 \
             WHERE workflow_step_id = $1 AND claim_token = $2 AND state = 'in_progress' RETURNING name",
        )
        .bind(step_id)
        .bind(claim_token)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        let name = name.ok_or(Error::StaleClaim(step_id))?;
        Self::transition(tx, rec, Entity::Step, task_id, Some((step_id, &name)), Some(State::InProgress), State::Cancelled,
            serde_json::json!({"reason": "task_cancelled", "result_discarded": true}), now).await
    }

    /// Decrements the children's parent counters and the task's unfinished counter after a step
    /// finished (complete or resolved_manually); completes the task when nothing is left.
    async fn after_step_finished(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        task_id: i64,
        task_state: State,
        step_id: i64,
        now: i64,
    ) -> Result<(Vec<i64>, bool)> {
        let rows = sqlx::query(
            "UPDATE tasker_workflow_steps SET pending_parents = pending_parents - 1, updated_at = $2 \
             WHERE workflow_step_id IN (SELECT to_step_id FROM tasker_workflow_step_edges WHERE from_step_id = $1) \
             RETURNING workflow_step_id, pending_parents, ready_at",
        )
        .bind(step_id)
        .bind(now)
        .fetch_all(&mut **tx)
        .await?;
        let mut newly_ready = Vec::new();
        for r in rows {
            let pending: i64 = r.try_get(1)?;
            let ready_at: Option<i64> = r.try_get(2)?;
            if pending == 0 && ready_at.is_some() {
                newly_ready.push(r.try_get::<i64, _>(0)?);
            }
        }
        let unfinished: i64 = sqlx::query_scalar(
            "UPDATE tasker_tasks SET unfinished_steps = unfinished_steps - 1, updated_at = $2 \
             WHERE task_id = $1 RETURNING unfinished_steps",
        )
        .bind(task_id)
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        let finished = unfinished == 0;
        if finished {
            Self::drive_task(tx, rec, task_id, task_state, State::Complete, serde_json::json!({}), now).await?;
        } else if !newly_ready.is_empty() {
            Self::notify_ready(tx).await?;
        }
        Ok((newly_ready, finished))
    }

    pub async fn complete_step(
        &self,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        results: &Value,
        now: i64,
    ) -> Result<StepSettled> {
        let mut w = self.begin().await?;
        let out = Self::complete_in(&mut w.tx, task_id, step_id, claim_token, results, now).await?;
        if !out.task_finished && !out.newly_ready.is_empty() {
            Self::notify_ready(&mut w.tx).await?;
        }
        w.tx.commit().await?;
        Ok(out)
    }

    /// Completes a step and, in the SAME transaction, claims (and loads) up to `limit` ready
    /// steps of its task — typically the children this completion just released. An inline run
    /// thereby pays one commit per step instead of two. The completion is exactly that of
    /// [`Backend::complete_step`] (fenced, children and task completion included); the task row
    /// is already locked by it, so the claim respects the lock order. Other workers are woken
    /// only for released steps this claim did not take. Returns the completion, the new claims
    /// and the claims' transition records.
    pub async fn complete_step_and_claim(
        &self,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        results: &Value,
        now: i64,
        limit: i64,
    ) -> Result<(StepSettled, Vec<ClaimedStep>, Vec<Recorded>)> {
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let out = Self::complete_in(tx, task_id, step_id, claim_token, results, now).await?;
        let mut rec = Vec::new();
        let mut next = Vec::new();
        if !out.discarded && !out.task_finished && limit > 0 {
            let token = uuid::Uuid::new_v4().simple().to_string();
            let (claimed, loaded) = Self::claim_in(tx, &mut rec, ClaimScope::Task(task_id), limit, now, &token, true).await?;
            next = claimed.into_iter().zip(loaded).collect::<Vec<_>>();
        }
        if !out.task_finished && out.newly_ready.iter().any(|id| !next.iter().any(|(c, _)| c.step_id == *id)) {
            Self::notify_ready(tx).await?;
        }
        w.tx.commit().await?;
        Ok((out, next, rec))
    }

    /// Completes several claimed steps in ONE transaction (a worker's batch: one commit, and so
    /// one WAL flush, for the group instead of one per step). Each step's outcome, children and
    /// task completion are written exactly as by [`Backend::complete_step`], fenced by its own
    /// claim token; a stale claim only drops that step's outcome (`Err(StaleClaim)` in its slot,
    /// nothing written for it), the others still commit. Task rows are locked first, in task-id
    /// order, so two groups (or a group and any single-task transaction) cannot deadlock.
    pub async fn complete_steps(&self, items: &[Completion], now: i64) -> Result<Vec<Result<StepSettled>>> {
        Ok(self.complete_steps_and_claim(items, now, None).await?.0)
    }

    /// [`Backend::complete_steps`], then — with `claim = Some((task_id, limit))`, the task being
    /// one of the group's — claims and loads up to `limit` ready steps of that task in the same
    /// transaction (an inline run's batch: its children come back without another commit).
    pub async fn complete_steps_and_claim(
        &self,
        items: &[Completion],
        now: i64,
        claim: Option<(i64, i64)>,
    ) -> Result<(Vec<Result<StepSettled>>, Vec<ClaimedStep>, Vec<Recorded>)> {
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let mut task_ids: Vec<i64> = items.iter().map(|i| i.task_id).collect();
        task_ids.sort_unstable();
        task_ids.dedup();
        let list = (1..=task_ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT task_id, state FROM tasker_tasks WHERE task_id IN ({list}) ORDER BY task_id{}",
            if PG { " FOR UPDATE" } else { "" }
        );
        let mut q = sqlx::query(&sql);
        for id in &task_ids {
            q = q.bind(*id);
        }
        let mut states: HashMap<i64, State> = HashMap::with_capacity(task_ids.len());
        for r in q.fetch_all(&mut **tx).await? {
            states.insert(r.try_get(0)?, state_of(&r.try_get::<String, _>(1)?)?);
        }

        // Results by item index; None until settled.
        let mut out: Vec<Option<Result<StepSettled>>> = (0..items.len()).map(|_| None).collect();
        // Children this group released (woken workers take them unless our own claim does).
        let mut released: Vec<i64> = Vec::new();
        // Steps of cancelled tasks take the (rare) one-by-one discard path.
        let mut batch = Vec::with_capacity(items.len());
        for (n, i) in items.iter().enumerate() {
            let state = *states.get(&i.task_id).ok_or(Error::TaskNotFound(i.task_id))?;
            if state == State::Cancelled {
                out[n] = Some(match Self::complete_locked(tx, i.task_id, state, None, i.step_id, &i.claim_token, &i.results, now).await {
                    Err(Error::StaleClaim(id)) => Err(Error::StaleClaim(id)),
                    Err(e) => return Err(e),
                    Ok(settled) => {
                        released.extend(settled.newly_ready.iter().copied());
                        Ok(settled)
                    }
                });
            } else {
                batch.push(n);
            }
        }
        if !batch.is_empty() {
            // 1. The fenced outcomes, all in one statement: a row comes back only where the claim
            //    token still matches; the others are stale and nothing is written for them.
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "UPDATE tasker_workflow_steps AS s SET state = 'complete', results = v.results, processed_at = ",
            );
            qb.push_bind(now);
            qb.push(", claim_token = NULL, lease_expires_at = NULL, ready_at = NULL, updated_at = ");
            qb.push_bind(now);
            qb.push(" FROM (");
            for (k, n) in batch.iter().enumerate() {
                let i = &items[*n];
                qb.push(if k == 0 { "SELECT " } else { " UNION ALL SELECT " });
                qb.push_bind(i.step_id);
                qb.push(" AS id, ");
                qb.push_bind(i.claim_token.as_str());
                qb.push(" AS token, ");
                qb.push_bind(Json(&i.results));
                qb.push(" AS results");
            }
            qb.push(
                ") AS v WHERE s.workflow_step_id = v.id AND s.claim_token = v.token AND s.state = 'in_progress' \
                 RETURNING workflow_step_id, name, attempts, last_attempted_at",
            );
            let mut done: HashMap<i64, (String, i64, Option<i64>)> = HashMap::with_capacity(batch.len());
            for r in qb.build().fetch_all(&mut **tx).await? {
                done.insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
            }
            // 2. Their transition rows, one statement.
            let mut rows = Vec::with_capacity(done.len());
            let mut completed = Vec::with_capacity(done.len());
            for n in &batch {
                let i = &items[*n];
                match done.get(&i.step_id) {
                    None => out[*n] = Some(Err(Error::StaleClaim(i.step_id))),
                    Some((name, attempts, started)) => {
                        completed.push(*n);
                        rows.push(TransitionRow {
                            task_id: i.task_id,
                            id: i.step_id,
                            step_name: Some(name.clone()),
                            from: Some(State::InProgress),
                            to: State::Complete,
                            metadata: serde_json::json!({"attempt": attempts, "execution_duration_ms": now - started.unwrap_or(now)}),
                        });
                    }
                }
            }
            let mut step_rec = Vec::with_capacity(rows.len());
            Self::transitions(tx, &mut step_rec, Entity::Step, &rows, now).await?;
            let mut settled: Vec<StepSettled> = step_rec
                .into_iter()
                .map(|r| StepSettled { recorded: vec![r], ..Default::default() })
                .collect();
            if !completed.is_empty() {
                // 3. Children of every completed step, one statement (a child with two parents
                //    in the group loses two).
                let list = (2..completed.len() + 2).map(|k| format!("${k}")).collect::<Vec<_>>().join(", ");
                let sql = format!(
                    "UPDATE tasker_workflow_steps AS s SET pending_parents = s.pending_parents - c.n, updated_at = $1 \
                     FROM (SELECT to_step_id, COUNT(*) AS n FROM tasker_workflow_step_edges \
                     WHERE from_step_id IN ({list}) GROUP BY to_step_id) AS c \
                     WHERE s.workflow_step_id = c.to_step_id RETURNING workflow_step_id, pending_parents, ready_at"
                );
                let mut q = sqlx::query(&sql).bind(now);
                for n in &completed {
                    q = q.bind(items[*n].step_id);
                }
                let mut ready = Vec::new();
                for r in q.fetch_all(&mut **tx).await? {
                    let pending: i64 = r.try_get(1)?;
                    let ready_at: Option<i64> = r.try_get(2)?;
                    if pending == 0 && ready_at.is_some() {
                        ready.push(r.try_get::<i64, _>(0)?);
                    }
                }
                // (Which parent released a child only matters for waking workers: all go to the
                // first completion of the group.)
                released.extend(ready.iter().copied());
                settled[0].newly_ready = ready;
                // 4. The tasks' unfinished counters, one statement.
                let mut per_task: Vec<(i64, i64)> = Vec::new();
                for n in &completed {
                    match per_task.iter_mut().find(|(t, _)| *t == items[*n].task_id) {
                        Some((_, c)) => *c += 1,
                        None => per_task.push((items[*n].task_id, 1)),
                    }
                }
                let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                    "UPDATE tasker_tasks AS t SET unfinished_steps = t.unfinished_steps - c.n, updated_at = ",
                );
                qb.push_bind(now);
                qb.push(" FROM (");
                for (k, (task_id, n)) in per_task.iter().enumerate() {
                    qb.push(if k == 0 { "SELECT " } else { " UNION ALL SELECT " });
                    qb.push_bind(*task_id);
                    qb.push(" AS tid, ");
                    qb.push_bind(*n);
                    qb.push(" AS n");
                }
                // (RETURNING names are unqualified and unambiguous: SQLite accepts no alias there.)
                qb.push(") AS c WHERE t.task_id = c.tid RETURNING task_id, unfinished_steps");
                let mut finished = Vec::new();
                for r in qb.build().fetch_all(&mut **tx).await? {
                    if r.try_get::<i64, _>(1)? == 0 {
                        finished.push(r.try_get::<i64, _>(0)?);
                    }
                }
                // 5. Tasks with nothing left complete, in the same transaction; their events
                //    follow their last step's.
                finished.sort_unstable();
                for task_id in finished {
                    let k = completed
                        .iter()
                        .rposition(|n| items[*n].task_id == task_id)
                        .ok_or_else(|| Error::Internal("finished task without a completion".into()))?;
                    let state = states[&task_id];
                    Self::drive_task(tx, &mut settled[k].recorded, task_id, state, State::Complete, serde_json::json!({}), now).await?;
                    settled[k].task_finished = true;
                    states.insert(task_id, State::Complete);
                }
            }
            for (n, s) in completed.into_iter().zip(settled) {
                out[n] = Some(Ok(s));
            }
        }
        let mut claim_rec = Vec::new();
        let mut next: Vec<ClaimedStep> = Vec::new();
        if let Some((task_id, limit)) = claim {
            // Only a task this transaction has locked (lock order) and that is still active.
            if limit > 0 && matches!(states.get(&task_id), Some(State::Pending | State::InProgress)) {
                let token = uuid::Uuid::new_v4().simple().to_string();
                let (claimed, loaded) =
                    Self::claim_in(tx, &mut claim_rec, ClaimScope::Task(task_id), limit, now, &token, true).await?;
                next = claimed.into_iter().zip(loaded).collect();
            }
        }
        if released.iter().any(|id| !next.iter().any(|(c, _)| c.step_id == *id)) {
            Self::notify_ready(tx).await?;
        }
        w.tx.commit().await?;
        let out = out
            .into_iter()
            .map(|o| o.ok_or_else(|| Error::Internal("completion left unsettled".into())))
            .collect::<Result<Vec<_>>>()?;
        Ok((out, next, claim_rec))
    }

    /// The completion inside `tx` (no NOTIFY: the callers decide).
    async fn complete_in(
        tx: &mut Tx,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        results: &Value,
        now: i64,
    ) -> Result<StepSettled> {
        // Locks the task row first (the lock order) AND counts this step as finished in one
        // statement (was a SELECT ... FOR UPDATE and a later UPDATE). If the claim turns out to be
        // stale below, the error rolls the whole transaction back, the decrement included; the
        // `= 0` guard only keeps such a doomed statement from tripping the CHECK constraint.
        let row = sqlx::query(
            "UPDATE tasker_tasks SET \
             unfinished_steps = unfinished_steps - CASE WHEN state = 'cancelled' OR unfinished_steps = 0 THEN 0 ELSE 1 END, \
             updated_at = CASE WHEN state = 'cancelled' THEN updated_at ELSE $2 END \
             WHERE task_id = $1 RETURNING state, unfinished_steps",
        )
        .bind(task_id)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::TaskNotFound(task_id))?;
        let task_state = state_of(&row.try_get::<String, _>(0)?)?;
        let unfinished: i64 = row.try_get(1)?;
        Self::complete_locked(tx, task_id, task_state, Some(unfinished), step_id, claim_token, results, now).await
    }

    /// A completion once its task row is locked (`task_state` read under that lock). With
    /// `counted = Some(n)` the caller already decremented the task's unfinished counter to `n`;
    /// otherwise it is decremented here, last. A stale claim returns `StaleClaim` before
    /// anything is written for this step.
    async fn complete_locked(
        tx: &mut Tx,
        task_id: i64,
        task_state: State,
        counted: Option<i64>,
        step_id: i64,
        claim_token: &str,
        results: &Value,
        now: i64,
    ) -> Result<StepSettled> {
        let mut out = StepSettled::default();
        if task_state == State::Cancelled {
            Self::discard_cancelled(tx, &mut out.recorded, task_id, step_id, claim_token, now).await?;
            out.discarded = true;
            return Ok(out);
        }
        // The outcome (fenced by the claim token), its transition row and the children's parent
        // counters in ONE round trip: a data-modifying CTE on PostgreSQL, one multi-statement
        // call on SQLite. Rows: kind 0 = this step (attempts, started at, name), kind 1 = a child
        // (pending parents, ready_at). On SQLite the later statements run even when the claim
        // is stale; the StaleClaim error below makes every caller roll the transaction back.
        let done_set = "state = 'complete', results = $3, processed_at = $4, claim_token = NULL, \
                        lease_expires_at = NULL, ready_at = NULL, updated_at = $4";
        let done_where = "workflow_step_id = $1 AND claim_token = $2 AND state = 'in_progress'";
        let sql = if PG {
            format!(
                "WITH done AS (UPDATE tasker_workflow_steps SET {done_set} WHERE {done_where} \
                 RETURNING workflow_step_id, name, attempts, last_attempted_at), \
                 prev AS (UPDATE tasker_workflow_step_transitions SET most_recent = FALSE, updated_at = $4 \
                 WHERE workflow_step_id IN (SELECT workflow_step_id FROM done) AND most_recent = TRUE RETURNING sort_key), \
                 ins AS (INSERT INTO tasker_workflow_step_transitions \
                 (workflow_step_id, from_state, to_state, metadata, sort_key, most_recent, created_at, updated_at) \
                 SELECT d.workflow_step_id, 'in_progress', 'complete', jsonb_build_object('attempt', d.attempts, \
                 'execution_duration_ms', $4 - COALESCE(d.last_attempted_at, $4)), \
                 COALESCE((SELECT sort_key FROM prev), 0) + 10, TRUE, $4, $4 FROM done d), \
                 rel AS (UPDATE tasker_workflow_steps SET pending_parents = pending_parents - 1, updated_at = $4 \
                 WHERE workflow_step_id IN (SELECT e.to_step_id FROM tasker_workflow_step_edges e \
                 JOIN done d ON e.from_step_id = d.workflow_step_id) \
                 RETURNING workflow_step_id, pending_parents, ready_at) \
                 SELECT 0 AS kind, workflow_step_id, attempts AS n, last_attempted_at AS at, name FROM done \
                 UNION ALL SELECT 1, workflow_step_id, pending_parents, ready_at, NULL FROM rel"
            )
        } else {
            format!(
                "UPDATE tasker_workflow_steps SET {done_set} WHERE {done_where} \
                 RETURNING 0 AS kind, workflow_step_id, attempts AS n, last_attempted_at AS at, name; \
                 UPDATE tasker_workflow_step_transitions SET most_recent = FALSE, updated_at = $4 \
                 WHERE workflow_step_id = $1 AND most_recent = TRUE; \
                 INSERT INTO tasker_workflow_step_transitions \
                 (workflow_step_id, from_state, to_state, metadata, sort_key, most_recent, created_at, updated_at) \
                 SELECT workflow_step_id, 'in_progress', 'complete', json_object('attempt', attempts, \
                 'execution_duration_ms', $4 - COALESCE(last_attempted_at, $4)), \
                 (SELECT COALESCE(MAX(sort_key), 0) + 10 FROM tasker_workflow_step_transitions WHERE workflow_step_id = $1), \
                 TRUE, $4, $4 FROM tasker_workflow_steps WHERE workflow_step_id = $1 AND state = 'complete'; \
                 UPDATE tasker_workflow_steps SET pending_parents = pending_parents - 1, updated_at = $4 \
                 WHERE workflow_step_id IN (SELECT to_step_id FROM tasker_workflow_step_edges WHERE from_step_id = $1) \
                 RETURNING 1 AS kind, workflow_step_id, pending_parents AS n, ready_at AS at, NULL AS name"
            )
        };
        let rows = sqlx::query(&sql)
            .bind(step_id)
            .bind(claim_token)
            .bind(Json(results))
            .bind(now)
            .fetch_all(&mut **tx)
            .await?;
        let mut done: Option<(i64, Option<i64>, String)> = None;
        for r in rows {
            let kind: i32 = r.try_get("kind")?;
            let n: i64 = r.try_get("n")?;
            let at: Option<i64> = r.try_get("at")?;
            if kind == 0 {
                done = Some((n, at, r.try_get::<Option<String>, _>("name")?.unwrap_or_default()));
            } else if n == 0 && at.is_some() {
                out.newly_ready.push(r.try_get("workflow_step_id")?);
            }
        }
        let (attempts, started, name) = done.ok_or(Error::StaleClaim(step_id))?;
        out.recorded.push(Recorded {
            entity: Entity::Step,
            task_id,
            step_id: Some(step_id),
            step_name: Some(name),
            from: Some(State::InProgress),
            to: State::Complete,
            metadata: serde_json::json!({"attempt": attempts, "execution_duration_ms": now - started.unwrap_or(now)}),
        });
        let unfinished = match counted {
            Some(n) => n,
            None => {
                sqlx::query_scalar(
                    "UPDATE tasker_tasks SET unfinished_steps = unfinished_steps - 1, updated_at = $2 \
                     WHERE task_id = $1 RETURNING unfinished_steps",
                )
                .bind(task_id)
                .bind(now)
                .fetch_one(&mut **tx)
                .await?
            }
        };
        if unfinished == 0 {
            Self::drive_task(tx, &mut out.recorded, task_id, task_state, State::Complete, serde_json::json!({}), now).await?;
            out.task_finished = true;
        }
        Ok(out)
    }

    pub async fn fail_step(
        &self,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        failure: &Failure,
        backoff: &BackoffConfig,
        now: i64,
    ) -> Result<StepSettled> {
        let mut out = StepSettled::default();
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let task_state = Self::lock_task(tx, task_id).await?;
        if task_state == State::Cancelled {
            Self::discard_cancelled(tx, &mut out.recorded, task_id, step_id, claim_token, now).await?;
            w.tx.commit().await?;
            out.discarded = true;
            return Ok(out);
        }
        let row = sqlx::query(
            "SELECT name, attempts, retryable, retry_limit FROM tasker_workflow_steps \
             WHERE workflow_step_id = $1 AND claim_token = $2 AND state = 'in_progress'",
        )
        .bind(step_id)
        .bind(claim_token)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::StaleClaim(step_id))?;
        let name: String = row.try_get(0)?;
        let attempts: i64 = row.try_get(1)?;
        let retryable: bool = row.try_get(2)?;
        let retry_limit: i64 = row.try_get(3)?;
        let will_retry = retry_allowed(retryable, failure.permanent, attempts, retry_limit);
        let delay = if will_retry {
            Some(backoff.delay_ms(attempts.clamp(0, u32::MAX as i64) as u32, failure.retry_after_ms))
        } else {
            None
        };
        sqlx::query(
            "UPDATE tasker_workflow_steps SET state = 'error', results = $2, claim_token = NULL, lease_expires_at = NULL, \
             ready_at = $3, backoff_request_ms = $4, updated_at = $5 WHERE workflow_step_id = $1",
        )
        .bind(step_id)
        .bind(Json(failure_json(failure, attempts, now)))
        .bind(delay.map(|d| now + d as i64))
        .bind(delay.map(|d| d as i64))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Self::transition(tx, &mut out.recorded, Entity::Step, task_id, Some((step_id, &name)), Some(State::InProgress), State::Error,
            serde_json::json!({
                "attempt": attempts,
                "error_class": failure.class,
                "error_message": failure.message,
                "retry_available": will_retry,
                "backoff_ms": delay,
            }), now).await?;
        out.will_retry = will_retry;
        out.retry_delay_ms = delay;
        if !will_retry && matches!(task_state, State::Pending | State::InProgress) {
            Self::drive_task(tx, &mut out.recorded, task_id, task_state, State::Error,
                serde_json::json!({"reason": "steps_in_error_state", "step_id": step_id, "step_name": name}), now).await?;
            out.task_blocked = true;
        } else if !will_retry {
            out.task_blocked = true;
        }
        w.tx.commit().await?;
        Ok(out)
    }

    pub async fn expired_leases(&self, scope: ClaimScope, now: i64, limit: i64) -> Result<Vec<Expired>> {
        let filter = match scope {
            ClaimScope::Any => "",
            // `+task_id` keeps the planners (SQLite's in particular) off the (task_id, name)
            // index, which would visit every step of a large task; the partial lease index holds
            // only running steps.
            ClaimScope::Task(_) => " AND +task_id = $3",
            ClaimScope::Step(_) => " AND workflow_step_id = $3",
        };
        let sql = format!(
            "SELECT workflow_step_id, task_id, claim_token FROM tasker_workflow_steps \
             WHERE state = 'in_progress' AND lease_expires_at < $1{filter} ORDER BY lease_expires_at LIMIT $2"
        );
        let mut q = sqlx::query(&sql).bind(now).bind(limit);
        if let ClaimScope::Task(id) | ClaimScope::Step(id) = scope {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Expired {
                    step_id: r.try_get(0)?,
                    task_id: r.try_get(1)?,
                    claim_token: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Extends the lease of a claim that is still current; returns the new expiry.
    pub async fn heartbeat(&self, step_id: i64, claim_token: &str, now: i64) -> Result<i64> {
        let expiry: Option<i64> = sqlx::query_scalar(
            "UPDATE tasker_workflow_steps SET lease_expires_at = $3 + lease_ms, updated_at = $3 \
             WHERE workflow_step_id = $1 AND claim_token = $2 AND state = 'in_progress' RETURNING lease_expires_at",
        )
        .bind(step_id)
        .bind(claim_token)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        expiry.ok_or(Error::StaleClaim(step_id))
    }

    pub async fn cancel_task(&self, task_id: i64, now: i64) -> Result<OpOutcome> {
        let mut out = OpOutcome::default();
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let state = Self::lock_task(tx, task_id).await?;
        if !state_machine::check(Entity::Task, state, State::Cancelled)? {
            w.tx.rollback().await?;
            return Ok(out);
        }
        // One statement per prior state, so each transition row names its true origin.
        for from in [State::InProgress, State::Error, State::Pending] {
            let rows = sqlx::query(
                "UPDATE tasker_workflow_steps SET state = 'cancelled', ready_at = NULL, claim_token = NULL, \
                 lease_expires_at = NULL, updated_at = $3 WHERE task_id = $1 AND state = $2 \
                 RETURNING workflow_step_id, name",
            )
            .bind(task_id)
            .bind(from.as_str())
            .bind(now)
            .fetch_all(&mut **tx)
            .await?;
            for r in rows {
                let id: i64 = r.try_get(0)?;
                let name: String = r.try_get(1)?;
                Self::transition(tx, &mut out.recorded, Entity::Step, task_id, Some((id, &name)), Some(from), State::Cancelled,
                    serde_json::json!({"reason": "task_cancelled"}), now).await?;
            }
        }
        Self::drive_task(tx, &mut out.recorded, task_id, state, State::Cancelled, serde_json::json!({"reason": "cancelled"}), now).await?;
        w.tx.commit().await?;
        out.changed = true;
        Ok(out)
    }

    async fn step_for_update(tx: &mut Tx, step_id: i64) -> Result<(i64, String, State)> {
        let r = sqlx::query("SELECT task_id, name, state FROM tasker_workflow_steps WHERE workflow_step_id = $1")
            .bind(step_id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(Error::StepNotFound(step_id))?;
        Ok((r.try_get(0)?, r.try_get(1)?, state_of(&r.try_get::<String, _>(2)?)?))
    }

    /// After an operator fixed a failed step: a task in error resumes when no exhausted step is left.
    async fn maybe_resume_task(tx: &mut Tx, rec: &mut Vec<Recorded>, task_id: i64, now: i64) -> Result<()> {
        let state = Self::lock_task(tx, task_id).await?;
        if state != State::Error {
            return Ok(());
        }
        let exhausted: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tasker_workflow_steps WHERE task_id = $1 AND state = 'error' AND ready_at IS NULL",
        )
        .bind(task_id)
        .fetch_one(&mut **tx)
        .await?;
        if exhausted == 0 {
            Self::drive_task(tx, rec, task_id, state, State::Pending, serde_json::json!({"reason": "failed_steps_handled"}), now).await?;
        }
        Ok(())
    }

    pub async fn resolve_step(&self, step_id: i64, results: &Value, now: i64) -> Result<OpOutcome> {
        let mut out = OpOutcome::default();
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let task_id = Self::step_task_id_tx(tx, step_id).await?;
        let task_state = Self::lock_task(tx, task_id).await?;
        let (_, name, state) = Self::step_for_update(tx, step_id).await?;
        if !state_machine::check(Entity::Step, state, State::ResolvedManually)? {
            w.tx.rollback().await?;
            return Ok(out);
        }
        if task_state == State::Cancelled {
            return Err(Error::IllegalTransition {
                entity: "task",
                from: "cancelled".into(),
                to: "resolved step".into(),
            });
        }
        sqlx::query(
            "UPDATE tasker_workflow_steps SET state = 'resolved_manually', results = $2, processed_at = $3, \
             ready_at = NULL, claim_token = NULL, lease_expires_at = NULL, updated_at = $3 WHERE workflow_step_id = $1",
        )
        .bind(step_id)
        .bind(Json(results))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Self::transition(tx, &mut out.recorded, Entity::Step, task_id, Some((step_id, &name)), Some(state), State::ResolvedManually,
            serde_json::json!({"reason": "manual"}), now).await?;
        let (ready, finished) = Self::after_step_finished(tx, &mut out.recorded, task_id, task_state, step_id, now).await?;
        if !finished {
            Self::maybe_resume_task(tx, &mut out.recorded, task_id, now).await?;
            Self::notify_ready(tx).await?;
        }
        w.tx.commit().await?;
        out.newly_ready = ready;
        out.changed = true;
        Ok(out)
    }

    pub async fn retry_step(&self, step_id: i64, now: i64) -> Result<OpOutcome> {
        let mut out = OpOutcome::default();
        let mut w = self.begin().await?;
        let tx = &mut w.tx;
        let task_id = Self::step_task_id_tx(tx, step_id).await?;
        let task_state = Self::lock_task(tx, task_id).await?;
        let (_, name, state) = Self::step_for_update(tx, step_id).await?;
        if state != State::Error {
            return Err(Error::IllegalTransition {
                entity: "step",
                from: state.to_string(),
                to: "retry (only a step in error can be retried)".into(),
            });
        }
        if task_state == State::Cancelled {
            return Err(Error::IllegalTransition {
                entity: "task",
                from: "cancelled".into(),
                to: "retried step".into(),
            });
        }
        sqlx::query(
            "UPDATE tasker_workflow_steps SET state = 'pending', attempts = 0, ready_at = $2, backoff_request_ms = NULL, \
             updated_at = $2 WHERE workflow_step_id = $1",
        )
        .bind(step_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Self::transition(tx, &mut out.recorded, Entity::Step, task_id, Some((step_id, &name)), Some(State::Error), State::Pending,
            serde_json::json!({"reason": "manual_retry", "attempts_reset": true}), now).await?;
        Self::maybe_resume_task(tx, &mut out.recorded, task_id, now).await?;
        Self::notify_ready(tx).await?;
        w.tx.commit().await?;
        out.newly_ready = vec![step_id];
        out.changed = true;
        Ok(out)
    }

    async fn step_task_id_tx(tx: &mut Tx, step_id: i64) -> Result<i64> {
        let id: Option<i64> = sqlx::query_scalar("SELECT task_id FROM tasker_workflow_steps WHERE workflow_step_id = $1")
            .bind(step_id)
            .fetch_optional(&mut **tx)
            .await?;
        id.ok_or(Error::StepNotFound(step_id))
    }

    pub async fn step_task_id(&self, step_id: i64) -> Result<i64> {
        let id: Option<i64> = sqlx::query_scalar("SELECT task_id FROM tasker_workflow_steps WHERE workflow_step_id = $1")
            .bind(step_id)
            .fetch_optional(&self.pool)
            .await?;
        id.ok_or(Error::StepNotFound(step_id))
    }

    pub async fn step_status(&self, step_id: i64) -> Result<(i64, State, Option<i64>, i64)> {
        let r = sqlx::query(
            "SELECT task_id, state, ready_at, pending_parents FROM tasker_workflow_steps WHERE workflow_step_id = $1",
        )
        .bind(step_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::StepNotFound(step_id))?;
        Ok((
            r.try_get(0)?,
            state_of(&r.try_get::<String, _>(1)?)?,
            r.try_get(2)?,
            r.try_get(3)?,
        ))
    }

    pub async fn ready_step_ids(&self, task_id: i64, now: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT ws.workflow_step_id FROM tasker_workflow_steps ws JOIN tasker_tasks t ON t.task_id = ws.task_id \
             WHERE ws.task_id = $1 AND ws.ready_at IS NOT NULL AND ws.pending_parents = 0 AND ws.ready_at <= $2 \
             AND t.state IN {STATES_ACTIVE} ORDER BY ws.workflow_step_id"
        ))
        .bind(task_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn counts(&self, task_id: i64, now: i64) -> Result<(State, StepCounts)> {
        // The task's state rides along as a scalar subquery: one round trip (NULL = no such task).
        let r = sqlx::query(
            "SELECT COUNT(*), \
             COUNT(*) FILTER (WHERE state = 'pending'), \
             COUNT(*) FILTER (WHERE state = 'in_progress'), \
             COUNT(*) FILTER (WHERE state IN ('complete','resolved_manually')), \
             COUNT(*) FILTER (WHERE state = 'error'), \
             COUNT(*) FILTER (WHERE state = 'cancelled'), \
             COUNT(*) FILTER (WHERE ready_at IS NOT NULL AND pending_parents = 0 AND ready_at <= $2), \
             COUNT(*) FILTER (WHERE state = 'error' AND ready_at IS NULL), \
             MIN(ready_at) FILTER (WHERE state = 'error' AND ready_at > $2), \
             MAX(ready_at) FILTER (WHERE state = 'error' AND ready_at > $2), \
             (SELECT state FROM tasker_tasks WHERE task_id = $1) \
             FROM tasker_workflow_steps WHERE task_id = $1",
        )
        .bind(task_id)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let state: Option<String> = r.try_get(10)?;
        let state = state_of(&state.ok_or(Error::TaskNotFound(task_id))?)?;
        let ready: i64 = r.try_get(6)?;
        Ok((
            state,
            StepCounts {
                total: r.try_get(0)?,
                pending: r.try_get(1)?,
                in_progress: r.try_get(2)?,
                completed: r.try_get(3)?,
                failed: r.try_get(4)?,
                cancelled: r.try_get(5)?,
                // Steps of a task that is not active are not claimable.
                ready: if matches!(state, State::Pending | State::InProgress) { ready } else { 0 },
                exhausted: r.try_get(7)?,
                next_retry_at: r.try_get(8)?,
                last_retry_at: r.try_get(9)?,
            },
        ))
    }

    pub async fn execution_context(&self, task_id: i64, now: i64) -> Result<ExecutionContext> {
        let (state, c) = self.counts(task_id, now).await?;
        Ok(ExecutionContext::from_counts(task_id, state, c))
    }

    pub async fn task_view(&self, task_id: i64, now: i64) -> Result<TaskView> {
        let execution = self.execution_context(task_id, now).await?;
        let t = sqlx::query(
            "SELECT t.task_id, t.state, t.complete, t.context, t.initiator, t.source_system, t.reason, t.tags, \
             t.bypass_steps, t.identity_hash, t.requested_at, t.completed_at, nt.name, nt.version, ns.name AS namespace \
             FROM tasker_tasks t JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id \
             JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id WHERE t.task_id = $1",
        )
        .bind(task_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::TaskNotFound(task_id))?;
        let steps = sqlx::query(
            "SELECT workflow_step_id, name, handler_name, state, attempts, retry_limit, retryable, skippable, inputs, \
             results, last_attempted_at, processed_at, ready_at, backoff_request_ms \
             FROM tasker_workflow_steps WHERE task_id = $1 ORDER BY workflow_step_id",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await?;
        let edges = sqlx::query(
            "SELECT e.to_step_id, p.name FROM tasker_workflow_step_edges e \
             JOIN tasker_workflow_steps p ON p.workflow_step_id = e.from_step_id \
             WHERE p.task_id = $1 ORDER BY e.to_step_id, p.workflow_step_id",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await?;
        let mut parents: HashMap<i64, Vec<String>> = HashMap::new();
        for e in edges {
            parents.entry(e.try_get(0)?).or_default().push(e.try_get(1)?);
        }
        let step_transitions = sqlx::query(
            "SELECT tr.workflow_step_id, tr.from_state, tr.to_state, tr.metadata, tr.sort_key, tr.most_recent, tr.created_at \
             FROM tasker_workflow_step_transitions tr JOIN tasker_workflow_steps s ON s.workflow_step_id = tr.workflow_step_id \
             WHERE s.task_id = $1 ORDER BY tr.workflow_step_id, tr.sort_key",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await?;
        let mut st_by_step: HashMap<i64, Vec<TransitionView>> = HashMap::new();
        for r in &step_transitions {
            st_by_step.entry(r.try_get(0)?).or_default().push(transition_view(r, 1)?);
        }
        let task_transitions = sqlx::query(
            "SELECT task_id, from_state, to_state, metadata, sort_key, most_recent, created_at \
             FROM tasker_task_transitions WHERE task_id = $1 ORDER BY sort_key",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await?;
        let mut step_views = Vec::with_capacity(steps.len());
        for s in steps {
            let id: i64 = s.try_get("workflow_step_id")?;
            let state = state_of(&s.try_get::<String, _>("state")?)?;
            let ready_at: Option<i64> = s.try_get("ready_at")?;
            let inputs: Json<Value> = s.try_get("inputs")?;
            let results: Option<Json<Value>> = s.try_get("results")?;
            step_views.push(StepView {
                step_id: id,
                name: s.try_get("name")?,
                handler: s.try_get("handler_name")?,
                state,
                attempts: s.try_get("attempts")?,
                retry_limit: s.try_get("retry_limit")?,
                retryable: s.try_get("retryable")?,
                skippable: s.try_get("skippable")?,
                inputs: inputs.0,
                results: results.map(|j| j.0),
                last_attempted_at: s.try_get("last_attempted_at")?,
                processed_at: s.try_get("processed_at")?,
                next_attempt_at: ready_at,
                backoff_request_ms: s.try_get("backoff_request_ms")?,
                parents: parents.remove(&id).unwrap_or_default(),
                transitions: st_by_step.remove(&id).unwrap_or_default(),
            });
        }
        let context: Json<Value> = t.try_get("context")?;
        let tags: Json<Value> = t.try_get("tags")?;
        let bypass: Json<Value> = t.try_get("bypass_steps")?;
        Ok(TaskView {
            task_id,
            namespace: t.try_get("namespace")?,
            name: t.try_get("name")?,
            version: t.try_get("version")?,
            state: state_of(&t.try_get::<String, _>("state")?)?,
            complete: t.try_get("complete")?,
            context: context.0,
            initiator: t.try_get("initiator")?,
            source_system: t.try_get("source_system")?,
            reason: t.try_get("reason")?,
            tags: tags.0,
            bypass_steps: bypass.0,
            identity_hash: t.try_get("identity_hash")?,
            requested_at: t.try_get("requested_at")?,
            completed_at: t.try_get("completed_at")?,
            steps: step_views,
            transitions: task_transitions
                .iter()
                .map(|r| transition_view(r, 1))
                .collect::<Result<_>>()?,
            execution,
        })
    }

    pub async fn health(&self, now: i64) -> Result<HealthCounts> {
        let t = sqlx::query(
            "SELECT COUNT(*), \
             COUNT(*) FILTER (WHERE state = 'pending'), COUNT(*) FILTER (WHERE state = 'in_progress'), \
             COUNT(*) FILTER (WHERE state = 'complete'), COUNT(*) FILTER (WHERE state = 'error'), \
             COUNT(*) FILTER (WHERE state = 'cancelled'), COUNT(*) FILTER (WHERE state = 'resolved_manually') \
             FROM tasker_tasks",
        )
        .fetch_one(&self.pool)
        .await?;
        let s = sqlx::query(
            "SELECT COUNT(*), \
             COUNT(*) FILTER (WHERE state = 'pending'), COUNT(*) FILTER (WHERE state = 'in_progress'), \
             COUNT(*) FILTER (WHERE state = 'complete'), COUNT(*) FILTER (WHERE state = 'error'), \
             COUNT(*) FILTER (WHERE state = 'cancelled'), COUNT(*) FILTER (WHERE state = 'resolved_manually'), \
             COUNT(*) FILTER (WHERE state = 'error' AND ready_at IS NOT NULL), \
             COUNT(*) FILTER (WHERE state = 'error' AND ready_at IS NULL), \
             COUNT(*) FILTER (WHERE state = 'error' AND ready_at > $1), \
             COUNT(*) FILTER (WHERE state = 'in_progress' AND lease_expires_at < $1) \
             FROM tasker_workflow_steps",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(HealthCounts {
            total_tasks: t.try_get(0)?,
            pending_tasks: t.try_get(1)?,
            in_progress_tasks: t.try_get(2)?,
            complete_tasks: t.try_get(3)?,
            error_tasks: t.try_get(4)?,
            cancelled_tasks: t.try_get(5)?,
            resolved_manually_tasks: t.try_get(6)?,
            total_steps: s.try_get(0)?,
            pending_steps: s.try_get(1)?,
            in_progress_steps: s.try_get(2)?,
            complete_steps: s.try_get(3)?,
            error_steps: s.try_get(4)?,
            cancelled_steps: s.try_get(5)?,
            resolved_manually_steps: s.try_get(6)?,
            retryable_error_steps: s.try_get(7)?,
            exhausted_retry_steps: s.try_get(8)?,
            in_backoff_steps: s.try_get(9)?,
            expired_lease_steps: s.try_get(10)?,
        })
    }
}

fn transition_view(r: &<Db as sqlx::Database>::Row, first: usize) -> Result<TransitionView> {
    let from: Option<String> = r.try_get(first)?;
    let to: String = r.try_get(first + 1)?;
    let meta: Json<Value> = r.try_get(first + 2)?;
    Ok(TransitionView {
        from_state: from.as_deref().map(state_of).transpose()?,
        to_state: state_of(&to)?,
        metadata: meta.0,
        sort_key: r.try_get(first + 3)?,
        most_recent: r.try_get(first + 4)?,
        created_at: r.try_get(first + 5)?,
    })
}

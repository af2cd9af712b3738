//! ViableStepDiscovery: finding the claimable steps and claiming them (with their run context).

use super::claim_keyed::keys_json;
use super::claim_sql::{candidates_sql, claim_set, pg_claim_sql};
use super::*;
use crate::state_machine::Entity;
use sqlx::Row;
use std::collections::HashMap;

impl Backend {
    pub async fn claim(
        &self,
        scope: ClaimScope,
        limit: i64,
        now: i64,
    ) -> Result<(Vec<Claimed>, Vec<Recorded>)> {
        let (claimed, _, rec) = self.claim_all(scope, limit, now, false).await?;
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
        // One task (an inline run): the dialect's fast path first (SQLite: the writer's raw
        // handle, `sqlite_raw_claim.rs`; none on PostgreSQL).
        if let ClaimScope::Task(task_id) = scope {
            if let Some(out) = self.claim_loaded_task_fast(task_id, limit, now).await? {
                return Ok(out);
            }
        }
        let (claimed, loaded, rec) = self.claim_all(scope, limit, now, true).await?;
        Ok((claimed.into_iter().zip(loaded).collect(), rec))
    }

    /// The unlimited steps first (the claim as it was before concurrency limits, unchanged);
    /// with room left, the steps under a concurrency limit (claim_keyed.rs), when any may be
    /// ready.
    async fn claim_all(
        &self,
        scope: ClaimScope,
        limit: i64,
        now: i64,
        load: bool,
    ) -> Result<(Vec<Claimed>, Vec<LoadedStep>, Vec<Recorded>)> {
        let unlimited = self.claim_unlimited(scope, limit, now, load).await?;
        self.claim_keyed_after(unlimited, scope, limit, now, load)
            .await
    }

    /// With room left after the unlimited steps `unlimited` of a claim, the steps under a
    /// concurrency limit (claim_keyed.rs) when any may be ready; both together.
    pub(super) async fn claim_keyed_after(
        &self,
        unlimited: (Vec<Claimed>, Vec<LoadedStep>, Vec<Recorded>),
        scope: ClaimScope,
        limit: i64,
        now: i64,
        load: bool,
    ) -> Result<(Vec<Claimed>, Vec<LoadedStep>, Vec<Recorded>)> {
        let (mut claimed, mut loaded, mut rec) = unlimited;
        let room = limit.saturating_sub(i64::try_from(claimed.len()).unwrap_or(i64::MAX));
        if room > 0 && self.keyed_due(scope, claimed.len()) {
            let (c, l, r) = self.claim_keyed(scope, room, now, load).await?;
            claimed.extend(c);
            loaded.extend(l);
            rec.extend(r);
        }
        Ok((claimed, loaded, rec))
    }

    async fn claim_unlimited(
        &self,
        scope: ClaimScope,
        limit: i64,
        now: i64,
        load: bool,
    ) -> Result<(Vec<Claimed>, Vec<LoadedStep>, Vec<Recorded>)> {
        if PG {
            return self.claim_autocommit(scope, limit, now, load).await;
        }
        let w = self.begin().await?;
        self.claim_committed(w, scope, limit, now, load, None).await
    }

    /// [`Backend::claim_scoped`] in `w`, then its commit.
    pub(super) async fn claim_committed(
        &self,
        mut w: WriteTx<'_>,
        scope: ClaimScope,
        limit: i64,
        now: i64,
        load: bool,
        keys: Option<&[(String, i64)]>,
    ) -> Result<(Vec<Claimed>, Vec<LoadedStep>, Vec<Recorded>)> {
        let mut rec = Vec::new();
        let (claimed, loaded) = Self::claim_scoped(
            &mut w.tx,
            &mut rec,
            scope,
            limit,
            now,
            load,
            self.claim_lease_ms,
            keys,
        )
        .await?;
        w.tx.commit().await?;
        Ok((claimed, loaded, rec))
    }

    /// PostgreSQL, every scope: the claim, its transitions, the start of the claimed steps'
    /// pending tasks and the run contexts as ONE statement in autocommit (one round trip and
    /// one commit; an explicit transaction adds BEGIN and COMMIT round trips, and an inline
    /// run's first claim used to lock its task and start it in two more). A pending task is
    /// started only if its row is free (SKIP LOCKED: a claim holds step locks and must never
    /// wait for a task lock); one skipped stays `Pending` in its `Claimed` and the caller starts
    /// it after the claim (`start_task`), as the transactional path does.
    async fn claim_autocommit(
        &self,
        scope: ClaimScope,
        limit: i64,
        now: i64,
        load: bool,
    ) -> Result<(Vec<Claimed>, Vec<LoadedStep>, Vec<Recorded>)> {
        ensure_allowed(Entity::Task, State::Pending, State::InProgress)?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let sql = pg_claim_sql(scope, limit, load, true, self.claim_lease_ms, false)?;
        let mut q = sqlx::query(&sql).bind(now).bind(token.as_str());
        if let ClaimScope::Task(id) | ClaimScope::Step(id) = scope {
            q = q.bind(id);
        }
        let mut conn = self.checkout().await?;
        let rows = q.fetch_all(&mut *conn).await?;
        conn.done();
        let mut claimed = Vec::with_capacity(rows.len());
        let mut started: Vec<i64> = Vec::new();
        for r in &rows {
            let mut c = claimed_columns(r)?;
            if r.try_get::<bool, _>("started")? {
                if !started.contains(&c.1) {
                    started.push(c.1);
                }
                c.5 = State::InProgress.as_str().to_string();
            }
            claimed.push(c);
        }
        // Task events first, as when tasks were started in their own transaction.
        let mut rec: Vec<Recorded> = started
            .iter()
            .map(|task_id| Recorded {
                entity: Entity::Task,
                task_id: *task_id,
                step_id: None,
                step_name: None,
                from: Some(State::Pending),
                to: State::InProgress,
                metadata: serde_json::json!({}),
            })
            .collect();
        let load_rows = if load { rows } else { Vec::new() };
        let (out, loaded) = finish_claim(claimed, &load_rows, &token, &mut rec)?;
        Ok((out, loaded, rec))
    }

    /// A claim inside `tx`, starting the claimed steps' pending tasks in the same transaction
    /// (instead of a separate one after commit). For one task (inline runs) the task row is
    /// locked FIRST — the documented lock order, task then steps. Other scopes never wait for a
    /// task lock: they only start tasks whose row is free (the caller starts the rest).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn claim_scoped(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        scope: ClaimScope,
        limit: i64,
        now: i64,
        load: bool,
        lease_ms: i64,
        keys: Option<&[(String, i64)]>,
    ) -> Result<(Vec<Claimed>, Vec<LoadedStep>)> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let locked_task = match scope {
            ClaimScope::Task(task_id) => {
                let state = match Self::lock_task(tx, task_id).await {
                    Ok(s) => s,
                    Err(Error::TaskNotFound(_)) => return Ok((Vec::new(), Vec::new())),
                    Err(e) => return Err(e),
                };
                if !matches!(state, State::Pending | State::InProgress) {
                    return Ok((Vec::new(), Vec::new()));
                }
                Some((task_id, state))
            }
            _ => None,
        };
        let mut step_rec = Vec::new();
        let (mut claimed, loaded) = Self::claim_in_for(
            tx,
            &mut step_rec,
            scope,
            limit,
            now,
            &token,
            load,
            lease_ms,
            keys,
        )
        .await?;
        match locked_task {
            None => {
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
                    let list = (1..=pending.len())
                        .map(|i| format!("${i}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let sql = format!(
                        "SELECT task_id FROM tasker_tasks WHERE task_id IN ({list}) AND state = 'pending' ORDER BY task_id{}",
                        sql::LOCK_FREE_ROWS
                    );
                    let mut q = sqlx::query_scalar::<_, i64>(&sql);
                    for id in &pending {
                        q = q.bind(*id);
                    }
                    for id in q.fetch_all(&mut **tx).await? {
                        Self::drive_task(
                            tx,
                            rec,
                            id,
                            State::Pending,
                            State::InProgress,
                            serde_json::json!({}),
                            now,
                        )
                        .await?;
                        for c in claimed.iter_mut().filter(|c| c.task_id == id) {
                            c.task_state = State::InProgress;
                        }
                    }
                }
            }
            Some((task_id, state)) => {
                if state == State::Pending && !claimed.is_empty() {
                    Self::drive_task(
                        tx,
                        rec,
                        task_id,
                        state,
                        State::InProgress,
                        serde_json::json!({}),
                        now,
                    )
                    .await?;
                    for c in &mut claimed {
                        c.task_state = State::InProgress;
                    }
                }
            }
        }
        // Task events first, as when tasks were started in their own transaction.
        rec.append(&mut step_rec);
        Ok((claimed, loaded))
    }

    /// ViableStepDiscovery: the one place that finds and claims the viable steps (ready,
    /// parents done, task active), for every claim entry point.
    ///
    /// The claim statement(s) inside `tx`: no task lock taken or awaited. With `load`, the run
    /// context of every claimed step comes back too (second vector, same order): the foundation
    /// then needs no further round trip before calling the handler.
    ///
    /// Round trips: PostgreSQL ONE statement (a data-modifying CTE: lock + update the
    /// candidates, append their transition rows, return the run contexts); SQLite two
    /// calls (pick the candidates, then one multi-statement call that updates them, appends
    /// the transitions and selects the run contexts).
    pub(super) async fn claim_in(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        scope: ClaimScope,
        limit: i64,
        now: i64,
        token: &str,
        load: bool,
        lease_ms: i64,
    ) -> Result<(Vec<Claimed>, Vec<LoadedStep>)> {
        Self::claim_in_for(tx, rec, scope, limit, now, token, load, lease_ms, None).await
    }

    /// [`Backend::claim_in`] of the unlimited steps (`keys` None), or of the steps of `keys`
    /// (claim_keyed.rs): on PostgreSQL (key, limit) pairs locked by the caller, each key's room
    /// counted in the claim statement; on SQLite (key, room) pairs counted by the caller in
    /// this write transaction.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn claim_in_for(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        scope: ClaimScope,
        limit: i64,
        now: i64,
        token: &str,
        load: bool,
        lease_ms: i64,
        keys: Option<&[(String, i64)]>,
    ) -> Result<(Vec<Claimed>, Vec<LoadedStep>)> {
        // The claim writes these two transitions (the first for retried steps): checked against
        // the state machine before any write, like every other transition.
        ensure_allowed(Entity::Step, State::Error, State::Pending)?;
        ensure_allowed(Entity::Step, State::Pending, State::InProgress)?;
        let scope_id = match scope {
            ClaimScope::Any => 0,
            ClaimScope::Task(id) | ClaimScope::Step(id) => id,
        };
        // The claimed rows in claim order: (step id, task id, name, attempts after the claim,
        // old state, task state) and, with `load`, the row carrying the run context.
        let mut claimed: Vec<ClaimedColumns> = Vec::new();
        let mut load_rows: Vec<<Db as sqlx::Database>::Row> = Vec::new();
        if PG {
            let sql = pg_claim_sql(scope, limit, load, false, lease_ms, keys.is_some())?;
            let mut q = sqlx::query(&sql).bind(now).bind(token);
            if let Some(keys) = keys {
                q = q.bind(sqlx::types::Json(keys_json(keys)));
            }
            if scope != ClaimScope::Any {
                q = q.bind(scope_id);
            }
            for r in q.fetch_all(&mut **tx).await? {
                claimed.push(claimed_columns(&r)?);
                if load {
                    load_rows.push(r);
                }
            }
        } else {
            // SQLite: the IMMEDIATE transaction already excludes every other writer, so what the
            // candidates query read stays true until this transaction ends.
            let rows = match keys {
                None => {
                    let candidates = candidates_sql(scope, "$3", "$4", None);
                    let mut q = sqlx::query(&candidates).bind(now).bind(token).bind(limit);
                    if scope != ClaimScope::Any {
                        q = q.bind(scope_id);
                    }
                    q.fetch_all(&mut **tx).await?
                }
                Some(keys) => {
                    Self::sqlite_keyed_candidates(tx, keys, scope, limit, now, token).await?
                }
            };
            if rows.is_empty() {
                return Ok((Vec::new(), Vec::new()));
            }
            for r in &rows {
                let attempts: i64 = r.try_get(5)?;
                claimed.push((
                    r.try_get(0)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                    attempts + 1,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(7)?,
                ));
            }
            let (sql, args) = sqlite_claim_call(&claimed, token, now, lease_ms, load)?;
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
        finish_claim(claimed, &load_rows, token, rec)
    }

    pub async fn load_step(&self, step_id: i64, claim_token: &str) -> Result<LoadedStep> {
        let sql = format!(
            "SELECT s.workflow_step_id, s.task_id, s.name, s.attempts, {LOAD_STEP_COLUMNS}, {LOAD_TASK_COLUMNS}, {}, {} \
             FROM tasker_workflow_steps s{} WHERE s.workflow_step_id = $1",
            deps_column("s"),
            checkpoint_column("s"),
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
            ready_since: None,
        };
        loaded_from_row(&r, &c)
    }
}

/// SQLite: the claim of the candidates `claimed` (already picked in this IMMEDIATE
/// transaction) as ONE multi-statement call: the update, the transition rows (hops, then
/// starts) and, with `load`, the run contexts (rows carrying `workflow_step_id`). Also run on
/// the raw handle (`sqlite_raw_claim.rs`).
pub(super) fn sqlite_claim_call(
    claimed: &[ClaimedColumns],
    token: &str,
    now: i64,
    lease_ms: i64,
    load: bool,
) -> Result<(String, NumberedArgs)> {
    // Explicit `$N` placeholders only: sqlx-sqlite shares them by number across the
    // statements of one call.
    let mut args = NumberedArgs::default();
    // `set` refers to the time as $1 and the token as $2: pushed first, in that order.
    let now_p = args.int(now);
    args.text(token);
    let ids = claimed
        .iter()
        .map(|c| args.int(c.0))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = format!(
        "UPDATE tasker_workflow_steps AS s SET {} WHERE s.workflow_step_id IN ({ids})",
        claim_set(lease_ms)
    );
    let row = |c: &ClaimedColumns, from, to, metadata| TransitionRow {
        task_id: c.1,
        id: c.0,
        step_name: Some(c.2.clone()),
        from: Some(from),
        to,
        metadata,
    };
    let hops: Vec<TransitionRow> = claimed
        .iter()
        .filter(|c| c.4 == "error")
        .map(|c| {
            row(
                c,
                State::Error,
                State::Pending,
                serde_json::json!({"retry_attempt": c.3}),
            )
        })
        .collect();
    let starts: Vec<TransitionRow> = claimed
        .iter()
        .map(|c| {
            row(
                c,
                State::Pending,
                State::InProgress,
                serde_json::json!({"attempt": c.3}),
            )
        })
        .collect();
    for rows in [&hops, &starts] {
        if !rows.is_empty() {
            sql.push_str("; ");
            sql.push_str(&append_rows_sql(&mut args, Entity::Step, rows, &now_p)?);
        }
    }
    if load {
        sql.push_str(&format!(
            "; SELECT s.workflow_step_id, s.task_id, {LOAD_STEP_COLUMNS}, {LOAD_TASK_COLUMNS}, {}, {} \
             FROM tasker_workflow_steps s{} WHERE s.workflow_step_id IN ({ids})",
            deps_column("s"),
            checkpoint_column("s"),
            LOAD_TASK_JOINS.replace("{step}", "s")
        ));
    }
    Ok((sql, args))
}

/// What a claim statement returns per step, in claim order: (step id, task id, name, attempts
/// after the claim, old state, task state, ready since).
pub(super) type ClaimedColumns = (i64, i64, String, i64, String, String, i64);

pub(super) fn claimed_columns(r: &<Db as sqlx::Database>::Row) -> Result<ClaimedColumns> {
    Ok((
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get("ready_since")?,
    ))
}

/// The claimed steps and their transition records (the retry hops first, then every start),
/// with their run contexts decoded from `load_rows` (empty without `load`).
pub(super) fn finish_claim<R: LoadRow>(
    claimed: Vec<ClaimedColumns>,
    load_rows: &[R],
    token: &str,
    rec: &mut Vec<Recorded>,
) -> Result<(Vec<Claimed>, Vec<LoadedStep>)> {
    let mut out = Vec::with_capacity(claimed.len());
    let mut starts = Vec::with_capacity(claimed.len());
    for (step_id, task_id, name, attempts, old_state, task_state, ready_since) in claimed {
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
            rec.push(step(
                State::Error,
                State::Pending,
                serde_json::json!({"retry_attempt": attempts}),
            ));
        }
        starts.push(step(
            State::Pending,
            State::InProgress,
            serde_json::json!({"attempt": attempts}),
        ));
        out.push(Claimed {
            step_id,
            task_id,
            name,
            attempts,
            claim_token: token.to_string(),
            task_state: state_of(&task_state)?,
            ready_since: Some(ready_since),
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

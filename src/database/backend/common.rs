//! What every concept file of a dialect shares: the `Backend` handle, write transactions, the
//! task lock, NOTIFY, hand-numbered arguments and the row decoders. Compiled once per dialect
//! (see `database/pg.rs`, `database/sqlite.rs`): `Db` and `PG` come from there.

use super::*;
use crate::config::BackoffOverride;
use sqlx::types::Json;
use sqlx::Row;

pub(super) type Tx = sqlx::Transaction<'static, Db>;

/// Statement text built on first use and kept: the hot paths' statements are assembled from
/// shared parts (the transition writer, the counters) and were formatted again on every call.
/// Each dialect compiles this file apart, so each has its own cells.
pub(super) fn sql_once(
    cell: &'static std::sync::OnceLock<String>,
    build: impl FnOnce() -> String,
) -> &'static str {
    cell.get_or_init(build)
}

/// [`sql_once`] for text whose building checks something (the state machine's table) and can
/// fail: nothing is kept then, and the error is the caller's.
pub(super) fn sql_once_checked(
    cell: &'static std::sync::OnceLock<String>,
    build: impl FnOnce() -> Result<String>,
) -> Result<&'static str> {
    if let Some(sql) = cell.get() {
        return Ok(sql);
    }
    let sql = build()?;
    Ok(cell.get_or_init(|| sql))
}

pub(super) const STATES_ACTIVE: &str = "('pending','in_progress')";
/// A batch whose failure its `continue_on_failure` fan-out tolerated: in error for good and
/// finished for its task (docs/DYNAMIC_WORKFLOWS.md). Never retried, so `ready_at` stays NULL.
pub(super) const TOLERATED: &str =
    "(state = 'error' AND ready_at IS NULL AND COALESCE(batch_failure, '') = 'continue_on_failure')";
/// A step in error with no retry left that blocks its task (any but a tolerated batch
/// failure); `steps_exhausted_idx` covers it.
pub(super) const EXHAUSTED_STEP: &str = "(state = 'error' AND ready_at IS NULL \
     AND COALESCE(batch_failure, '') <> 'continue_on_failure')";

/// Run-context columns of a step (alias `s`), then of its task (`t`, `nt`, `ns`).
pub(super) const LOAD_STEP_COLUMNS: &str =
    "s.handler_name, s.retry_limit, s.retryable, s.inputs, s.handler_config, \
     s.lease_expires_at - s.last_attempted_at AS lease_ms, \
     s.last_attempted_at + s.timeout_ms AS deadline_at, \
     s.backoff_base_ms, s.backoff_factor, s.backoff_max_ms, s.backoff_jitter";
pub(super) const LOAD_TASK_COLUMNS: &str =
    "t.context, t.initiator, t.source_system, t.reason, t.tags, nt.name AS task_name, \
     nt.version, ns.name AS namespace";
/// Joins for `LOAD_TASK_COLUMNS`; `{step}` is the alias of the row carrying the step's task_id.
pub(super) const LOAD_TASK_JOINS: &str = " JOIN tasker_tasks t ON t.task_id = {step}.task_id \
     JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id \
     JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id";
/// A step's parents (`p`) through its incoming edges (`e`).
pub(super) const DEPS_FROM: &str =
    "FROM tasker_workflow_step_edges e JOIN tasker_workflow_steps p ON p.workflow_step_id = e.from_step_id";

/// Arguments of a hand-numbered query: each push returns its placeholder (`$1`, `$2`, ... in
/// push order). One call can then carry several statements that share parameters by number
/// (sqlx-sqlite binds `$N` by number in every statement of a multi-statement call).
#[derive(Default)]
pub(super) struct NumberedArgs(Vec<Arg>);

pub(super) enum Arg {
    Int(i64),
    Text(String),
    OptText(Option<String>),
    Json(Value),
}

impl NumberedArgs {
    pub(super) fn push(&mut self, a: Arg) -> String {
        self.0.push(a);
        format!("${}", self.0.len())
    }
    pub(super) fn int(&mut self, v: i64) -> String {
        self.push(Arg::Int(v))
    }
    pub(super) fn text(&mut self, v: &str) -> String {
        self.push(Arg::Text(v.to_string()))
    }
    pub(super) fn opt_text(&mut self, v: Option<&str>) -> String {
        self.push(Arg::OptText(v.map(str::to_string)))
    }
    pub(super) fn json(&mut self, v: Value) -> String {
        self.push(Arg::Json(v))
    }
    /// The arguments in push order (`bind`; on SQLite also the raw path's binding).
    pub(super) fn into_vec(self) -> Vec<Arg> {
        self.0
    }
    pub(super) fn bind<'q>(
        self,
        mut q: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>,
    ) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>> {
        for a in self.into_vec() {
            q = match a {
                Arg::Int(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::OptText(v) => q.bind(v),
                Arg::Json(v) => q.bind(Json(v)),
            };
        }
        q
    }
}

/// The parents' results of the step aliased `step`, as one JSON object (or NULL): a column.
pub(super) fn deps_column(step: &str) -> String {
    let agg = sql::DEPS_AGG;
    format!("(SELECT {agg} {DEPS_FROM} WHERE e.to_step_id = {step}.workflow_step_id) AS deps")
}

/// The columns a run context is decoded from: a sqlx row, or on SQLite a row read on the raw
/// handle (`sqlite_raw.rs`), so the one decoder below serves both paths.
pub(super) trait LoadRow {
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
    fn opt_real(&self, col: &str) -> Result<Option<f64>>;
    fn string(&self, col: &str) -> Result<String>;
    fn boolean(&self, col: &str) -> Result<bool>;
    fn json(&self, col: &str) -> Result<Value>;
    fn opt_json(&self, col: &str) -> Result<Option<Value>>;
}

impl<R> LoadRow for R
where
    R: Row<Database = Db>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    fn int(&self, col: &str) -> Result<i64> {
        Ok(self.try_get(col)?)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        Ok(self.try_get(col)?)
    }
    fn opt_real(&self, col: &str) -> Result<Option<f64>> {
        Ok(self.try_get(col)?)
    }
    fn string(&self, col: &str) -> Result<String> {
        Ok(self.try_get(col)?)
    }
    fn boolean(&self, col: &str) -> Result<bool> {
        Ok(self.try_get(col)?)
    }
    fn json(&self, col: &str) -> Result<Value> {
        Ok(self.try_get::<Json<Value>, _>(col)?.0)
    }
    fn opt_json(&self, col: &str) -> Result<Option<Value>> {
        Ok(self.try_get::<Option<Json<Value>>, _>(col)?.map(|j| j.0))
    }
}

/// A claimed step's run context from a row carrying `LOAD_STEP_COLUMNS`, `LOAD_TASK_COLUMNS`,
/// `task_id`, `deps` (see `deps_column`) and `checkpoint` (see `checkpoint_column`).
/// A row that cannot be decoded (a document deeper than the decoder allows, written before
/// the document policy or behind the engine's back) gives a skeleton marked `unreadable` with
/// the cause: that step then fails alone, and the claim's other steps run.
pub(super) fn loaded_from_row<R: LoadRow>(r: &R, c: &Claimed) -> Result<LoadedStep> {
    Ok(decode_loaded(r, c).unwrap_or_else(|e| LoadedStep {
        context: StepContext {
            task: TaskInfo {
                task_id: c.task_id,
                ..Default::default()
            },
            step: StepInfo {
                step_id: c.step_id,
                name: c.name.clone(),
                attempt: c.attempts,
                ..Default::default()
            },
            dependency_results: Default::default(),
            claim_token: c.claim_token.clone(),
            checkpoint: None,
        },
        backoff: Default::default(),
        lease_ms: r.int("lease_ms").unwrap_or(0),
        deadline_at: r.opt_int("deadline_at").unwrap_or(None),
        unreadable: Some(format!("the step's stored run context cannot be read: {e}")),
    }))
}

fn decode_loaded<R: LoadRow>(r: &R, c: &Claimed) -> Result<LoadedStep> {
    let dependency_results = match r.opt_json("deps")? {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => Default::default(),
        Some(other) => {
            return Err(Error::Internal(format!(
                "dependency results are not an object: {other}"
            )))
        }
    };
    Ok(LoadedStep {
        context: StepContext {
            task: TaskInfo {
                task_id: r.int("task_id")?,
                namespace: r.string("namespace")?,
                name: r.string("task_name")?,
                version: r.string("version")?,
                context: r.json("context")?,
                initiator: r.string("initiator")?,
                source_system: r.string("source_system")?,
                reason: r.string("reason")?,
                tags: r.json("tags")?,
            },
            step: StepInfo {
                step_id: c.step_id,
                name: c.name.clone(),
                handler: r.string("handler_name")?,
                attempt: c.attempts,
                retry_limit: r.int("retry_limit")?,
                retryable: r.boolean("retryable")?,
                inputs: r.json("inputs")?,
                handler_config: r.json("handler_config")?,
            },
            dependency_results,
            claim_token: c.claim_token.clone(),
            checkpoint: r.opt_json("checkpoint")?,
        },
        backoff: backoff_from_row(r)?,
        lease_ms: r.int("lease_ms")?,
        deadline_at: r.opt_int("deadline_at")?,
        unreadable: None,
    })
}

/// A stored document for a view. One that cannot be decoded (deeper than the decoder allows,
/// written behind the engine's back) is shown as `{"$unreadable": cause}`, so the rest of the
/// view still reads; other errors (a missing column) are errors.
pub(super) fn view_json(r: &<Db as sqlx::Database>::Row, col: &str) -> Result<Option<Value>> {
    match r.try_get::<Option<Json<Value>>, _>(col) {
        Ok(v) => Ok(v.map(|j| j.0)),
        Err(sqlx::Error::ColumnDecode { source, .. }) => Ok(Some(
            serde_json::json!({ "$unreadable": source.to_string() }),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A step's backoff override from a row carrying its `backoff_*` columns.
pub(super) fn backoff_from_row<R: LoadRow>(r: &R) -> Result<BackoffOverride> {
    let base = r.opt_int("backoff_base_ms")?;
    let max = r.opt_int("backoff_max_ms")?;
    Ok(BackoffOverride {
        base_ms: base.map(|v| v.max(0) as u64),
        factor: r.opt_real("backoff_factor")?,
        max_ms: max.map(|v| v.max(0) as u64),
        jitter: r.opt_real("backoff_jitter")?,
    })
}

pub struct Backend {
    pub pool: sqlx::Pool<Db>,
    /// SQLite allows one writer: in-process writers queue here instead of spinning on SQLITE_BUSY.
    /// It guards the writer connection as the raw path leaves it (see `ParkedWriter`).
    pub(super) write_lock: Option<tokio::sync::Mutex<ParkedWriter>>,
    /// SQLite files: the one connection of every write transaction (see `begin`).
    pub(super) write_pool: Option<sqlx::Pool<Db>>,
    /// SQLite files: the statements prepared on the writer connection's raw handle
    /// (`sqlite_raw.rs`), used under the writer lock; finalized before that connection closes.
    pub(super) raw: parking_lot::Mutex<crate::database::sqlite_raw::RawStatements>,
    /// SQLite files: the lock file that serialises migrations across processes.
    pub migration_lock: Option<std::path::PathBuf>,
    /// PostgreSQL: marks the pool suspect after a dead connection (see `stale_connections.rs`).
    pub stale: crate::database::StaleConnections,
    /// The lease of steps whose template sets none, chosen when they are claimed (the
    /// claiming client's `lease_ms`).
    pub claim_lease_ms: i64,
    /// Whether claims look for steps under a concurrency limit (claim_keyed.rs).
    pub(super) keyed: super::claim_keyed::KeyedGate,
    /// PostgreSQL: the complete-and-claim functions known installed (complete_and_claim_fn.rs).
    pub(super) step_fns: super::complete_and_claim_fn::StepFns,
    /// PostgreSQL: the connection kept between hot single statements (`checkout`).
    pub(super) parked: crate::database::ParkedConnection<Db>,
}

/// SQLite files: the writer connection kept checked out of its pool between raw transactions
/// (`sqlite_raw_tx.rs`), its raw handle locked (`HeldWriter` says why). Taking a connection
/// back, sqlx pings it (a round trip to its thread, from a spawned task): thread wake-ups that
/// were about a sixth of an inline 4-step run (P50 0.85x parked, docs/PERFORMANCE.md). A sqlx
/// transaction (`begin`) gives it back first. Never set on PostgreSQL.
pub(super) type ParkedWriter = Option<crate::database::HeldWriter>;

/// A write transaction; on SQLite it also holds the in-process writer lock.
pub(super) struct WriteTx<'a> {
    pub(super) tx: Tx,
    _guard: Option<tokio::sync::MutexGuard<'a, ParkedWriter>>,
}

impl Backend {
    pub(super) fn new(pool: sqlx::Pool<Db>) -> Backend {
        Backend {
            write_lock: if PG {
                None
            } else {
                Some(tokio::sync::Mutex::new(None))
            },
            migration_lock: None,
            write_pool: None,
            raw: Default::default(),
            stale: Default::default(),
            claim_lease_ms: crate::config::Config::default().lease_ms as i64,
            keyed: Default::default(),
            step_fns: Default::default(),
            parked: crate::database::ParkedConnection::new(PG),
            pool,
        }
    }

    /// A connection for one autocommit statement of the hot path (see `parked_connection.rs`);
    /// call `done()` on it once the statement's result is read.
    pub(crate) async fn checkout(&self) -> Result<crate::database::Checkout<'_, Db>> {
        Ok(self.parked.checkout(&self.pool, &self.stale).await?)
    }

    pub(super) async fn begin(&self) -> Result<WriteTx<'_>> {
        match &self.write_lock {
            Some(lock) => {
                let mut guard = lock.lock().await;
                // The raw path's parked connection goes back to the pool, to take it below.
                drop(guard.take());
                // IMMEDIATE takes the write lock up front, so a read-then-write transaction never
                // fails on lock upgrade; other processes wait in the busy handler.
                let pool = self.write_pool.as_ref().unwrap_or(&self.pool);
                let tx = pool.begin_with("BEGIN IMMEDIATE").await?;
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

    /// Closes the connections (the writer's too, after the raw statements prepared on it are
    /// finalized: sqlx cannot close a connection with live statements).
    pub async fn close(&self) {
        if let Some(w) = &self.write_pool {
            if let Some(lock) = &self.write_lock {
                let mut parked = lock.lock().await;
                // Held, the handle is ours; checked out, the connection is idle: no statement
                // of sqlx's runs on it either way.
                match parked.take() {
                    Some(mut held) => held.with_raw(|_| self.raw.lock().finalize_all()),
                    None => {
                        if let Ok(_idle) = w.acquire().await {
                            self.raw.lock().finalize_all();
                        }
                    }
                }
            }
            w.close().await;
        }
        self.parked.release();
        self.pool.close().await;
    }

    /// Locks the task row (PostgreSQL) and returns its state. Every write that touches a task's
    /// steps after claim time takes this lock first, which orders them and avoids deadlocks.
    pub(super) async fn lock_task(tx: &mut Tx, task_id: i64) -> Result<State> {
        let row: Option<String> = sqlx::query_scalar(sql::LOCK_TASK)
            .bind(task_id)
            .fetch_optional(&mut **tx)
            .await?;
        match row {
            Some(s) => state_of(&s),
            None => Err(Error::TaskNotFound(task_id)),
        }
    }

    pub(super) async fn notify_ready(tx: &mut Tx) -> Result<()> {
        if let Some(notify) = sql::NOTIFY_READY {
            sqlx::query(notify)
                .bind(READY_CHANNEL)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    pub(super) async fn step_task_id_tx(tx: &mut Tx, step_id: i64) -> Result<i64> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT task_id FROM tasker_workflow_steps WHERE workflow_step_id = $1",
        )
        .bind(step_id)
        .fetch_optional(&mut **tx)
        .await?;
        id.ok_or(Error::StepNotFound(step_id))
    }
}

impl Drop for Backend {
    /// A backend dropped without `close`: the raw statements are finalized while the writer
    /// connection still lives. Parked or checked out, the connection runs nothing of sqlx's
    /// meanwhile; it is then detached from its pool and closed here (a checked-out connection
    /// going back to the pool needs a runtime, which a drop may not have). One in use cannot be
    /// here: its users borrow the backend.
    fn drop(&mut self) {
        let Some(w) = &self.write_pool else {
            return;
        };
        // Parked, the connection is ours; otherwise it is taken from its pool if idle.
        let parked = self.write_lock.as_mut().and_then(|l| l.get_mut().take());
        let raw = self.raw.get_mut();
        match parked {
            Some(mut held) => {
                held.with_raw(|_| raw.finalize_all());
                drop(held.into_connection().detach());
            }
            None if raw.is_empty() => {}
            None => match w.try_acquire() {
                Some(conn) => {
                    raw.finalize_all();
                    drop(conn.detach());
                }
                None => {
                    tracing::warn!("SQLite writer connection busy at drop: raw statements left")
                }
            },
        }
    }
}

pub(super) fn transition_view(
    r: &<Db as sqlx::Database>::Row,
    first: usize,
) -> Result<TransitionView> {
    let from: Option<String> = r.try_get(first)?;
    let to: String = r.try_get(first + 1)?;
    let meta: Json<Value> = r.try_get(first + 2)?;
    Ok(TransitionView {
        from_state: from.as_deref().map(state_of).transpose()?,
        to_state: state_of(&to)?,
        metadata: meta.0,
        sort_key: r.try_get(first + 3)?,
        // Derived by the caller: the last row of an entity's history ordered by sort_key.
        most_recent: false,
        created_at: r.try_get(first + 4)?,
    })
}

//! Storage: one interface over SQLite (embedded default) and PostgreSQL.
//!
//! The SQL is written once, in the concept files under `backend/`, and compiled twice as child
//! modules of `pg.rs` and `sqlite.rs` (one per sqlx driver). Statements that differ per dialect
//! are named constants in `pg_sql.rs` / `sqlite_sql.rs`; the few code paths that differ are
//! selected by the `PG` constant of each instantiation.

use crate::config::BackoffOverride;
use crate::models::*;
use crate::registry::BatchFailure;
use crate::{Error, Result};
use serde_json::Value;

mod held_claim;
mod held_writer;
mod listener;
mod migrations;
mod parked_connection;
mod purge_batch;
mod stale_connections;

pub use held_claim::HeldClaim;
pub(crate) use held_writer::HeldWriter;
pub(crate) use listener::spawn_ready_listener;
pub(crate) use migrations::{migrator, PG_MIGRATIONS, SQLITE_MIGRATIONS};
pub(crate) use parked_connection::{Checkout, ParkedConnection};
pub use purge_batch::{PurgeBatch, PurgeCutoffs};
pub use stale_connections::StaleConnections;

/// Channel used for PostgreSQL LISTEN/NOTIFY wakeups of idle workers.
pub const READY_CHANNEL: &str = "tasker_ready";

/// Channel NOTIFYed (by a trigger, migration 0005) when a task reaches a final or blocked
/// state; `wait_task` listens on it.
pub const FINISHED_CHANNEL: &str = "tasker_task_finished";

/// A state change committed by an operation (events are built from it after commit).
pub use crate::state_machine::Transition as Recorded;

/// A step to insert at task creation.
#[derive(Debug, Clone, Default)]
pub struct NewStep {
    pub named_step_id: i64,
    pub name: String,
    pub handler: String,
    pub handler_config: Value,
    pub retryable: bool,
    pub retry_limit: i64,
    pub skippable: bool,
    pub lease_ms: i64,
    /// Attempt timeout (ms); None for none.
    pub timeout_ms: Option<i64>,
    pub backoff: BackoffOverride,
    pub inputs: Value,
    pub bypassed: bool,
    pub pending_parents: i64,
    /// A batch instance's failure strategy when it is not fail_fast (stored on the row so the
    /// fail path needs no template); None for every other step.
    pub batch_failure: Option<BatchFailure>,
    /// The flow key (docs/FLOW_CONTROL.md), set when the step has a concurrency or rate
    /// limit; None: not limited.
    pub flow_key: Option<String>,
    /// At most this many steps of the flow key in progress; None: no concurrency limit.
    pub concurrency_limit: Option<i64>,
    /// At most `.0` starts of the flow key in any window of `.1` ms; None: no rate limit.
    pub rate_limit: Option<(i64, i64)>,
}

/// A task to insert, with its steps and edges (indexes into `steps`).
#[derive(Debug, Clone)]
pub struct NewTask {
    pub named_task_id: i64,
    pub initiator: String,
    pub source_system: String,
    pub reason: String,
    pub tags: Value,
    pub bypass_steps: Value,
    pub context: Value,
    pub identity_hash: String,
    pub steps: Vec<NewStep>,
    pub edges: Vec<(usize, usize)>,
    /// When the steps become claimable (creation time, or a delayed start).
    pub start_at: i64,
    /// The claim priority of every step (validated, `MIN_PRIORITY..=MAX_PRIORITY`).
    pub priority: i64,
    /// When the task fails if unfinished (epoch ms), or None.
    pub deadline_at: Option<i64>,
}

/// What a decision's completion creates: step rows, and edges by step name (an edge whose
/// ends do not both exist in the task is skipped).
#[derive(Debug, Clone, Default)]
pub struct DecisionPlan {
    pub steps: Vec<NewStep>,
    pub edges: Vec<(String, String)>,
}

/// A step claimed by a worker: it is `in_progress` under `claim_token` until its lease expires.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub step_id: i64,
    pub task_id: i64,
    pub name: String,
    pub attempts: i64,
    pub claim_token: String,
    /// The task's state when the step was claimed (a pending task is started after the claim).
    pub task_state: State,
    /// Since when the step was claimable (its `ready_at`, or the last write to its row when
    /// that came later: a child becomes claimable when its last parent finishes); for the
    /// start-delay metric. None when not read by a claim.
    pub ready_since: Option<i64>,
}

/// A successful step outcome to persist as part of a group (`Store::complete_steps`).
#[derive(Debug, Clone)]
pub struct Completion {
    pub task_id: i64,
    pub step_id: i64,
    pub claim_token: String,
    pub results: Value,
}

/// A claimed step with what it needs to run, loaded in the claim's transaction.
pub type ClaimedStep = (Claimed, LoadedStep);

/// Which steps a claim may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimScope {
    Any,
    Task(i64),
    Step(i64),
}

/// A failed attempt as persisted in the step's results under `error`.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub message: String,
    pub class: String,
    pub permanent: bool,
    pub retry_after_ms: Option<u64>,
    pub details: Value,
}

/// What completing a step changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepSettled {
    pub recorded: Vec<Recorded>,
    /// Children that became claimable.
    pub newly_ready: Vec<i64>,
    pub task_finished: bool,
    /// The result arrived for a cancelled task and was discarded.
    pub discarded: bool,
    /// For failures: whether another attempt will be made, and after how long.
    pub will_retry: bool,
    pub retry_delay_ms: Option<u64>,
    pub task_blocked: bool,
    /// The finished task's execution context, read in the completion's own transaction when
    /// the path reads it (PostgreSQL's complete-and-claim function): `run_task` returns it
    /// without another round trip.
    pub finished: Option<ExecutionContext>,
}

/// A complete-and-claim: the completion, the steps claimed with it (with their run contexts)
/// and the claims' transition records.
pub type CompletedAndClaimed = (StepSettled, Vec<ClaimedStep>, Vec<Recorded>);

/// Everything the foundation needs to run a claimed step.
#[derive(Debug, Clone)]
pub struct LoadedStep {
    pub context: StepContext,
    pub backoff: BackoffOverride,
    pub lease_ms: i64,
    /// When the attempt times out (claim time + the step's timeout; epoch ms), None for no
    /// timeout.
    pub deadline_at: Option<i64>,
    /// Why the stored run context could not be decoded (the step then fails permanently with
    /// this cause instead of stopping the whole claim); `context` is then a skeleton.
    pub unreadable: Option<String>,
}

/// A step whose lease expired.
#[derive(Debug, Clone, PartialEq)]
pub struct Expired {
    pub step_id: i64,
    pub task_id: i64,
    pub claim_token: String,
    /// What the retry decision needs: the attempts made, the step's retry settings.
    pub attempts: i64,
    pub retryable: bool,
    pub retry_limit: i64,
    pub backoff: BackoffOverride,
    /// When the attempt timed out (claim time + timeout), None for no timeout.
    pub deadline_at: Option<i64>,
    /// The step's template and handler (labels of the lease-expired metric).
    pub labels: crate::metrics::StepLabels,
}

/// Result of a manual operation on a task or step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpOutcome {
    pub recorded: Vec<Recorded>,
    pub newly_ready: Vec<i64>,
    /// False when the operation was a no-op (already in the requested state).
    pub changed: bool,
}

pub(crate) fn state_of(s: &str) -> Result<State> {
    s.parse()
}

pub(crate) fn failure_json(f: &Failure, attempt: i64, now: i64) -> Value {
    serde_json::json!({
        "error": {
            "message": f.message,
            "class": f.class,
            "permanent": f.permanent,
            "retry_after_ms": f.retry_after_ms,
            "details": f.details,
            "attempt": attempt,
            "failed_at": now,
        }
    })
}

mod pg;
pub use pg::complete_claim_fn_source;
mod sqlite;
mod sqlite_raw;

/// The storage handle of a client: one connection pool on one backend.
pub enum Store {
    Postgres(pg::Backend),
    Sqlite(sqlite::Backend),
}

macro_rules! dispatch {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            Store::Postgres($b) => $e,
            Store::Sqlite($b) => $e,
        }
    };
}

/// Like `dispatch!`, but on PostgreSQL a statement that met a dead pooled connection (after a
/// server restart) is sent again on a live one instead of failing the caller. Only for calls
/// that are safe to repeat: reads, and writes that are fenced (claim tokens, state checks) or
/// deduplicated (task identity), so a commit whose reply was lost cannot apply twice.
macro_rules! dispatch_resending {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            Store::Postgres($b) => {
                let mut resent = 0;
                loop {
                    match $e {
                        Err(err) if resent < $crate::database::RESEND_ON_DEAD_CONNECTION && err.is_dead_connection() => {
                            tracing::warn!(error = %err, "dead pooled connection; sending the statement again");
                            $b.stale.mark();
                            resent += 1;
                        }
                        r => break r,
                    }
                }
            }
            Store::Sqlite($b) => $e,
        }
    };
}

/// How often one call is sent again after dead connections (the pool drops the dead ones it
/// finds once marked suspect, so one resend normally suffices).
const RESEND_ON_DEAD_CONNECTION: u32 = 2;

// After the dispatch macros, which they use.
mod rate_starts;
mod schedules;

impl Store {
    /// Connects (creating an SQLite file if missing) and applies the embedded migrations.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        connect_timeout: std::time::Duration,
    ) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(
                pg::Backend::connect_pg(url, max_connections, connect_timeout).await?,
            ))
        } else if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(
                sqlite::Backend::connect_sqlite(url, max_connections).await?,
            ))
        } else {
            Err(Error::Config(format!(
                "unsupported database URL '{}': use sqlite://PATH, sqlite::memory: or postgres://...",
                crate::config::redact_url(url)
            )))
        }
    }

    /// Sets the lease of claimed steps whose template sets none (the client's `lease_ms`).
    pub fn with_claim_lease_ms(mut self, lease_ms: u64) -> Store {
        let ms = i64::try_from(lease_ms).unwrap_or(i64::MAX);
        match &mut self {
            Store::Postgres(b) => b.claim_lease_ms = ms,
            Store::Sqlite(b) => b.claim_lease_ms = ms,
        }
        self
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    pub fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        match self {
            Store::Postgres(b) => Some(&b.pool),
            Store::Sqlite(_) => None,
        }
    }

    pub async fn migrate(&self) -> Result<()> {
        match self {
            Store::Postgres(b) => migrator(PG_MIGRATIONS).await?.run(&b.pool).await?,
            Store::Sqlite(b) => b.migrate(b.migration_lock.as_deref()).await?,
        }
        Ok(())
    }

    pub async fn close(&self) {
        dispatch!(self, b => b.close().await)
    }

    #[allow(clippy::too_many_arguments)]
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
        dispatch_resending!(self, b => b.upsert_template(namespace, name, version, description, configuration, steps, now).await)
    }

    pub async fn template_configurations(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<(String, Value)>> {
        dispatch_resending!(self, b => b.template_configurations(namespace, name).await)
    }

    pub async fn all_template_configurations(&self) -> Result<Vec<Value>> {
        dispatch_resending!(self, b => b.all_template_configurations().await)
    }

    pub async fn create_task(
        &self,
        task: &NewTask,
        now: i64,
    ) -> Result<(CreatedTask, Vec<Recorded>)> {
        dispatch_resending!(self, b => b.create_task(task, now).await)
    }

    pub async fn claim(
        &self,
        scope: ClaimScope,
        limit: i64,
        now: i64,
    ) -> Result<(Vec<Claimed>, Vec<Recorded>)> {
        dispatch_resending!(self, b => b.claim(scope, limit, now).await)
    }

    /// Claims and loads the claimed steps' contexts in one transaction (see `Backend::claim_loaded`).
    pub async fn claim_loaded(
        &self,
        scope: ClaimScope,
        limit: i64,
        now: i64,
    ) -> Result<(Vec<ClaimedStep>, Vec<Recorded>)> {
        dispatch_resending!(self, b => b.claim_loaded(scope, limit, now).await)
    }

    /// Completes a step and claims up to `limit` ready steps of its task in the same transaction.
    pub async fn complete_step_and_claim(
        &self,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        results: &Value,
        now: i64,
        limit: i64,
    ) -> Result<CompletedAndClaimed> {
        dispatch_resending!(self, b => b.complete_step_and_claim(task_id, step_id, claim_token, results, now, limit).await)
    }

    pub async fn start_task(&self, task_id: i64, now: i64) -> Result<Vec<Recorded>> {
        dispatch_resending!(self, b => b.start_task(task_id, now).await)
    }

    pub async fn load_step(&self, step_id: i64, claim_token: &str) -> Result<LoadedStep> {
        dispatch_resending!(self, b => b.load_step(step_id, claim_token).await)
    }

    pub async fn complete_step(
        &self,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        results: &Value,
        now: i64,
    ) -> Result<StepSettled> {
        dispatch_resending!(self, b => b.complete_step(task_id, step_id, claim_token, results, now).await)
    }

    /// Completes a decision step and creates the steps it chose, in one transaction; returns
    /// the steps created (id, name).
    pub async fn complete_decision(
        &self,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        results: &Value,
        now: i64,
        plan: &DecisionPlan,
    ) -> Result<(StepSettled, Vec<(i64, String)>)> {
        dispatch_resending!(self, b => b.complete_decision(task_id, step_id, claim_token, results, now, plan).await)
    }

    /// Completes several claimed steps in one transaction; one result per item, in order.
    pub async fn complete_steps(
        &self,
        items: &[Completion],
        now: i64,
    ) -> Result<Vec<Result<StepSettled>>> {
        dispatch_resending!(self, b => b.complete_steps(items, now).await)
    }

    /// Completes several claimed steps and claims up to `limit` ready steps of one of their
    /// tasks, in one transaction.
    pub async fn complete_steps_and_claim(
        &self,
        items: &[Completion],
        now: i64,
        claim: Option<(i64, i64)>,
    ) -> Result<(Vec<Result<StepSettled>>, Vec<ClaimedStep>, Vec<Recorded>)> {
        dispatch_resending!(self, b => b.complete_steps_and_claim(items, now, claim).await)
    }

    pub async fn fail_step(
        &self,
        task_id: i64,
        step_id: i64,
        claim_token: &str,
        failure: &Failure,
        decision: &crate::step_handler::RetryDecision,
        now: i64,
    ) -> Result<StepSettled> {
        dispatch_resending!(self, b => b.fail_step(task_id, step_id, claim_token, failure, decision, now).await)
    }

    /// Gives claims back: still-current ones return to ready, their attempt not counted.
    pub async fn release_claims(&self, claims: &[HeldClaim], now: i64) -> Result<Vec<Recorded>> {
        dispatch!(self, b => b.release_claims(claims, now).await)
    }

    pub async fn expired_leases(
        &self,
        scope: ClaimScope,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Expired>> {
        dispatch_resending!(self, b => b.expired_leases(scope, now, limit).await)
    }

    pub async fn stop_reason(
        &self,
        step_id: i64,
        claim_token: &str,
        now: i64,
    ) -> Result<Option<crate::models::StopReason>> {
        dispatch_resending!(self, b => b.stop_reason(step_id, claim_token, now).await)
    }

    pub async fn heartbeat(&self, step_id: i64, claim_token: &str, now: i64) -> Result<i64> {
        dispatch_resending!(self, b => b.heartbeat(step_id, claim_token, now).await)
    }

    /// Stores the step's checkpoint (replacing the previous one) if the claim is current.
    pub async fn record_checkpoint(
        &self,
        step_id: i64,
        claim_token: &str,
        checkpoint: &Value,
        now: i64,
    ) -> Result<()> {
        dispatch_resending!(self, b => b.record_checkpoint(step_id, claim_token, checkpoint, now).await)
    }

    pub async fn cancel_task(&self, task_id: i64, now: i64) -> Result<OpOutcome> {
        dispatch_resending!(self, b => b.cancel_task(task_id, now).await)
    }

    pub async fn pending_deadline(&self, task_id: i64) -> Result<Option<i64>> {
        dispatch_resending!(self, b => b.pending_deadline(task_id).await)
    }

    pub async fn due_deadlines(&self, now: i64, limit: i64) -> Result<Vec<i64>> {
        dispatch_resending!(self, b => b.due_deadlines(now, limit).await)
    }

    pub async fn enforce_deadline(&self, task_id: i64, now: i64) -> Result<OpOutcome> {
        dispatch_resending!(self, b => b.enforce_deadline(task_id, now).await)
    }

    pub async fn resolve_step(&self, step_id: i64, results: &Value, now: i64) -> Result<OpOutcome> {
        dispatch_resending!(self, b => b.resolve_step(step_id, results, now).await)
    }

    pub async fn retry_step(&self, step_id: i64, now: i64) -> Result<OpOutcome> {
        dispatch_resending!(self, b => b.retry_step(step_id, now).await)
    }

    pub async fn task_view(&self, task_id: i64, now: i64) -> Result<TaskView> {
        dispatch_resending!(self, b => b.task_view(task_id, now).await)
    }

    pub async fn watch_finish(&self, task_id: i64) -> Result<()> {
        dispatch_resending!(self, b => b.watch_finish(task_id).await)
    }

    pub async fn execution_context(&self, task_id: i64, now: i64) -> Result<ExecutionContext> {
        dispatch_resending!(self, b => b.execution_context(task_id, now).await)
    }

    pub async fn list_tasks(&self, filter: &TaskFilter, now: i64) -> Result<TaskPage> {
        dispatch_resending!(self, b => b.list_tasks(filter, now).await)
    }

    pub async fn list_steps(&self, filter: &StepFilter, now: i64) -> Result<StepPage> {
        dispatch_resending!(self, b => b.list_steps(filter, now).await)
    }

    pub async fn health(&self, now: i64) -> Result<HealthCounts> {
        dispatch_resending!(self, b => b.health(now).await)
    }

    pub async fn failing_handlers(&self, limit: u32) -> Result<Vec<FailingHandler>> {
        dispatch_resending!(self, b => b.failing_handlers(limit).await)
    }

    pub async fn newest_task_id(&self) -> Result<i64> {
        dispatch_resending!(self, b => b.newest_task_id().await)
    }

    pub async fn purge_batch(
        &self,
        ids: (i64, i64),
        cut: PurgeCutoffs,
        named_tasks: Option<&[i64]>,
        limit: u32,
        dry_run: bool,
    ) -> Result<PurgeBatch> {
        dispatch_resending!(self, b => b.purge_batch(ids, cut, named_tasks, limit, dry_run).await)
    }

    pub async fn named_task_ids(
        &self,
        template: &crate::models::PurgeTemplate,
    ) -> Result<Vec<i64>> {
        dispatch_resending!(self, b => b.named_task_ids(template).await)
    }

    pub async fn metric_gauges(&self, now: i64) -> Result<(i64, Vec<(State, i64)>)> {
        dispatch_resending!(self, b => b.metric_gauges(now).await)
    }

    pub async fn ready_step_ids(&self, task_id: i64, now: i64) -> Result<Vec<i64>> {
        dispatch_resending!(self, b => b.ready_step_ids(task_id, now).await)
    }

    pub async fn step_task_id(&self, step_id: i64) -> Result<i64> {
        dispatch_resending!(self, b => b.step_task_id(step_id).await)
    }

    /// The step's state and when it may next be claimed (for host-queue deliveries).
    pub async fn step_status(&self, step_id: i64) -> Result<(i64, State, Option<i64>, i64)> {
        dispatch_resending!(self, b => b.step_status(step_id).await)
    }
}

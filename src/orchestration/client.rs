//! `Client`: the facade. One runtime and one pool per client; every public method is a short,
//! blocking call made from a host thread, delegating to the concept that does the work. Handler
//! hooks, enqueue callbacks and event subscribers run on the calling thread.

use super::call_gate::CallGate;
use super::checkpoints;
use super::deadlines::Deadlines;
use super::host_queue::HostQueue;
use super::interrupt::Interrupt;
use super::lease_reaper::LeaseReaper;
use super::operations::Operations;
use super::retention::Retention;
use super::schedules::Schedules;
use super::task_factory::TaskFactory;
use super::templates::Templates;
use super::worker::{StopHandle, Worker};
use super::OrchestrationCoordinator;
use crate::config::{Clock, Config, SystemClock};
use crate::database::{Recorded, Store};
use crate::events::{Event, EventBus, Subscriber};
use crate::models::*;
use crate::queue::QueueInjector;
use crate::registry::{HandlerRegistry, RegisteredTemplate, TaskTemplate, TemplateRegistry};
use crate::step_handler::{StepHandler, StepHandlerFoundation};
use crate::{Error, Result};
use parking_lot::RwLock;
use serde_json::Value;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::Arc;

/// The embedded default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tasker.db";

pub(crate) struct Inner {
    // Field order matters: the pool must drop before the runtime that drives it.
    pub(crate) store: Store,
    pub(crate) config: Config,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) templates: TemplateRegistry,
    pub(crate) handlers: HandlerRegistry,
    pub(crate) events: EventBus,
    pub(crate) injector: RwLock<Option<Arc<dyn QueueInjector>>>,
    /// Woken when steps may have become ready (local commits, PostgreSQL NOTIFY).
    pub(crate) ready: Arc<tokio::sync::Notify>,
    /// Woken when a task may have finished or become blocked (local commits of a task
    /// transition, PostgreSQL NOTIFY on `FINISHED_CHANNEL`); `wait_task` waits on it.
    pub(crate) settled: Arc<tokio::sync::Notify>,
    pub(crate) listener_started: AtomicBool,
    pub(crate) last_lease_check: AtomicI64,
    /// When this client last checked for due task deadlines (`lease_check_interval_ms`).
    pub(crate) last_deadline_check: AtomicI64,
    /// When this client's workers last applied the retention (`retention.interval_ms`), and
    /// the task id its next pass starts after.
    pub(crate) last_retention_run: AtomicI64,
    pub(crate) retention_cursor: AtomicI64,
    /// When this client's workers last pruned the rate-limit starts (once an hour).
    pub(crate) last_rate_prune: AtomicI64,
    /// When this client last checked for due schedule ticks (`schedule_check_interval_ms`).
    pub(crate) last_schedule_check: AtomicI64,
    /// The size of the workers' next claim (`run_once`, `run_worker`).
    pub(crate) claim_size: super::AdaptiveClaim,
    /// Ends the blocking calls running now (`interrupt`).
    pub(crate) interrupt: Arc<Interrupt>,
    /// The calls running now, the workers among them, and whether the client is closed.
    pub(crate) gate: CallGate,
    /// Failed iterations of this client's workers (reported by `health`).
    pub(crate) worker_health: super::WorkerHealth,
    /// This client's step counters and histograms (`metrics`).
    pub(crate) metrics: crate::metrics::MetricsRegistry,
    pub(crate) rt: tokio::runtime::Runtime,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Close connections cleanly unless dropped inside an async context (where block_on panics).
        if tokio::runtime::Handle::try_current().is_err() {
            self.rt.block_on(self.store.close());
        }
    }
}

/// A thread-safe handle on one database. Cloning is cheap and shares everything.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("postgres", &self.inner.store.is_postgres())
            .finish()
    }
}

/// A non-owning reference to a client (handlers use it to heartbeat without keeping the
/// client alive).
#[derive(Clone)]
pub struct WeakClient(std::sync::Weak<Inner>);

impl WeakClient {
    pub fn upgrade(&self) -> Option<Client> {
        self.0.upgrade().map(|inner| Client { inner })
    }
}

impl Client {
    // ---- connection --------------------------------------------------------------------------

    /// Connects with default options. `url`: `sqlite://PATH`, `sqlite::memory:` or `postgres://...`.
    pub fn connect(url: &str) -> Result<Client> {
        Client::connect_with(url, Config::default(), None)
    }

    /// Connects to `TASKER_DATABASE_URL`, or the embedded default `sqlite://tasker.db`.
    pub fn connect_default() -> Result<Client> {
        let url =
            std::env::var("TASKER_DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.into());
        Client::connect(&url)
    }

    /// Connects with options and, optionally, a clock (tests use a manual clock).
    pub fn connect_with(
        url: &str,
        config: Config,
        clock: Option<Arc<dyn Clock>>,
    ) -> Result<Client> {
        config.validate()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tasker-rt")
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start runtime: {e}")))?;
        let store = rt
            .block_on(Store::connect(
                url,
                config.max_connections,
                std::time::Duration::from_millis(config.connect_timeout_ms),
            ))?
            .with_claim_lease_ms(config.lease_ms);
        Ok(Client {
            inner: Arc::new(Inner {
                store,
                config,
                clock: clock.unwrap_or_else(|| Arc::new(SystemClock)),
                templates: TemplateRegistry::default(),
                handlers: HandlerRegistry::default(),
                events: EventBus::default(),
                injector: RwLock::new(None),
                ready: Arc::new(tokio::sync::Notify::new()),
                settled: Arc::new(tokio::sync::Notify::new()),
                listener_started: AtomicBool::new(false),
                last_lease_check: AtomicI64::new(i64::MIN),
                last_deadline_check: AtomicI64::new(i64::MIN),
                last_retention_run: AtomicI64::new(i64::MIN),
                last_rate_prune: AtomicI64::new(i64::MIN),
                retention_cursor: AtomicI64::new(0),
                last_schedule_check: AtomicI64::new(i64::MIN),
                claim_size: super::AdaptiveClaim::default(),
                interrupt: Arc::default(),
                gate: CallGate::default(),
                worker_health: Default::default(),
                metrics: Default::default(),
                rt,
            }),
        })
    }

    /// Applies the embedded migrations (already done on connect; idempotent).
    pub fn migrate(&self) -> Result<()> {
        self.call(|| self.block(self.inner.store.migrate()))
    }

    /// Runs one public call inside the client's gate: refused with `Closed` once the client is
    /// closed (unless made from inside a running call on this thread), awaited by `close`.
    fn call<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let _inside = self.inner.gate.enter()?;
        f()
    }

    // ---- shutdown (interrupt.rs, call_gate.rs) -----------------------------------------------

    /// Interrupts every blocking call running on this client now (`run_task`, `run_worker`,
    /// `run_once`, `handle_step`, their waits): each gives back the claims whose handlers have
    /// not finished (back to ready, the attempt not counted; an outcome a handler reports
    /// after the interrupt is not written) and returns `Err(Interrupted)` as soon as the
    /// handler running on its thread returns. Calls started afterwards are not affected. Safe
    /// from any thread, but not async-signal-safe: call it from a normal thread.
    pub fn interrupt(&self) {
        self.inner.interrupt.interrupt();
    }

    /// Closes the client: new calls fail with `Closed`, running workers are stopped (as by
    /// their `StopHandle`), subscriptions are dropped, and it returns once the calls running
    /// on other threads have returned. Idempotent. Called from inside a call (a handler), it
    /// waits for the other threads' calls only. The client stays allocated until dropped.
    pub fn close(&self) {
        self.inner.gate.close();
        self.inner.events.clear();
    }

    pub fn is_closed(&self) -> bool {
        self.inner.gate.is_closed()
    }

    pub fn downgrade(&self) -> WeakClient {
        WeakClient(Arc::downgrade(&self.inner))
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn is_postgres(&self) -> bool {
        self.inner.store.is_postgres()
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    pub(crate) fn block<F: Future>(&self, f: F) -> F::Output {
        self.inner.rt.block_on(f)
    }

    /// Publishes the events of committed transitions (and wakes `wait_task` on a task's).
    pub(crate) fn publish(&self, transitions: &[Recorded]) {
        if transitions
            .iter()
            .any(|t| t.entity == crate::state_machine::Entity::Task)
        {
            self.inner.settled.notify_waiters();
        }
        self.inner
            .events
            .publish_transitions(transitions, self.now());
    }

    /// Starts the client's PostgreSQL LISTEN loop once (SQLite has none: local commits wake).
    pub(crate) fn ensure_listener(&self) {
        let inner = &self.inner;
        let Some(pool) = inner.store.pg_pool() else {
            return;
        };
        if inner
            .listener_started
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        crate::database::spawn_ready_listener(
            &inner.rt,
            pool.clone(),
            inner.ready.clone(),
            inner.settled.clone(),
        );
    }

    // ---- templates and handlers (templates.rs) ----------------------------------------------

    /// Registers a validated template (stored, so other processes can create tasks from it).
    pub fn register_template(&self, template: TaskTemplate) -> Result<Arc<RegisteredTemplate>> {
        self.call(|| Templates::new(self).register(template))
    }

    /// Parses, validates and registers a YAML template.
    pub fn register_template_yaml(&self, yaml: &str) -> Result<Arc<RegisteredTemplate>> {
        self.call(|| Templates::new(self).register_yaml(yaml))
    }

    pub fn register_template_file(
        &self,
        path: &std::path::Path,
    ) -> Result<Arc<RegisteredTemplate>> {
        self.call(|| Templates::new(self).register_file(path))
    }

    /// Registers a template given as a map with the YAML structure.
    pub fn register_template_value(&self, value: Value) -> Result<Arc<RegisteredTemplate>> {
        self.call(|| Templates::new(self).register_value(value))
    }

    /// Every template version stored in the database (registered by any process), sorted by
    /// namespace, name and semantic version. Read-only: nothing is registered in this client.
    pub fn templates(&self) -> Result<Vec<TaskTemplate>> {
        self.call(|| Templates::new(self).stored())
    }

    pub fn register_handler(&self, name: &str, handler: Arc<dyn StepHandler>) -> Result<()> {
        self.register_handler_with(name, || handler)
    }

    /// As `register_handler`, building the handler only when it is stored (see
    /// `HandlerRegistry::register`).
    pub(crate) fn register_handler_with(
        &self,
        name: &str,
        make: impl FnOnce() -> Arc<dyn StepHandler>,
    ) -> Result<()> {
        self.call(|| {
            self.inner
                .handlers
                .register(name, self.inner.config.on_duplicate_handler, make)
        })
    }

    /// Registers a plain function as the handler for `name`.
    pub fn register_fn<F>(&self, name: &str, f: F) -> Result<()>
    where
        F: Fn(&StepContext) -> std::result::Result<Value, StepError> + Send + Sync + 'static,
    {
        self.register_handler(name, Arc::new(crate::step_handler::FnHandler(f)))
    }

    pub fn unregister_handler(&self, name: &str) -> bool {
        self.inner.handlers.unregister(name)
    }

    // ---- tasks (task_factory.rs) and views ---------------------------------------------------

    /// Creates a task (steps, edges and initial transitions in one transaction). An identical
    /// request returns the existing task with `created: false` (or an error when
    /// `reject_duplicates` is set). Nothing is written when the request is rejected.
    pub fn create_task(&self, req: &TaskRequest) -> Result<CreatedTask> {
        self.call(|| TaskFactory::new(self).create(req))
    }

    pub fn task_view(&self, task_id: i64) -> Result<TaskView> {
        self.call(|| self.block(self.inner.store.task_view(task_id, self.now())))
    }

    pub fn execution_context(&self, task_id: i64) -> Result<ExecutionContext> {
        self.call(|| self.block(self.inner.store.execution_context(task_id, self.now())))
    }

    /// Waits until the task is finished (complete, cancelled, resolved manually) or blocked
    /// (state `error`, or a step out of retries), at most `timeout`, and returns its view with
    /// `timed_out: false`; after `timeout` it returns the view as it is then with `timed_out:
    /// true`. Wakes on this process's commits, on PostgreSQL NOTIFY from other processes, and
    /// polls every `poll_interval_ms` as the fallback. `interrupt` ends it with
    /// `Err(Interrupted)`. The timeout is wall-clock time, not the client's clock.
    pub fn wait_task(&self, task_id: i64, timeout: std::time::Duration) -> Result<TaskWait> {
        self.call(|| super::task_wait::wait_task(self, task_id, timeout))
    }

    /// Lists tasks matching `filter`, newest first, one page at a time (see `TaskFilter`).
    /// `InvalidDocument` for a limit outside 1..=1000 or a cursor this library did not return.
    pub fn list_tasks(&self, filter: &TaskFilter) -> Result<TaskPage> {
        self.call(|| self.block(self.inner.store.list_tasks(filter, self.now())))
    }

    /// Lists steps matching `filter`, newest first, one page at a time (see `StepFilter`).
    pub fn list_steps(&self, filter: &StepFilter) -> Result<StepPage> {
        self.call(|| self.block(self.inner.store.list_steps(filter, self.now())))
    }

    pub fn health(&self) -> Result<HealthCounts> {
        self.call(|| {
            let mut h = self.block(self.inner.store.health(self.now()))?;
            self.inner.worker_health.fill(&mut h);
            Ok(h)
        })
    }

    // ---- purge (purge.rs) ----------------------------------------------------------------------

    /// Deletes `complete` and `cancelled` tasks finished before `req.finished_before`, with
    /// their steps, edges, transitions and annotations, in batches of `batch_size` tasks, each
    /// its own transaction (see `PurgeRequest`); `dry_run` only counts. `interrupt` ends it
    /// between batches with `Err(Interrupted)` (the batches before it stay deleted).
    pub fn purge_tasks(&self, req: &PurgeRequest) -> Result<PurgeReport> {
        self.call(|| super::purge::purge_tasks(self, req))
    }

    // ---- cron schedules (schedules.rs) ------------------------------------------------------

    /// Stores a schedule, replacing the one of the same name. Validated first (cron
    /// expression, time zone, name, context, catch-up bound, the template exists):
    /// `InvalidSchedule` (or `UnknownTemplate`) names what is wrong; nothing is written then.
    /// Re-declaring an unchanged schedule keeps its next tick (missed ticks still follow its
    /// policy); a changed expression or time zone starts at the first tick after now.
    pub fn upsert_schedule(&self, spec: &ScheduleSpec) -> Result<Schedule> {
        self.call(|| Schedules::new(self).upsert(spec))
    }

    /// The schedule of that name, if any.
    pub fn schedule(&self, name: &str) -> Result<Option<Schedule>> {
        self.call(|| Schedules::new(self).get(name))
    }

    /// Every schedule, by name.
    pub fn schedules(&self) -> Result<Vec<Schedule>> {
        self.call(|| Schedules::new(self).list())
    }

    /// The fired ticks of a schedule, oldest first (a purged task's tick is gone with it).
    pub fn schedule_ticks(&self, name: &str) -> Result<Vec<ScheduleTick>> {
        self.call(|| Schedules::new(self).ticks(name))
    }

    /// Deletes a schedule and its tick history (its tasks stay). False when there is none.
    pub fn delete_schedule(&self, name: &str) -> Result<bool> {
        self.call(|| Schedules::new(self).delete(name))
    }

    /// Enables or disables a schedule; false when there is none. A re-enabled schedule starts
    /// at its first tick after now: ticks while it was disabled never fire.
    pub fn set_schedule_enabled(&self, name: &str, enabled: bool) -> Result<bool> {
        self.call(|| Schedules::new(self).set_enabled(name, enabled))
    }

    /// Fires the schedules' ticks due at `now` (epoch milliseconds; normally the client's
    /// clock): each due tick creates one task, once across every process, and missed ticks
    /// follow each schedule's policy. Workers call this by themselves every
    /// `schedule_check_interval_ms`; a process without workers can call it on its own timer.
    /// Returns how many tasks it created.
    pub fn fire_due_schedules(&self, now: i64) -> Result<usize> {
        self.call(|| Schedules::new(self).fire_due(now))
    }

    /// Fails the unfinished tasks past their deadline (at most 100 per call, oldest deadline
    /// first): each goes to `error` (transition metadata `reason: deadline`, `error_class:
    /// Deadline`) and its unfinished steps are cancelled. Workers do this by themselves every
    /// `lease_check_interval_ms`, and `run_task` for its own task; a process without workers
    /// can call it on its own timer. Returns how many tasks failed.
    pub fn enforce_deadlines(&self) -> Result<usize> {
        self.call(|| Deadlines::new(self).enforce_due())
    }

    /// One pass of the configured `retention` (none configured: nothing): purges the old
    /// finished tasks of the next window of 10,000 task ids, in batches of its own
    /// transactions. Workers do this by themselves every `retention.interval_ms`; a process
    /// without workers can call it on its own timer. Returns how many tasks it purged.
    pub fn apply_retention(&self) -> Result<u64> {
        self.call(|| Retention::new(self).apply_configured())
    }

    // ---- metrics (metrics/) ------------------------------------------------------------------

    /// This client's step counters and histograms (per template and handler, since it
    /// connected) and the database's ready backlog and tasks per state (read now).
    pub fn metrics(&self) -> Result<crate::Metrics> {
        self.call(|| crate::metrics::collect(self))
    }

    /// `metrics` in the Prometheus text exposition format 0.0.4 (for a `/metrics` endpoint).
    pub fn metrics_text(&self) -> Result<String> {
        self.metrics().map(|m| crate::metrics::render(&m))
    }

    // ---- the step lifecycle (step_handler/foundation.rs) -------------------------------------

    /// Runs the handler named by `ctx.step.handler` once, on this thread, exactly as the step
    /// foundation calls it (`process`, then `process_results`, panics caught, the results'
    /// size limit) but without the database: nothing is claimed, written or published, and a
    /// heartbeat from the handler fails (there is no claim). For testing handlers in
    /// isolation, and for measuring the callback round trip (`make bench`).
    pub fn call_handler(&self, ctx: &StepContext) -> std::result::Result<Value, StepError> {
        StepHandlerFoundation::new(self).call_handler(ctx)
    }

    /// Extends the lease of a running step (call it from long handlers). Fails with
    /// `StaleClaim` when the claim is no longer current.
    pub fn heartbeat(&self, step_id: i64, claim_token: &str) -> Result<i64> {
        self.call(|| LeaseReaper::new(self).heartbeat(step_id, claim_token))
    }

    /// Why the running step's attempt should stop: its task was cancelled, it is past its
    /// timeout, or its claim was lost; None while it may go on. Call it from long handlers
    /// (between units of work, next to `heartbeat`); it costs one read of the step row by
    /// primary key and writes nothing. `StepNotFound` for an unknown step.
    pub fn stop_reason(&self, step_id: i64, claim_token: &str) -> Result<Option<StopReason>> {
        self.call(|| LeaseReaper::new(self).stop_reason(step_id, claim_token))
    }

    /// True when `stop_reason` names a reason: the handler should stop and return.
    pub fn is_cancelled(&self, step_id: i64, claim_token: &str) -> Result<bool> {
        Ok(self.stop_reason(step_id, claim_token)?.is_some())
    }

    /// Records `checkpoint` as the running step's resume point (cursor, items processed, a
    /// bounded partial result), replacing its previous one: a retry of the step finds it in
    /// `StepContext::checkpoint`. Fenced like every outcome: `StaleClaim` when the claim is no
    /// longer current; `PayloadTooLarge` over `MAX_CHECKPOINT_BYTES` (or `max_payload_bytes`),
    /// `InvalidDocument` outside the document policy; nothing is written then. Does not extend
    /// the lease (see `heartbeat`).
    pub fn checkpoint(&self, step_id: i64, claim_token: &str, checkpoint: &Value) -> Result<()> {
        self.call(|| checkpoints::record(self, step_id, claim_token, checkpoint))
    }

    // ---- built-in worker (worker.rs) and inline run (coordinator.rs) -------------------------

    /// Claims up to `claim_batch` ready steps of any task, runs them on this thread and commits
    /// their outcomes (successes as a group). Returns how many steps ran.
    pub fn run_once(&self) -> Result<usize> {
        self.call(|| OrchestrationCoordinator::new(self).run_once())
    }

    /// Runs steps until `stop` is signalled (from any thread; see `StopHandle::stop` for the
    /// grace period) or the client is interrupted (`Err(Interrupted)`) or closed. Idle waits
    /// end early on PostgreSQL NOTIFY, local commits, a stop or an interrupt; polling is the
    /// fallback. Returns the steps run.
    pub fn run_worker(&self, stop: &StopHandle) -> Result<u64> {
        self.call(|| {
            super::handler_check::check_handlers(self)?;
            Worker::new(self, stop).run()
        })
    }

    /// Runs one task to the end on this thread: claims its ready steps, waits out backoffs (on
    /// the client's clock), and returns when the task is complete, blocked, cancelled, or cannot
    /// progress. Steps held by other workers are waited for. `interrupt` ends it early with
    /// `Err(Interrupted)`, its claims given back without counting their attempts.
    pub fn run_task(&self, task_id: i64) -> Result<ExecutionContext> {
        self.call(|| OrchestrationCoordinator::new(self).run_task(task_id))
    }

    // ---- host queue (host_queue.rs) ----------------------------------------------------------

    /// Installs (or removes) the host-queue callbacks.
    pub fn set_queue_injector(&self, injector: Option<Arc<dyn QueueInjector>>) {
        *self.inner.injector.write() = injector;
    }

    /// Runs the whole lifecycle of one step delivered by the host queue, then enqueues what
    /// became ready (or the step's own retry, or a later look at the task). Stale, early or
    /// duplicate deliveries are harmless and come back as `Skipped`.
    pub fn handle_step(&self, step_id: i64) -> Result<StepOutcome> {
        self.call(|| HostQueue::new(self).handle_step(step_id))
    }

    /// Looks at a task delivered by the host queue: expired leases become failed attempts,
    /// ready steps are enqueued, otherwise the task is enqueued again after the ancestor's delay.
    pub fn handle_task(&self, task_id: i64) -> Result<ExecutionContext> {
        self.call(|| HostQueue::new(self).handle_task(task_id))
    }

    // ---- operations (operations.rs) ----------------------------------------------------------

    /// Cancels a task: every unfinished step is cancelled; a result that arrives later from a
    /// step that was running is discarded. Returns false when it was already cancelled.
    pub fn cancel_task(&self, task_id: i64) -> Result<bool> {
        self.call(|| Operations::new(self).cancel_task(task_id))
    }

    /// Resolves a pending or failed step by hand with the given results; its dependents proceed
    /// and a blocked task resumes. Returns false when it was already resolved.
    pub fn resolve_step(&self, step_id: i64, results: Value) -> Result<bool> {
        self.call(|| Operations::new(self).resolve_step(step_id, results))
    }

    /// Retries a failed step (attempts reset to 0); a blocked task resumes. Returns false when
    /// nothing changed.
    pub fn retry_step(&self, step_id: i64) -> Result<bool> {
        self.call(|| Operations::new(self).retry_step(step_id))
    }

    // ---- events (events/) --------------------------------------------------------------------

    /// Subscribes to events whose name matches one of `patterns` (exact, or a prefix ending in
    /// `*`; none means all). Returns the subscription id.
    pub fn subscribe(&self, patterns: Vec<String>, callback: Subscriber) -> u64 {
        self.inner.events.subscribe(patterns, callback)
    }

    pub fn subscribe_fn<F>(&self, patterns: &[&str], f: F) -> u64
    where
        F: Fn(&Event) + Send + Sync + 'static,
    {
        self.subscribe(
            patterns.iter().map(|s| s.to_string()).collect(),
            Arc::new(f),
        )
    }

    pub fn unsubscribe(&self, id: u64) -> bool {
        self.inner.events.unsubscribe(id)
    }
}

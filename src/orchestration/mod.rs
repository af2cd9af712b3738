//! The client: one runtime and one pool, the three ways to drive work (built-in worker, host
//! queue, inline run), and the operator operations. Every public method is a blocking call made
//! from a host thread; handler hooks, enqueue callbacks and event subscribers run on that thread.

mod identity;
mod worker;

pub use identity::identity_hash;
pub use worker::StopHandle;

use crate::config::{Clock, Config, SystemClock};
use crate::database::{
    ClaimScope, Claimed, ClaimedStep, Completion, Failure, LoadedStep, Recorded, StepSettled, Store,
};
use crate::events::{Event, EventBus, Subscriber};
use crate::models::*;
use crate::queue::{reenqueue_delay, QueueInjector};
use crate::registry::{HandlerRegistry, RegisteredTemplate, TaskTemplate, TemplateRegistry};
use crate::step_handler::{run_hooks, StepError, StepHandler};
use crate::{Error, Result};
use parking_lot::RwLock;
use serde_json::Value;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// How long a worker may hold a successful outcome of its batch for a group commit before it
/// writes the group (checked between handlers). Small: it bounds how much later than strictly
/// necessary dependents become ready; no-op-sized handlers still form whole groups.
const GROUP_COMMIT_WINDOW: Duration = Duration::from_millis(5);

/// The embedded default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tasker.db";

/// What happened to one step handled by a worker, `handle_step` or an inline run.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    Completed {
        step_id: i64,
        task_id: i64,
        task_completed: bool,
    },
    Failed {
        step_id: i64,
        task_id: i64,
        will_retry: bool,
        retry_delay_ms: Option<u64>,
        task_blocked: bool,
    },
    /// The task was cancelled while the step ran; its result was discarded.
    Discarded { step_id: i64, task_id: i64 },
    /// The claim was lost (lease expired and the step was taken over); nothing was written.
    Stale { step_id: i64, task_id: i64 },
    /// A host-queue delivery for a step that is not claimable now (done, running, not yet due).
    Skipped { step_id: i64, reason: String },
}

impl StepOutcome {
    pub fn step_id(&self) -> i64 {
        match self {
            StepOutcome::Completed { step_id, .. }
            | StepOutcome::Failed { step_id, .. }
            | StepOutcome::Discarded { step_id, .. }
            | StepOutcome::Stale { step_id, .. }
            | StepOutcome::Skipped { step_id, .. } => *step_id,
        }
    }
}

pub(crate) struct Inner {
    // Field order matters: the pool must drop before the runtime that drives it.
    pub(crate) store: Store,
    pub(crate) config: Config,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) templates: TemplateRegistry,
    pub(crate) handlers: HandlerRegistry,
    pub(crate) events: EventBus,
    injector: RwLock<Option<Arc<dyn QueueInjector>>>,
    /// Woken when steps may have become ready (local commits, PostgreSQL NOTIFY).
    pub(crate) ready: Arc<tokio::sync::Notify>,
    listener_started: AtomicBool,
    last_lease_check: AtomicI64,
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
    pub fn downgrade(&self) -> WeakClient {
        WeakClient(Arc::downgrade(&self.inner))
    }

    /// Applies the embedded migrations (already done on connect; idempotent).
    pub fn migrate(&self) -> Result<()> {
        self.block(self.inner.store.migrate())
    }

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
        let store = rt.block_on(Store::connect(url, config.max_connections))?;
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
                listener_started: AtomicBool::new(false),
                last_lease_check: AtomicI64::new(i64::MIN),
                rt,
            }),
        })
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

    fn publish(&self, recorded: &[Recorded]) {
        self.inner.events.publish_recorded(recorded, self.now());
    }

    // ---- templates and handlers -------------------------------------------------------------

    /// Registers a validated template (stored, so other processes can create tasks from it).
    pub fn register_template(&self, template: TaskTemplate) -> Result<Arc<RegisteredTemplate>> {
        template.validate()?;
        let steps: Vec<(String, String, Option<String>)> = template
            .step_templates
            .iter()
            .map(|s| {
                let system = s
                    .dependent_system
                    .clone()
                    .or_else(|| template.default_dependent_system.clone())
                    .unwrap_or_else(|| "unknown".into());
                (s.name.clone(), system, s.description.clone())
            })
            .collect();
        let configuration = serde_json::to_value(&template)?;
        let (named_task_id, ids) = self.block(self.inner.store.upsert_template(
            &template.namespace_name,
            &template.name,
            &template.version,
            template.description.as_deref(),
            &configuration,
            &steps,
            self.now(),
        ))?;
        self.inner
            .templates
            .insert(RegisteredTemplate::new(template, named_task_id, ids)?)
    }

    /// Parses, validates and registers a YAML template.
    pub fn register_template_yaml(&self, yaml: &str) -> Result<Arc<RegisteredTemplate>> {
        let t = TaskTemplate::from_yaml(yaml, self.inner.config.environment.as_deref())?;
        self.register_template(t)
    }

    pub fn register_template_file(
        &self,
        path: &std::path::Path,
    ) -> Result<Arc<RegisteredTemplate>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::InvalidTemplate(format!("cannot read template file {}: {e}", path.display()))
        })?;
        self.register_template_yaml(&text)
    }

    /// Registers a template given as a map with the YAML structure.
    pub fn register_template_value(&self, value: Value) -> Result<Arc<RegisteredTemplate>> {
        let t = TaskTemplate::from_value(value, self.inner.config.environment.as_deref())?;
        self.register_template(t)
    }

    pub fn register_handler(&self, name: &str, handler: Arc<dyn StepHandler>) -> Result<()> {
        self.inner.handlers.register(name, handler)
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

    fn find_template(
        &self,
        namespace: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<Arc<RegisteredTemplate>> {
        if let Some(t) = self.inner.templates.get(namespace, name, version)? {
            return Ok(t);
        }
        // Registered by another process: load it from storage.
        let stored = self.block(self.inner.store.template_configurations(namespace, name))?;
        let mut loaded = false;
        for (_, config) in stored {
            let t: TaskTemplate = serde_json::from_value(config)?;
            self.register_template(t)?;
            loaded = true;
        }
        if loaded {
            if let Some(t) = self.inner.templates.get(namespace, name, version)? {
                return Ok(t);
            }
        }
        Err(Error::UnknownTemplate(format!(
            "{namespace}.{name}@{}",
            version.unwrap_or("latest")
        )))
    }

    // ---- tasks -------------------------------------------------------------------------------

    /// Creates a task (steps, edges and initial transitions in one transaction). An identical
    /// request returns the existing task with `created: false` (or an error when
    /// `reject_duplicates` is set). Nothing is written when the request is rejected.
    pub fn create_task(&self, req: &TaskRequest) -> Result<CreatedTask> {
        let (created, recorded) = self.create_task_inner(req)?;
        self.publish(&recorded);
        if created.created {
            self.inner.ready.notify_waiters();
            if self.injector().is_some() {
                let ready =
                    self.block(self.inner.store.ready_step_ids(created.task_id, self.now()))?;
                self.enqueue_steps(&ready, Duration::ZERO);
            }
        }
        Ok(created)
    }

    fn create_task_inner(&self, req: &TaskRequest) -> Result<(CreatedTask, Vec<Recorded>)> {
        let cfg = &self.inner.config;
        if req.name.trim().is_empty() {
            return Err(Error::InvalidRequest("task name must not be empty".into()));
        }
        let namespace = req.namespace.clone().unwrap_or_else(|| "default".into());
        let context = match &req.context {
            Value::Null => Value::Object(Default::default()),
            Value::Object(_) => req.context.clone(),
            other => {
                return Err(Error::InvalidRequest(format!(
                    "context must be a map, got {}",
                    json_kind(other)
                )))
            }
        };
        let size = serde_json::to_vec(&context)?.len();
        if size > cfg.max_payload_bytes {
            return Err(Error::PayloadTooLarge {
                what: "task context",
                size,
                limit: cfg.max_payload_bytes,
            });
        }
        for (field, v) in [
            ("initiator", &req.initiator),
            ("source_system", &req.source_system),
            ("reason", &req.reason),
        ] {
            if v.as_ref().is_some_and(|s| s.chars().count() > 128) {
                return Err(Error::InvalidRequest(format!(
                    "{field} is longer than 128 characters"
                )));
            }
        }
        let tpl = self.find_template(&namespace, &req.name, req.version.as_deref())?;
        if let Some(v) = &tpl.validator {
            let errors: Vec<String> = v
                .iter_errors(&context)
                .take(10)
                .map(|e| {
                    let path = e.instance_path().to_string();
                    format!("at '{}': {e}", if path.is_empty() { "/" } else { &path })
                })
                .collect();
            if !errors.is_empty() {
                return Err(Error::SchemaValidation(errors.join("; ")));
            }
        }
        let t = &tpl.template;
        let mut bypass: Vec<String> = req.bypass_steps.clone();
        bypass.sort();
        bypass.dedup();
        for b in &bypass {
            match t.step_templates.iter().find(|s| &s.name == b) {
                None => {
                    return Err(Error::InvalidRequest(format!(
                        "bypass_steps names unknown step '{b}'"
                    )))
                }
                Some(s) if !s.skippable => {
                    return Err(Error::InvalidRequest(format!(
                        "step '{b}' is not skippable and cannot be bypassed"
                    )))
                }
                Some(_) => {}
            }
        }
        for name in req.step_inputs.keys() {
            if t.step_index(name).is_none() {
                return Err(Error::InvalidRequest(format!(
                    "step_inputs names unknown step '{name}'"
                )));
            }
        }
        let initiator = req.initiator.clone().unwrap_or_else(|| "unknown".into());
        let source_system = req
            .source_system
            .clone()
            .unwrap_or_else(|| "unknown".into());
        let reason = req.reason.clone().unwrap_or_else(|| "unknown".into());
        let hash = identity_hash(
            &t.namespace_name,
            &t.name,
            &t.version,
            &context,
            &initiator,
            &source_system,
            &reason,
            &bypass,
        );
        let bypassed: Vec<bool> = t
            .step_templates
            .iter()
            .map(|s| bypass.contains(&s.name))
            .collect();
        let steps = t
            .step_templates
            .iter()
            .enumerate()
            .map(|(i, s)| crate::database::NewStep {
                named_step_id: tpl.named_step_ids[i],
                name: s.name.clone(),
                handler: s.handler.clone(),
                handler_config: s
                    .handler_config
                    .clone()
                    .unwrap_or(Value::Object(Default::default())),
                retryable: s.default_retryable,
                retry_limit: s.default_retry_limit,
                skippable: s.skippable,
                lease_ms: s.lease_ms.unwrap_or(cfg.lease_ms).min(i64::MAX as u64) as i64,
                backoff: s.backoff.unwrap_or_default(),
                inputs: req
                    .step_inputs
                    .get(&s.name)
                    .cloned()
                    .unwrap_or(Value::Object(Default::default())),
                bypassed: bypassed[i],
                pending_parents: tpl.parents[i].iter().filter(|p| !bypassed[**p]).count() as i64,
            })
            .collect();
        let new_task = crate::database::NewTask {
            named_task_id: tpl.named_task_id,
            initiator,
            source_system,
            reason,
            tags: serde_json::to_value(&req.tags)?,
            bypass_steps: serde_json::to_value(&bypass)?,
            context,
            identity_hash: hash,
            steps,
            edges: tpl.edges.clone(),
        };
        let (created, recorded) =
            self.block(self.inner.store.create_task(&new_task, self.now()))?;
        if !created.created && cfg.reject_duplicates {
            return Err(Error::DuplicateTask(created.task_id));
        }
        Ok((created, recorded))
    }

    pub fn task_view(&self, task_id: i64) -> Result<TaskView> {
        self.block(self.inner.store.task_view(task_id, self.now()))
    }

    pub fn execution_context(&self, task_id: i64) -> Result<ExecutionContext> {
        self.block(self.inner.store.execution_context(task_id, self.now()))
    }

    pub fn health(&self) -> Result<HealthCounts> {
        self.block(self.inner.store.health(self.now()))
    }

    // ---- the step handler foundation ---------------------------------------------------------

    /// Claims up to `limit` steps with their run contexts (one transaction), then publishes and
    /// starts pending tasks (see `after_claim`).
    fn claim(&self, scope: ClaimScope, limit: i64) -> Result<Vec<ClaimedStep>> {
        let (claimed, recorded) =
            self.block(self.inner.store.claim_loaded(scope, limit, self.now()))?;
        self.after_claim(&claimed, recorded)?;
        Ok(claimed)
    }

    fn after_claim(&self, claimed: &[ClaimedStep], recorded: Vec<Recorded>) -> Result<()> {
        if let Some((first, _)) = claimed.first() {
            self.inner.events.publish_named(
                "workflow.viable_steps_discovered",
                first.task_id,
                None,
                serde_json::json!({"step_ids": claimed.iter().map(|(c, _)| c.step_id).collect::<Vec<_>>()}),
                self.now(),
            );
        }
        // A claim never waits on a task lock; pending tasks are started right after it (an
        // inline run's claim locks its task first and has already started it).
        let mut started = Vec::new();
        for (c, _) in claimed {
            if c.task_state == State::Pending && !started.contains(&c.task_id) {
                started.push(c.task_id);
                let rec = self.block(self.inner.store.start_task(c.task_id, self.now()))?;
                self.publish(&rec);
            }
        }
        self.publish(&recorded);
        Ok(())
    }

    /// Runs one claimed step through its hooks and persists the outcome (fenced by the token).
    /// With `claim_next > 0`, a completion also claims up to that many ready steps of the same
    /// task in its transaction (inline runs: one commit per step instead of two); those come
    /// back as `Some`.
    fn execute(
        &self,
        c: &Claimed,
        loaded: LoadedStep,
        claim_next: i64,
    ) -> Result<(StepOutcome, StepSettled, Option<Vec<ClaimedStep>>)> {
        let store = &self.inner.store;
        let result = self.run_hooks(c, &loaded);
        let span = tracing::info_span!("tasker.step", task_id = c.task_id, step_id = c.step_id);
        let _enter = span.enter();
        let now = self.now();
        let mut next = None;
        let settled = match result {
            Ok(results) if claim_next > 0 => self
                .block(store.complete_step_and_claim(
                    c.task_id,
                    c.step_id,
                    &c.claim_token,
                    &results,
                    now,
                    claim_next,
                ))
                .map(|(settled, claimed, recorded)| {
                    next = Some((claimed, recorded));
                    settled
                }),
            Ok(results) => {
                self.block(store.complete_step(c.task_id, c.step_id, &c.claim_token, &results, now))
            }
            Err(e) => self.persist_failure(c, &loaded, e),
        };
        let (outcome, settled) = self.settle(c.task_id, c.step_id, settled)?;
        // The claims' events follow the completion's, as separate transactions would order them.
        let next = match next {
            Some((claimed, recorded)) => {
                self.after_claim(&claimed, recorded)?;
                Some(claimed)
            }
            None => None,
        };
        Ok((outcome, settled, next))
    }

    /// The foundation's middle: `step.before_handle`, the handler's hooks (panics caught), the
    /// size limit on results. Nothing is persisted here.
    fn run_hooks(&self, c: &Claimed, loaded: &LoadedStep) -> std::result::Result<Value, StepError> {
        let span = tracing::info_span!("tasker.step", task_id = c.task_id, step_id = c.step_id, step = %c.name, attempt = c.attempts);
        let _enter = span.enter();
        let ctx = &loaded.context;
        self.inner.events.publish_named(
            "step.before_handle",
            c.task_id,
            Some((c.step_id, &c.name)),
            serde_json::json!({"attempt": c.attempts, "handler": ctx.step.handler}),
            self.now(),
        );
        let result = self.call_handler(ctx);
        match &result {
            Ok(_) => tracing::debug!("step completed"),
            Err(e) => {
                tracing::info!(class = %e.class, message = %e.message, "step attempt failed")
            }
        }
        result
    }

    /// Runs the handler named by `ctx.step.handler` once, on this thread, exactly as the step
    /// foundation calls it (`process`, then `process_results`, panics caught, the results'
    /// size limit) but without the database: nothing is claimed, written or published, and a
    /// heartbeat from the handler fails (there is no claim). For testing handlers in
    /// isolation, and for measuring the callback round trip (`make bench`).
    pub fn call_handler(&self, ctx: &StepContext) -> std::result::Result<Value, StepError> {
        let result = match self.inner.handlers.get(&ctx.step.handler) {
            None => Err(StepError {
                message: format!(
                    "no step handler registered under the name '{}'",
                    ctx.step.handler
                ),
                class: "HandlerNotFound".into(),
                retryable: false,
                ..Default::default()
            }),
            Some(h) => run_hooks(h.as_ref(), ctx),
        };
        // Results above the size limit are a permanent failure.
        result.and_then(|v| {
            let size = serde_json::to_vec(&v)
                .map(|b| b.len())
                .unwrap_or(usize::MAX);
            if size > self.inner.config.max_payload_bytes {
                Err(StepError {
                    message: format!(
                        "step results are {size} bytes, the limit is {}",
                        self.inner.config.max_payload_bytes
                    ),
                    class: "PayloadTooLarge".into(),
                    retryable: false,
                    ..Default::default()
                })
            } else {
                Ok(v)
            }
        })
    }

    /// Writes a failed attempt (retry with backoff, or block the task), fenced by the token.
    fn persist_failure(
        &self,
        c: &Claimed,
        loaded: &LoadedStep,
        e: StepError,
    ) -> Result<StepSettled> {
        let failure = Failure {
            message: e.message.clone(),
            class: e.class.clone(),
            permanent: !e.retryable,
            retry_after_ms: e.retry_after_ms(),
            details: e.details.clone(),
        };
        let backoff = self.inner.config.backoff.with_override(&loaded.backoff);
        self.block(self.inner.store.fail_step(
            c.task_id,
            c.step_id,
            &c.claim_token,
            &failure,
            &backoff,
            self.now(),
        ))
    }

    /// Persists a group of successful outcomes in one transaction (see `run_once`), then
    /// publishes each step's events in order. With `claim = Some((task_id, limit))` the same
    /// transaction also claims that task's next ready steps (inline runs); they come back as
    /// `Some`, with their events published after the group's.
    fn commit_group(
        &self,
        group: &mut Vec<(Claimed, Value)>,
        claim: Option<(i64, i64)>,
    ) -> Result<(Vec<StepOutcome>, Option<Vec<ClaimedStep>>)> {
        if group.is_empty() {
            return Ok((Vec::new(), None));
        }
        let items: Vec<Completion> = group
            .iter_mut()
            .map(|(c, results)| Completion {
                task_id: c.task_id,
                step_id: c.step_id,
                claim_token: c.claim_token.clone(),
                results: std::mem::take(results),
            })
            .collect();
        let (settled, next, recorded) = self.block(self.inner.store.complete_steps_and_claim(
            &items,
            self.now(),
            claim,
        ))?;
        let mut outcomes = Vec::with_capacity(settled.len());
        for ((c, _), s) in group.drain(..).zip(settled) {
            outcomes.push(self.settle(c.task_id, c.step_id, s)?.0);
        }
        let next = match claim {
            Some(_) => {
                self.after_claim(&next, recorded)?;
                Some(next)
            }
            None => None,
        };
        Ok((outcomes, next))
    }

    /// Runs a claimed batch: handlers in order, successes committed as a group (one commit for
    /// the batch; a group is written early once its oldest outcome is `GROUP_COMMIT_WINDOW`
    /// old), failures written at once, alone. With `claim = Some((task_id, limit))` (inline
    /// runs) the last group's transaction also claims up to `limit` ready steps of that task,
    /// returned as `Some`. A batch of one takes the single-step path. Returns whether a task
    /// completed, and the next claims.
    fn run_batch(
        &self,
        steps: Vec<ClaimedStep>,
        claim: Option<(i64, i64)>,
    ) -> Result<(bool, Option<Vec<ClaimedStep>>)> {
        let finished = |o: &StepOutcome| {
            matches!(
                o,
                StepOutcome::Completed {
                    task_completed: true,
                    ..
                }
            )
        };
        if steps.len() == 1 {
            let Some((c, loaded)) = steps.into_iter().next() else {
                return Ok((false, None));
            };
            let (outcome, _, next) =
                self.execute(&c, loaded, claim.map_or(0, |(_, limit)| limit))?;
            return Ok((finished(&outcome), next));
        }
        let mut done = false;
        let mut group: Vec<(Claimed, Value)> = Vec::with_capacity(steps.len());
        let mut oldest: Option<std::time::Instant> = None;
        for (c, loaded) in steps {
            if oldest.is_some_and(|t| t.elapsed() >= GROUP_COMMIT_WINDOW) {
                done |= self.commit_group(&mut group, None)?.0.iter().any(finished);
                oldest = None;
            }
            match self.run_hooks(&c, &loaded) {
                Ok(results) => {
                    group.push((c, results));
                    oldest.get_or_insert_with(std::time::Instant::now);
                }
                Err(e) => {
                    let settled = self.persist_failure(&c, &loaded, e);
                    done |= finished(&self.settle(c.task_id, c.step_id, settled)?.0);
                }
            }
        }
        let (outcomes, next) = self.commit_group(&mut group, claim)?;
        Ok((done || outcomes.iter().any(finished), next))
    }

    fn settle(
        &self,
        task_id: i64,
        step_id: i64,
        settled: Result<StepSettled>,
    ) -> Result<(StepOutcome, StepSettled)> {
        let s = match settled {
            Ok(s) => s,
            Err(Error::StaleClaim(_)) => {
                tracing::warn!(
                    step_id,
                    "claim lost before the outcome was written; outcome dropped"
                );
                return Ok((
                    StepOutcome::Stale { step_id, task_id },
                    StepSettled::default(),
                ));
            }
            Err(e) => return Err(e),
        };
        self.publish(&s.recorded);
        if !s.newly_ready.is_empty() {
            self.inner.ready.notify_waiters();
        }
        let outcome = if s.discarded {
            StepOutcome::Discarded { step_id, task_id }
        } else if s
            .recorded
            .iter()
            .any(|r| r.step_id == Some(step_id) && r.to == State::Complete)
        {
            StepOutcome::Completed {
                step_id,
                task_id,
                task_completed: s.task_finished,
            }
        } else {
            StepOutcome::Failed {
                step_id,
                task_id,
                will_retry: s.will_retry,
                retry_delay_ms: s.retry_delay_ms,
                task_blocked: s.task_blocked,
            }
        };
        Ok((outcome, s))
    }

    /// Turns expired leases into failed attempts (at most once per `lease_check_interval_ms`
    /// for a client-wide scope).
    fn reap_expired(&self, scope: ClaimScope) -> Result<usize> {
        let now = self.now();
        if scope == ClaimScope::Any {
            let last = self.inner.last_lease_check.load(Ordering::Relaxed);
            let due = last == i64::MIN
                || now.saturating_sub(last) >= self.inner.config.lease_check_interval_ms as i64;
            if !due
                || self
                    .inner
                    .last_lease_check
                    .compare_exchange(last, now, Ordering::SeqCst, Ordering::Relaxed)
                    .is_err()
            {
                return Ok(0);
            }
        }
        let expired = self.block(self.inner.store.expired_leases(scope, now, 100))?;
        let mut n = 0;
        for x in expired {
            let failure = Failure {
                message: "the step's lease expired before it finished (worker lost or too slow)"
                    .into(),
                class: "LeaseExpired".into(),
                permanent: false,
                retry_after_ms: None,
                details: Value::Null,
            };
            let backoff = self
                .inner
                .config
                .backoff
                .with_override(&self.block(self.inner.store.step_backoff(x.step_id))?);
            let r = self.block(self.inner.store.fail_step(
                x.task_id,
                x.step_id,
                &x.claim_token,
                &failure,
                &backoff,
                now,
            ));
            if let (StepOutcome::Failed { .. }, _) = self.settle(x.task_id, x.step_id, r)? {
                n += 1;
            }
        }
        if n > 0 {
            tracing::info!(count = n, "expired leases turned into failed attempts");
            self.inner.ready.notify_waiters();
        }
        Ok(n)
    }

    /// Extends the lease of a running step (call it from long handlers). Fails with
    /// `StaleClaim` when the claim is no longer current.
    pub fn heartbeat(&self, step_id: i64, claim_token: &str) -> Result<i64> {
        self.block(self.inner.store.heartbeat(step_id, claim_token, self.now()))
    }

    // ---- built-in worker ---------------------------------------------------------------------

    /// Claims up to `claim_batch` ready steps of any task, runs them on this thread and commits
    /// their outcomes. Returns how many steps ran.
    ///
    /// With a batch, successful outcomes are committed as a group (one transaction, one WAL
    /// flush) when the batch ends, or before the next handler starts once the oldest held
    /// outcome is `GROUP_COMMIT_WINDOW` old. A failed attempt is written at once, on its own.
    pub fn run_once(&self) -> Result<usize> {
        self.reap_expired(ClaimScope::Any)?;
        let claimed = self.claim(ClaimScope::Any, self.inner.config.claim_batch as i64)?;
        let n = claimed.len();
        if n > 0 {
            self.run_batch(claimed, None)?;
        }
        Ok(n)
    }

    /// Runs steps until `stop` is signalled (from any thread). Idle waits end early on
    /// PostgreSQL NOTIFY or local commits; polling is the fallback. Returns the steps run.
    pub fn run_worker(&self, stop: &StopHandle) -> Result<u64> {
        self.ensure_listener();
        let mut ran: u64 = 0;
        let poll = Duration::from_millis(self.inner.config.poll_interval_ms.max(1));
        while !stop.is_stopped() {
            let ready = self.inner.ready.clone();
            let notified = ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let stop_wait = stop.notified();
            tokio::pin!(stop_wait);
            stop_wait.as_mut().enable();
            if stop.is_stopped() {
                break;
            }
            match self.run_once() {
                Ok(0) => {
                    self.block(async {
                        tokio::select! {
                            _ = &mut notified => {}
                            _ = &mut stop_wait => {}
                            _ = tokio::time::sleep(poll) => {}
                        }
                    });
                }
                Ok(n) => ran += n as u64,
                Err(e) => {
                    tracing::error!(error = %e, "worker iteration failed; retrying after the poll interval");
                    self.block(async {
                        tokio::select! {
                            _ = &mut stop_wait => {}
                            _ = tokio::time::sleep(poll) => {}
                        }
                    });
                }
            }
        }
        Ok(ran)
    }

    fn ensure_listener(&self) {
        let Some(pool) = self.inner.store.pg_pool() else {
            return;
        };
        if self.inner.listener_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let pool = pool.clone();
        let ready = self.inner.ready.clone();
        self.inner.rt.spawn(
            async move {
                loop {
                    match sqlx::postgres::PgListener::connect_with(&pool).await {
                        Ok(mut l) => {
                            if let Err(e) = l.listen(crate::database::READY_CHANNEL).await {
                                tracing::warn!(error = %e, "LISTEN failed; polling only");
                            } else {
                                loop {
                                    match l.recv().await {
                                        Ok(_) => ready.notify_waiters(),
                                        Err(e) => {
                                            // A closed pool is the client going away, not news.
                                            if !pool.is_closed() {
                                                tracing::warn!(error = %e, "LISTEN connection lost");
                                            }
                                            break;
                                        }
                                    }
                                }
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot open LISTEN connection"),
                    }
                    if pool.is_closed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            .instrument(tracing::info_span!("tasker.listener")),
        );
    }

    // ---- inline run --------------------------------------------------------------------------

    /// Runs one task to the end on this thread: claims its ready steps, waits out backoffs (on
    /// the client's clock), and returns when the task is complete, blocked, cancelled, or cannot
    /// progress. Steps held by other workers are waited for.
    pub fn run_task(&self, task_id: i64) -> Result<ExecutionContext> {
        let span = tracing::info_span!("tasker.task", task_id);
        let _enter = span.enter();
        let batch = self.inner.config.claim_batch as i64;
        let mut queue: std::collections::VecDeque<ClaimedStep> = Default::default();
        // True when the last completion already claimed on our behalf (an empty answer then
        // means nothing is claimable right now; no second claim is needed to learn that).
        let mut claimed_already = false;
        loop {
            if queue.is_empty() && !claimed_already {
                queue.extend(self.claim(ClaimScope::Task(task_id), batch)?);
            }
            claimed_already = false;
            if !queue.is_empty() {
                let steps: Vec<ClaimedStep> = queue.drain(..).collect();
                let (done, next) = self.run_batch(steps, Some((task_id, batch)))?;
                if done {
                    return self.execution_context(task_id);
                }
                if let Some(next) = next {
                    queue.extend(next);
                    claimed_already = true;
                }
                continue;
            }
            // Nothing claimable now. Expired leases become failed attempts (that may be retried
            // at once): looked for only here, not before every claim.
            if self.reap_expired(ClaimScope::Task(task_id))? > 0 {
                continue;
            }
            let now = self.now();
            let ctx = self.execution_context(task_id)?;
            if !matches!(ctx.task_state, State::Pending | State::InProgress) {
                return Ok(ctx);
            }
            match ctx.execution_status {
                ExecutionStatus::HasReadySteps => continue,
                ExecutionStatus::Processing => {
                    let poll = self.inner.config.poll_interval_ms.max(1);
                    // Create the timer inside the runtime: a Sleep made outside panics (no reactor).
                    self.block(
                        async move { tokio::time::sleep(Duration::from_millis(poll)).await },
                    );
                }
                ExecutionStatus::WaitingForDependencies => match ctx.next_retry_at {
                    Some(at) if at > now => self.inner.clock.sleep_ms((at - now) as u64),
                    _ => return Ok(ctx),
                },
                ExecutionStatus::AllComplete | ExecutionStatus::BlockedByFailures => {
                    return Ok(ctx)
                }
            }
        }
    }

    // ---- host queue --------------------------------------------------------------------------

    /// Installs (or removes) the host-queue callbacks.
    pub fn set_queue_injector(&self, injector: Option<Arc<dyn QueueInjector>>) {
        *self.inner.injector.write() = injector;
    }

    fn injector(&self) -> Option<Arc<dyn QueueInjector>> {
        self.inner.injector.read().clone()
    }

    fn enqueue_steps(&self, ids: &[i64], delay: Duration) {
        if let Some(q) = self.injector() {
            for id in ids {
                if let Err(e) = q.enqueue_step(*id, delay) {
                    tracing::warn!(step_id = id, error = %e, "enqueue_step failed; the step stays ready in the database");
                }
            }
        }
    }

    fn enqueue_task(&self, task_id: i64, delay: Duration) {
        if let Some(q) = self.injector() {
            if !delay.is_zero() {
                self.inner.events.publish_named(
                    "workflow.task_reenqueue_delayed",
                    task_id,
                    None,
                    serde_json::json!({"delay_ms": delay.as_millis() as u64}),
                    self.now(),
                );
            }
            if let Err(e) = q.enqueue_task(task_id, delay) {
                tracing::warn!(task_id, error = %e, "enqueue_task failed");
            }
        }
    }

    /// Runs the whole lifecycle of one step delivered by the host queue, then enqueues what
    /// became ready (or the step's own retry, or a later look at the task). Stale, early or
    /// duplicate deliveries are harmless and come back as `Skipped`.
    pub fn handle_step(&self, step_id: i64) -> Result<StepOutcome> {
        self.reap_expired(ClaimScope::Step(step_id))?;
        let claimed = self.claim(ClaimScope::Step(step_id), 1)?;
        let Some((c, loaded)) = claimed.into_iter().next() else {
            let (task_id, state, ready_at, pending_parents) =
                self.block(self.inner.store.step_status(step_id))?;
            let now = self.now();
            let reason = match (state, ready_at) {
                (State::Pending | State::Error, Some(at)) if at > now && pending_parents == 0 => {
                    let task_state = self.execution_context(task_id)?.task_state;
                    if matches!(task_state, State::Pending | State::InProgress) {
                        self.enqueue_steps(&[step_id], Duration::from_millis((at - now) as u64));
                    }
                    format!("not due for {} ms", at - now)
                }
                (State::Pending, _) if pending_parents > 0 => {
                    format!("waiting for {pending_parents} parent step(s)")
                }
                (s, _) => format!("step is {s}"),
            };
            return Ok(StepOutcome::Skipped { step_id, reason });
        };
        let (outcome, settled, _) = self.execute(&c, loaded, 0)?;
        match &outcome {
            StepOutcome::Completed {
                task_id,
                task_completed: false,
                ..
            } => {
                if settled.newly_ready.is_empty() {
                    self.reenqueue(*task_id)?;
                } else {
                    self.enqueue_steps(&settled.newly_ready, Duration::ZERO);
                }
            }
            StepOutcome::Failed {
                will_retry: true,
                retry_delay_ms,
                ..
            } => self.enqueue_steps(
                &[step_id],
                Duration::from_millis(retry_delay_ms.unwrap_or(0)),
            ),
            _ => {}
        }
        Ok(outcome)
    }

    fn reenqueue(&self, task_id: i64) -> Result<()> {
        let ctx = self.execution_context(task_id)?;
        if matches!(ctx.task_state, State::Pending | State::InProgress)
            && ctx.execution_status != ExecutionStatus::BlockedByFailures
        {
            self.enqueue_task(
                task_id,
                reenqueue_delay(&ctx, self.now(), &self.inner.config.reenqueue),
            );
        }
        Ok(())
    }

    /// Looks at a task delivered by the host queue: expired leases become failed attempts,
    /// ready steps are enqueued, otherwise the task is enqueued again after the ancestor's delay.
    pub fn handle_task(&self, task_id: i64) -> Result<ExecutionContext> {
        self.reap_expired(ClaimScope::Task(task_id))?;
        let ctx = self.execution_context(task_id)?;
        if !matches!(ctx.task_state, State::Pending | State::InProgress) {
            return Ok(ctx);
        }
        if ctx.execution_status == ExecutionStatus::HasReadySteps {
            let ready = self.block(self.inner.store.ready_step_ids(task_id, self.now()))?;
            self.enqueue_steps(&ready, Duration::ZERO);
        } else {
            self.reenqueue(task_id)?;
        }
        Ok(ctx)
    }

    // ---- operations --------------------------------------------------------------------------

    /// Cancels a task: every unfinished step is cancelled; a result that arrives later from a
    /// step that was running is discarded. Returns false when it was already cancelled.
    pub fn cancel_task(&self, task_id: i64) -> Result<bool> {
        let out = self.block(self.inner.store.cancel_task(task_id, self.now()))?;
        self.publish(&out.recorded);
        Ok(out.changed)
    }

    /// Resolves a pending or failed step by hand with the given results; its dependents proceed
    /// and a blocked task resumes. Returns false when it was already resolved.
    pub fn resolve_step(&self, step_id: i64, results: Value) -> Result<bool> {
        let out = self.block(self.inner.store.resolve_step(step_id, &results, self.now()))?;
        self.after_op(step_id, out)
    }

    /// Retries a failed step (attempts reset to 0); a blocked task resumes.
    pub fn retry_step(&self, step_id: i64) -> Result<bool> {
        let out = self.block(self.inner.store.retry_step(step_id, self.now()))?;
        self.after_op(step_id, out)
    }

    fn after_op(&self, step_id: i64, out: crate::database::OpOutcome) -> Result<bool> {
        self.publish(&out.recorded);
        if !out.newly_ready.is_empty() {
            self.inner.ready.notify_waiters();
            self.enqueue_steps(&out.newly_ready, Duration::ZERO);
        }
        let _ = step_id;
        Ok(out.changed)
    }

    // ---- events ------------------------------------------------------------------------------

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

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

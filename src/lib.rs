//! libtasker: a workflow orchestration core. Applications register task templates (a DAG of
//! named steps) and step handlers, create tasks, and drive them with the built-in worker, their
//! own queue (host-queue mode) or an inline run. State lives in SQLite (embedded default) or
//! PostgreSQL. See docs/ARCHITECTURE.md.

// The concepts, one module each (docs/ARCHITECTURE.md has the map). Internals are crate-private;
// the public API is the list of re-exports below.
mod config;
mod dashboard;
mod database;
mod error;
mod events;
mod ffi;
mod metrics;
mod models;
mod orchestration;
mod queue;
mod registry;
mod state_machine;
mod step_handler;

// The client and how work is driven.
pub use orchestration::{
    identity_hash, Client, StopHandle, WeakClient, ACTIVATE_KEY, BATCHES_EVENT, BATCHES_KEY,
    DECISION_EVENT, DEFAULT_DATABASE_URL, INVALID_BATCHES, INVALID_DECISION, MAX_CHECKPOINT_BYTES,
    STEP_CREATED_EVENT, TOO_MANY_BATCHES,
};

// The documents exchanged with callers (the C ABI encodes these).
pub use models::*;

// What applications implement: handlers, a host queue, event subscribers, a clock.
pub use config::Clock;
pub use events::Subscriber;
pub use queue::QueueInjector;
pub use step_handler::{FnHandler, StepHandler};

// Configuration and templates.
pub use config::{
    BackoffConfig, BackoffOverride, Config, ManualClock, ReenqueueDelays, RetentionConfig,
    Strictness, SystemClock,
};
pub use registry::{
    BatchFailure, BatchSpec, RegisteredTemplate, StepTemplate, StepType, TaskTemplate, MAX_BATCHES,
    MAX_DECISION_CANDIDATES, MAX_DECISION_DEPTH,
};

// The step policies, for hosts that want to show or test them.
pub use step_handler::{BackoffCalculator, OutputProcessor, RetryAnalyzer, RetryDecision};

// The built-in web dashboard (`Client::start_dashboard`) and its SVG drawing of a task's DAG.
pub use dashboard::{task_dag_svg, DashboardConfig, DashboardHandle, DEFAULT_LISTEN};

// Errors.
pub use error::{Error, Result};

// Metrics: this client's step counters and histograms, the database's gauges.
pub use metrics::{DurationHistogram, HistogramBucket, Metrics, StepMetrics, TaskStateCount};

/// Storage and state-machine internals for this crate's integration tests only: not part of
/// the public API and may change without notice.
#[doc(hidden)]
pub mod testing {
    pub use crate::database::{
        complete_claim_fn_source, ClaimScope, Claimed, Completion, Failure, HeldClaim, Store,
        READY_CHANNEL,
    };
    pub use crate::state_machine::{allowed, allowed_step, Entity};
    pub use crate::step_handler::RetryDecision;
}

/// Installs a `tracing` subscriber writing to stderr, filtered by `TASKER_LOG` (e.g. `info`,
/// `tasker=debug`; default `warn`). Does nothing if a global subscriber is already set.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TASKER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

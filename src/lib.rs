//! libtasker: a workflow orchestration core. Applications register task templates (a DAG of
//! named steps) and step handlers, create tasks, and drive them with the built-in worker, their
//! own queue (host-queue mode) or an inline run. State lives in SQLite (embedded default) or
//! PostgreSQL. See docs/ARCHITECTURE.md.

pub mod config;
pub mod database;
pub mod error;
pub mod events;
pub mod ffi;
pub mod models;
pub mod orchestration;
pub mod queue;
pub mod registry;
pub mod state_machine;
pub mod step_handler;

pub use config::{BackoffConfig, BackoffOverride, Clock, Config, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use events::Event;
pub use models::*;
pub use orchestration::{Client, StepOutcome, StopHandle, WeakClient, DEFAULT_DATABASE_URL};
pub use queue::QueueInjector;
pub use registry::{StepTemplate, TaskTemplate};
pub use step_handler::{StepError, StepHandler};

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

//! The one error type of the core. The C ABI maps each variant to a stable result code.

use thiserror::Error;

/// Every failure the core can report to a caller.
#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid template: {0}")]
    InvalidTemplate(String),
    #[error("cycle in template '{template}': {}", cycle.join(" -> "))]
    TemplateCycle {
        template: String,
        cycle: Vec<String>,
    },
    #[error("unknown template '{0}'")]
    UnknownTemplate(String),
    #[error("invalid task request: {0}")]
    InvalidRequest(String),
    /// A schedule definition that cannot be stored: its cron expression, time zone, name,
    /// template or catch-up bound.
    #[error("invalid schedule: {0}")]
    InvalidSchedule(String),
    #[error("context does not match the template's schema: {0}")]
    SchemaValidation(String),
    #[error("payload too large: {what} is {size} bytes, the limit is {limit}")]
    PayloadTooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("duplicate task: identical to task {0}")]
    DuplicateTask(i64),
    #[error("task {0} not found")]
    TaskNotFound(i64),
    #[error("step {0} not found")]
    StepNotFound(i64),
    #[error("illegal {entity} transition {from} -> {to}")]
    IllegalTransition {
        entity: &'static str,
        from: String,
        to: String,
    },
    #[error("stale claim: step {0} is no longer held by this claim token")]
    StaleClaim(i64),
    /// `run_task` of a task from inside one of its own step handlers (it would wait for itself).
    #[error("re-entrant run: task {0} cannot be run from inside one of its own step handlers on the same thread")]
    ReentrantRun(i64),
    /// The call was interrupted (`Client::interrupt`); the claims it held were released.
    #[error("interrupted: the call was interrupted and released its claims")]
    Interrupted,
    /// The client was closed (`Client::close`): no new calls are accepted.
    #[error("client is closed")]
    Closed,
    /// Handler setup that the client's `on_duplicate_handler` / `on_missing_handler` refuse.
    #[error("{0}")]
    HandlerSetup(String),
    /// The database could not be reached: where (password masked), why, and what to check.
    #[error("{0}")]
    Connect(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A document breaks the document policy (`models/document_policy.rs`): too deep, NUL.
    #[error("invalid document: {path} {reason}")]
    InvalidDocument { path: String, reason: String },
    #[error("serialization error: {0}")]
    Serialization(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Serialization(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The text of a caught panic payload (`panic!` with a literal or a formatted message).
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> Option<String> {
    if let Some(s) = p.downcast_ref::<&str>() {
        Some((*s).to_string())
    } else {
        p.downcast_ref::<String>().cloned()
    }
}

impl Error {
    /// Whether a database error is the connection's (server restarting, backend terminated,
    /// socket closed, pool exhausted), not the statement's: the same statement may succeed when
    /// sent again on another connection.
    pub(crate) fn is_connection(&self) -> bool {
        match self {
            Error::Database(
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut,
            ) => true,
            // Class 08 (connection exception), 57P01..57P03 (admin/crash shutdown, starting up).
            Error::Database(sqlx::Error::Database(d)) => d
                .code()
                .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
            _ => false,
        }
    }

    /// A connection error met on a connection the pool handed out (not a pool that could not
    /// give one within its timeout): sending the statement again at once is worthwhile.
    pub(crate) fn is_dead_connection(&self) -> bool {
        self.is_connection() && !matches!(self, Error::Database(sqlx::Error::PoolTimedOut))
    }
}

//! The step handler foundation: the hook trait applications implement (the seed's
//! `LanguageBinding`), the error a handler reports, and the safe invocation of both hooks.

use crate::models::StepContext;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A failure reported by a handler. Retryable unless marked permanent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StepError {
    pub message: String,
    /// Error class, e.g. an exception class name.
    pub class: String,
    /// False makes the failure permanent: no further attempts.
    pub retryable: bool,
    /// Requested delay before the next attempt, in seconds (like HTTP Retry-After).
    pub retry_after: Option<f64>,
    pub details: Value,
}

impl Default for StepError {
    fn default() -> Self {
        StepError {
            message: String::new(),
            class: "StepError".into(),
            retryable: true,
            retry_after: None,
            details: Value::Null,
        }
    }
}

impl StepError {
    pub fn retryable(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
            ..Default::default()
        }
    }

    pub fn permanent(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
            class: "PermanentError".into(),
            retryable: false,
            ..Default::default()
        }
    }

    pub fn with_class(mut self, class: impl Into<String>) -> StepError {
        self.class = class.into();
        self
    }

    pub fn retry_after(mut self, seconds: f64) -> StepError {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_details(mut self, details: Value) -> StepError {
        self.details = details;
        self
    }

    pub(crate) fn retry_after_ms(&self) -> Option<u64> {
        self.retry_after
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| (s * 1000.0).round() as u64)
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}

impl std::error::Error for StepError {}

/// What applications implement for each handler name. Both hooks run on the host thread that
/// called into libtasker (never on a runtime thread).
pub trait StepHandler: Send + Sync {
    /// Does the step's work and returns its output.
    fn process(&self, ctx: &StepContext) -> Result<Value, StepError>;

    /// Turns the output into the step's persisted results. Default: the output unchanged.
    fn process_results(&self, _ctx: &StepContext, output: Value) -> Result<Value, StepError> {
        Ok(output)
    }
}

/// A plain function as a handler.
pub struct FnHandler<F>(pub F);

impl<F> StepHandler for FnHandler<F>
where
    F: Fn(&StepContext) -> Result<Value, StepError> + Send + Sync,
{
    fn process(&self, ctx: &StepContext) -> Result<Value, StepError> {
        (self.0)(ctx)
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "handler panicked".into()
    }
}

/// Runs `process` then `process_results`; a panic in either is a failed attempt, not a crash.
pub fn run_hooks(handler: &dyn StepHandler, ctx: &StepContext) -> Result<Value, StepError> {
    let out = catch_unwind(AssertUnwindSafe(|| {
        let output = handler.process(ctx)?;
        handler.process_results(ctx, output)
    }));
    match out {
        Ok(r) => r,
        Err(p) => Err(StepError {
            message: panic_message(p),
            class: "Panic".into(),
            ..Default::default()
        }),
    }
}

//! The step handler foundation (the seed's `StepHandlerFoundation`) and the policies it applies.
//!
//! - `foundation.rs`: the lifecycle of one claimed step, top to bottom.
//! - `output.rs`: `OutputProcessor` (the default `process_results`, the results' size limit).
//! - `retry.rs`: `RetryAnalyzer` (retry or not, and after which delay).
//! - `backoff.rs`: `BackoffCalculator` (the exponential delay).
//!
//! This file holds the language binding applications implement: the [`StepHandler`] trait.

mod backoff;
mod foundation;
mod output;
mod retry;

pub use crate::models::StepError;
pub use backoff::BackoffCalculator;
pub(crate) use foundation::{NextClaims, StepHandlerFoundation};
pub(crate) use output::serialized_size;
pub use output::OutputProcessor;
pub(crate) use retry::retry_allowed;
pub use retry::{RetryAnalyzer, RetryDecision, TIMEOUT};

use crate::models::StepContext;
use serde_json::Value;

/// What applications implement for each handler name (the seed's `LanguageBinding`). Both hooks
/// run on the host thread that called into libtasker (never on a runtime thread).
pub trait StepHandler: Send + Sync {
    /// Does the step's work and returns its output.
    fn process(&self, ctx: &StepContext) -> Result<Value, StepError>;

    /// Turns the output into the step's persisted results. Default: the output unchanged.
    fn process_results(&self, _ctx: &StepContext, output: Value) -> Result<Value, StepError> {
        OutputProcessor::default_results(output)
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

//! Batch fan-out in a template: a `batchable` step's `batch` settings, checked at
//! registration (docs/DYNAMIC_WORKFLOWS.md, "batchable / batch_worker").
//!
//! In the dynamic graph a batchable step is a decision with one candidate, its worker: the
//! worker is created only when the batchable completes, once per batch, and a convergence step
//! depending on the worker waits for the batchable (a gate) and for every instance.

use super::template::{StepType, TaskTemplate, MAX_NAME_CHARS};
use crate::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The hard ceiling of `max_batches`, whatever the template says: 100,000 batches is 100,000
/// step rows created in one transaction.
pub const MAX_BATCHES: u32 = 100_000;
/// Fewest digits of an instance's number (`<worker>_001`): names sort in batch order up to 999
/// batches; more batches widen every name of the fan-out alike (`_0001` ... `_1000`).
const MIN_DIGITS: usize = 3;

/// `batch:` of a `batchable` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchSpec {
    /// The `batch_worker` step instantiated once per batch.
    pub worker: String,
    /// Most batches one run may return (1..=MAX_BATCHES); more fail the step permanently.
    pub max_batches: u32,
    /// What a permanently failed batch does to the rest.
    #[serde(default)]
    pub failure: BatchFailure,
}

/// A fan-out's failure strategy: what a batch that fails permanently (not retryable, or out
/// of retries) does to the rest of the task (docs/DYNAMIC_WORKFLOWS.md has the table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchFailure {
    /// The task goes to `error` at once: no further batch is claimed and the convergence step
    /// does not run (the engine's ordinary blocking).
    #[default]
    FailFast,
    /// The failure is tolerated: the batch stays in `error` for good, counts as a finished
    /// parent of the convergence step (which receives its error) and the task goes on.
    ContinueOnFailure,
    /// The batch is parked in `error`: the task stays running, the other batches go on, the
    /// convergence step waits until the batch is retried to success or resolved.
    Isolate,
}

impl BatchFailure {
    /// The name used in templates and in the step row's `batch_failure` column.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchFailure::FailFast => "fail_fast",
            BatchFailure::ContinueOnFailure => "continue_on_failure",
            BatchFailure::Isolate => "isolate",
        }
    }

    /// The strategy named `s` (a `batch_failure` column), None for an unknown name.
    pub fn parse(s: &str) -> Option<BatchFailure> {
        [
            BatchFailure::FailFast,
            BatchFailure::ContinueOnFailure,
            BatchFailure::Isolate,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }
}

/// The name of batch `k` (0-based) of `count`: `<worker>_` and k+1 zero-padded to the width of
/// `count`, at least 3 digits.
pub fn batch_step_name(worker: &str, k: usize, count: usize) -> String {
    let width = count.to_string().len().max(MIN_DIGITS);
    format!("{worker}_{:0width$}", k.saturating_add(1))
}

/// The batch rules of `t` (InvalidTemplate): `batch` only on batchable steps and always there;
/// its worker exists, is a `batch_worker` of this batchable only, depends on it, and has only
/// convergence steps as children; every `batch_worker` belongs to a batchable; the limit is
/// within 1..=MAX_BATCHES and the longest instance name fits a step name.
pub(crate) fn check(t: &TaskTemplate) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidTemplate(m));
    let steps = &t.step_templates;
    let mut owner: Vec<Option<&str>> = vec![None; steps.len()];
    for s in steps {
        let Some(b) = &s.batch else {
            if s.step_type == StepType::Batchable {
                return bad(format!(
                    "batchable step '{}' has no batch settings (batch: {{worker, max_batches}})",
                    s.name
                ));
            }
            continue;
        };
        if s.step_type != StepType::Batchable {
            return bad(format!(
                "step '{}' has batch settings but is not batchable (type: batchable)",
                s.name
            ));
        }
        if !(1..=MAX_BATCHES).contains(&b.max_batches) {
            return bad(format!(
                "batchable step '{}': max_batches must be within 1..={MAX_BATCHES}, got {}",
                s.name, b.max_batches
            ));
        }
        let Some(w) = t.step_index(&b.worker) else {
            return bad(format!(
                "batchable step '{}': unknown worker '{}'",
                s.name, b.worker
            ));
        };
        let worker = &steps[w];
        if worker.step_type != StepType::BatchWorker {
            return bad(format!(
                "batchable step '{}': worker '{}' must be type: batch_worker",
                s.name, b.worker
            ));
        }
        if let Some(other) = owner[w].replace(&s.name) {
            return bad(format!(
                "batch_worker '{}' is the worker of both '{other}' and '{}'",
                b.worker, s.name
            ));
        }
        if !worker.dependencies().contains(&s.name.as_str()) {
            return bad(format!(
                "batch_worker '{}' must depend on its batchable step (depends_on_step: {})",
                b.worker, s.name
            ));
        }
        let longest = batch_step_name(&b.worker, 0, b.max_batches as usize);
        if longest.chars().count() > MAX_NAME_CHARS {
            return bad(format!(
                "batch_worker '{}': instance names such as '{longest}' exceed \
                 {MAX_NAME_CHARS} characters",
                b.worker
            ));
        }
        // A step depending on one instance only could not say which: only convergence
        // steps (which take every instance) may follow a worker.
        for c in steps
            .iter()
            .filter(|c| c.dependencies().contains(&b.worker.as_str()))
        {
            if c.step_type != StepType::Convergence {
                return bad(format!(
                    "step '{}' depends on batch_worker '{}': only a convergence step may",
                    c.name, b.worker
                ));
            }
        }
    }
    for (i, s) in steps.iter().enumerate() {
        if s.step_type == StepType::BatchWorker && owner[i].is_none() {
            return bad(format!(
                "batch_worker '{}' is the worker of no batchable step (batch: {{worker: {}}})",
                s.name, s.name
            ));
        }
    }
    Ok(())
}

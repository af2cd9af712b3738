//! `OutputProcessor`: turns what a handler returned into the results the step persists.

use super::StepHandler;
use crate::models::{document_policy, StepContext, StepError};
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs a handler's hooks and applies the limits on their output.
#[derive(Debug, Clone, Copy)]
pub struct OutputProcessor {
    /// Results larger than this (serialized JSON bytes) fail the step permanently.
    max_payload_bytes: usize,
}

impl OutputProcessor {
    pub fn new(max_payload_bytes: usize) -> OutputProcessor {
        OutputProcessor { max_payload_bytes }
    }

    /// The default `process_results`: the output becomes the results unchanged.
    pub fn default_results(output: Value) -> Result<Value, StepError> {
        Ok(output)
    }

    /// `process` then `process_results`; a panic in either is a failed attempt, not a crash.
    pub fn run_hooks(handler: &dyn StepHandler, ctx: &StepContext) -> Result<Value, StepError> {
        let out = catch_unwind(AssertUnwindSafe(|| {
            let output = handler.process(ctx)?;
            handler.process_results(ctx, output)
        }));
        out.unwrap_or_else(|p| {
            Err(StepError {
                message: crate::error::panic_message(p.as_ref())
                    .unwrap_or_else(|| "handler panicked".into()),
                class: "Panic".into(),
                ..Default::default()
            })
        })
    }

    /// Checks the results against the document policy and the size limit: a violation is a
    /// permanent failure (retrying would produce the same results again).
    pub fn check(&self, results: Value) -> Result<Value, StepError> {
        if let Err(e) = document_policy::check("results", &results) {
            return Err(StepError {
                message: e.to_string(),
                class: "InvalidDocument".into(),
                retryable: false,
                ..Default::default()
            });
        }
        let size = serde_json::to_vec(&results)
            .map(|b| b.len())
            .unwrap_or(usize::MAX);
        if size > self.max_payload_bytes {
            return Err(StepError {
                message: format!(
                    "step results are {size} bytes, the limit is {}",
                    self.max_payload_bytes
                ),
                class: "PayloadTooLarge".into(),
                retryable: false,
                ..Default::default()
            });
        }
        Ok(results)
    }
}

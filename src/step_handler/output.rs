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
        let size = serialized_size(&results);
        if size > self.max_payload_bytes {
            return Err(payload_too_large(format!(
                "step results are {size} bytes, the limit is {}",
                self.max_payload_bytes
            )));
        }
        Ok(results)
    }

    /// Checks what the handler is handed that storage aggregated: the parents' results, each
    /// within the limit, can together exceed it (a wide fan-in). A permanent failure before the
    /// handler runs: the same parents give the same context on every retry.
    pub fn check_context(&self, ctx: &StepContext) -> Result<(), StepError> {
        if ctx.dependency_results.is_empty() {
            return Ok(());
        }
        let size = ctx
            .dependency_results
            .iter()
            .map(|(k, v)| serialized_size(v).saturating_add(k.len()))
            .fold(0usize, usize::saturating_add);
        if size > self.max_payload_bytes {
            return Err(payload_too_large(format!(
                    "the dependency results handed to the step are {size} bytes, the limit is {} (max_payload_bytes)",
                    self.max_payload_bytes
                )));
        }
        Ok(())
    }
}

/// A permanent failure: retrying would produce (or be handed) the same oversized payload.
fn payload_too_large(message: String) -> StepError {
    StepError {
        message,
        class: "PayloadTooLarge".into(),
        retryable: false,
        ..Default::default()
    }
}

/// The size of `v` as compact JSON, counted without building the text.
pub(crate) fn serialized_size(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    match serde_json::to_writer(&mut c, v) {
        Ok(()) => c.0,
        Err(_) => usize::MAX,
    }
}

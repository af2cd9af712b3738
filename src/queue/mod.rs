//! Host-queue mode: the application's own queue (Sidekiq, Celery, ...) is told what to run next.

use crate::config::ReenqueueDelays;
use crate::models::{ExecutionContext, ExecutionStatus};
use serde_json::Value;
use std::time::Duration;

/// Enqueue callbacks supplied by the host. They are called after the state they announce has
/// been committed, on the thread that called into libtasker. A failed enqueue loses nothing:
/// the work stays ready in the database and `handle_task` finds it again.
pub trait QueueInjector: Send + Sync {
    /// Look at the task again after `delay` (call `Client::handle_task`).
    fn enqueue_task(&self, task_id: i64, delay: Duration) -> Result<(), String>;
    /// Run the step after `delay` (call `Client::handle_step`).
    fn enqueue_step(&self, step_id: i64, delay: Duration) -> Result<(), String>;
    /// Free-form information about the host queue (for diagnostics).
    fn queue_info(&self) -> Value {
        Value::Null
    }
}

/// The ancestor's re-enqueue delay: ready 0, processing 10 s, waiting 45 s, unknown 30 s; when
/// failed steps are backing off, the longest remaining backoff + 5 s, capped at 300 s.
pub fn reenqueue_delay(ctx: &ExecutionContext, now: i64, d: &ReenqueueDelays) -> Duration {
    let ms = match ctx.execution_status {
        ExecutionStatus::HasReadySteps => d.has_ready_steps_ms,
        ExecutionStatus::Processing => d.processing_ms,
        ExecutionStatus::WaitingForDependencies => match ctx.last_retry_at {
            Some(at) if at > now => ((at - now) as u64 + d.backoff_buffer_ms).min(d.max_ms),
            _ => d.waiting_for_dependencies_ms,
        },
        _ => d.unknown_ms,
    };
    Duration::from_millis(ms)
}

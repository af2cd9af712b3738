//! `HostQueue`: host-queue mode. The application's own queue delivers step and task ids; each
//! delivery runs here on the host thread, and what became ready is enqueued back through the
//! installed `QueueInjector`.

use super::lease_reaper::LeaseReaper;
use super::{Client, OrchestrationCoordinator};
use crate::database::ClaimScope;
use crate::models::{ExecutionContext, ExecutionStatus, State, StepOutcome};
use crate::queue::{reenqueue_delay, QueueInjector};
use crate::step_handler::StepHandlerFoundation;
use crate::Result;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct HostQueue<'a> {
    client: &'a Client,
}

impl<'a> HostQueue<'a> {
    pub fn new(client: &'a Client) -> HostQueue<'a> {
        HostQueue { client }
    }

    fn injector(&self) -> Option<Arc<dyn QueueInjector>> {
        self.client.inner.injector.read().clone()
    }

    /// Whether a host queue is installed.
    pub fn active(&self) -> bool {
        self.injector().is_some()
    }

    /// Enqueues steps; a failed enqueue is logged (the step stays ready in the database).
    pub fn enqueue_steps(&self, ids: &[i64], delay: Duration) {
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
                self.client.inner.events.publish_named(
                    "workflow.task_reenqueue_delayed",
                    task_id,
                    None,
                    serde_json::json!({"delay_ms": delay.as_millis() as u64}),
                    self.client.now(),
                );
            }
            if let Err(e) = q.enqueue_task(task_id, delay) {
                tracing::warn!(task_id, error = %e, "enqueue_task failed");
            }
        }
    }

    /// A step delivery: the step's whole lifecycle, then what became ready (or the step's own
    /// retry, or a later look at the task) is enqueued.
    pub fn handle_step(&self, step_id: i64) -> Result<StepOutcome> {
        let client = self.client;
        LeaseReaper::new(client).reap(ClaimScope::Step(step_id))?;
        let claimed = OrchestrationCoordinator::new(client).claim(ClaimScope::Step(step_id), 1)?;
        let Some(step) = claimed.into_iter().next() else {
            return self.skip(step_id);
        };
        let handled = StepHandlerFoundation::new(client).handle(step, 0)?;
        match &handled.outcome {
            StepOutcome::Completed {
                task_id,
                task_completed: false,
                ..
            } => {
                if handled.newly_ready.is_empty() {
                    self.reenqueue(*task_id)?;
                } else {
                    self.enqueue_steps(&handled.newly_ready, Duration::ZERO);
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
        Ok(handled.outcome)
    }

    /// A delivery of a step that cannot be claimed now: says why, and enqueues it again for
    /// when it is due.
    fn skip(&self, step_id: i64) -> Result<StepOutcome> {
        let client = self.client;
        let (task_id, state, ready_at, pending_parents) =
            client.block(client.inner.store.step_status(step_id))?;
        let now = client.now();
        let reason = match (state, ready_at) {
            (State::Pending | State::Error, Some(at)) if at > now && pending_parents == 0 => {
                let task_state = client.execution_context(task_id)?.task_state;
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
        Ok(StepOutcome::Skipped { step_id, reason })
    }

    fn reenqueue(&self, task_id: i64) -> Result<()> {
        let ctx = self.client.execution_context(task_id)?;
        if matches!(ctx.task_state, State::Pending | State::InProgress)
            && ctx.execution_status != ExecutionStatus::BlockedByFailures
        {
            self.enqueue_task(
                task_id,
                reenqueue_delay(&ctx, self.client.now(), &self.client.inner.config.reenqueue),
            );
        }
        Ok(())
    }

    /// A task delivery: expired leases become failed attempts, ready steps are enqueued,
    /// otherwise the task is enqueued again after the ancestor's delay.
    pub fn handle_task(&self, task_id: i64) -> Result<ExecutionContext> {
        let client = self.client;
        LeaseReaper::new(client).reap(ClaimScope::Task(task_id))?;
        let ctx = client.execution_context(task_id)?;
        if !matches!(ctx.task_state, State::Pending | State::InProgress) {
            return Ok(ctx);
        }
        if ctx.execution_status == ExecutionStatus::HasReadySteps {
            let ready = client.block(client.inner.store.ready_step_ids(task_id, client.now()))?;
            self.enqueue_steps(&ready, Duration::ZERO);
        } else {
            self.reenqueue(task_id)?;
        }
        Ok(ctx)
    }
}

//! `wait_task`: blocks until a task is finished or blocked, its timeout passes, or the client
//! is interrupted. Event-driven (local commits, PostgreSQL NOTIFY) with polling as the fallback.

use super::Client;
use crate::models::{ExecutionContext, ExecutionStatus, State, TaskWait};
use crate::Result;
use std::time::{Duration, Instant};

/// Finished (complete, cancelled, resolved manually) or blocked (error, or a step out of
/// retries): nothing more happens to it without an operation.
fn settled(ctx: &ExecutionContext) -> bool {
    !matches!(ctx.task_state, State::Pending | State::InProgress)
        || ctx.execution_status == ExecutionStatus::BlockedByFailures
}

pub(crate) fn wait_task(client: &Client, task_id: i64, timeout: Duration) -> Result<TaskWait> {
    let inner = &client.inner;
    let interrupt = inner.interrupt.scope();
    client.ensure_listener();
    // Asked for before the first look: a finish committed after it notifies this task.
    client.block(inner.store.watch_finish(task_id))?;
    // A timeout too large for the clock waits without one.
    let deadline = Instant::now().checked_add(timeout);
    let poll = Duration::from_millis(inner.config.poll_interval_ms.max(1));
    loop {
        interrupt.check()?;
        // Armed before the look, so a commit in between is not missed.
        let wake = inner.settled.clone();
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let ctx = client.block(inner.store.execution_context(task_id, client.now()))?;
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let done = settled(&ctx);
        if done || left == Some(Duration::ZERO) {
            let task = client.block(inner.store.task_view(task_id, client.now()))?;
            return Ok(TaskWait {
                timed_out: !done,
                task,
            });
        }
        let nap = left.map_or(poll, |l| l.min(poll));
        client.block(async {
            tokio::select! {
                _ = &mut notified => {}
                _ = interrupt.interrupted() => {}
                _ = tokio::time::sleep(nap) => {}
            }
        });
    }
}

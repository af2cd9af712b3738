//! `Operations`: what an operator does by hand: cancel a task, resolve or retry a step. Each is
//! one storage transaction; what it made ready is announced to workers and the host queue.

use super::host_queue::HostQueue;
use super::Client;
use crate::database::OpOutcome;
use crate::models::document_policy;
use crate::Result;
use serde_json::Value;
use std::time::Duration;

pub(crate) struct Operations<'a> {
    client: &'a Client,
}

impl<'a> Operations<'a> {
    pub fn new(client: &'a Client) -> Operations<'a> {
        Operations { client }
    }

    pub fn cancel_task(&self, task_id: i64) -> Result<bool> {
        let c = self.client;
        let out = c.block(c.inner.store.cancel_task(task_id, c.now()))?;
        c.publish(&out.recorded);
        Ok(out.changed)
    }

    pub fn resolve_step(&self, step_id: i64, results: Value) -> Result<bool> {
        let c = self.client;
        document_policy::check("results", &results)?;
        let out = c.block(c.inner.store.resolve_step(step_id, &results, c.now()))?;
        Ok(self.announce(out))
    }

    pub fn retry_step(&self, step_id: i64) -> Result<bool> {
        let c = self.client;
        let out = c.block(c.inner.store.retry_step(step_id, c.now()))?;
        Ok(self.announce(out))
    }

    /// Publishes the operation's transitions and hands what became ready to idle workers and
    /// the host queue. Returns whether anything changed.
    fn announce(&self, out: OpOutcome) -> bool {
        self.client.publish(&out.recorded);
        if !out.newly_ready.is_empty() {
            self.client.inner.ready.notify_waiters();
            HostQueue::new(self.client).enqueue_steps(&out.newly_ready, Duration::ZERO);
        }
        out.changed
    }
}

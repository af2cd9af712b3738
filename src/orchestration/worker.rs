//! The built-in worker: its loop, and stopping it from any thread.

use super::{Client, OrchestrationCoordinator};
use crate::database::spawn_ready_listener;
use crate::Result;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A stop signal shared between a running worker and whoever stops it. Cloning shares it.
#[derive(Clone, Default)]
pub struct StopHandle {
    inner: Arc<(AtomicBool, tokio::sync::Notify)>,
}

impl StopHandle {
    pub fn new() -> StopHandle {
        StopHandle::default()
    }

    /// Asks every worker using this handle to return after its current step.
    pub fn stop(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    pub fn is_stopped(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }

    /// Re-arms a stopped handle.
    pub fn reset(&self) {
        self.inner.0.store(false, Ordering::SeqCst);
    }

    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.1.notified()
    }
}

/// The built-in worker loop: runs batches until stopped, idling between them on a wakeup
/// (local commit, PostgreSQL NOTIFY), a stop, or the poll interval.
pub(crate) struct Worker<'a> {
    client: &'a Client,
    stop: &'a StopHandle,
}

impl<'a> Worker<'a> {
    pub fn new(client: &'a Client, stop: &'a StopHandle) -> Worker<'a> {
        Worker { client, stop }
    }

    /// Runs until stopped; returns how many steps ran.
    pub fn run(&self) -> Result<u64> {
        let (client, stop) = (self.client, self.stop);
        self.ensure_listener();
        let coordinator = OrchestrationCoordinator::new(client);
        let mut ran: u64 = 0;
        let poll = Duration::from_millis(client.inner.config.poll_interval_ms.max(1));
        while !stop.is_stopped() {
            // Arm both wakeups before looking for work, so none is missed in between.
            let ready = client.inner.ready.clone();
            let notified = ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let stop_wait = stop.notified();
            tokio::pin!(stop_wait);
            stop_wait.as_mut().enable();
            if stop.is_stopped() {
                break;
            }
            let outcome = coordinator.run_once();
            match &outcome {
                Ok(_) => client.inner.worker_health.succeeded(),
                Err(e) => client.inner.worker_health.failed(e),
            }
            match outcome {
                Ok(0) => {
                    client.block(async {
                        tokio::select! {
                            _ = &mut notified => {}
                            _ = &mut stop_wait => {}
                            _ = tokio::time::sleep(poll) => {}
                        }
                    });
                }
                Ok(n) => ran += n as u64,
                Err(e) => {
                    tracing::error!(error = %e, "worker iteration failed; retrying after the poll interval");
                    client.block(async {
                        tokio::select! {
                            _ = &mut stop_wait => {}
                            _ = tokio::time::sleep(poll) => {}
                        }
                    });
                }
            }
        }
        Ok(ran)
    }

    /// Starts the client's PostgreSQL LISTEN loop once (SQLite has none: local commits wake).
    fn ensure_listener(&self) {
        let inner = &self.client.inner;
        let Some(pool) = inner.store.pg_pool() else {
            return;
        };
        if inner.listener_started.swap(true, Ordering::SeqCst) {
            return;
        }
        spawn_ready_listener(&inner.rt, pool.clone(), inner.ready.clone());
    }
}

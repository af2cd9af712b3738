//! The built-in worker: its loop, and stopping it from any thread.

use super::deadlines::Deadlines;
use super::rate_starts::RateStarts;
use super::retention::Retention;
use super::schedules::Schedules;
use super::{Client, OrchestrationCoordinator};
use crate::{Error, Result};
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

    /// Asks every worker using this handle to stop: it claims nothing more, gives back the
    /// steps it claimed but has not started, lets the running handler finish within the
    /// client's `stop_grace_ms` (after that its claim is given back and its outcome, when it
    /// comes, is refused as stale) and returns. An idle worker returns at once. Safe from any
    /// thread (not async-signal-safe).
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

    /// Whether `other` is this handle (or a clone of it).
    pub(crate) fn same(&self, other: &StopHandle) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Resolves once stopped (at once if it already is).
    pub(crate) async fn stopped(&self) {
        loop {
            let wake = self.inner.1.notified();
            tokio::pin!(wake);
            // Armed before the check, so a stop in between is not missed.
            wake.as_mut().enable();
            if self.is_stopped() {
                return;
            }
            wake.await;
        }
    }
}

/// The built-in worker loop: runs batches until stopped or interrupted, idling between them on
/// a wakeup (local commit, PostgreSQL NOTIFY), a stop, an interrupt, or the poll interval.
pub(crate) struct Worker<'a> {
    client: &'a Client,
    stop: &'a StopHandle,
}

/// Keeps a running worker's stop handle registered with the client (closing stops it).
struct Registered<'a>(&'a Client, &'a StopHandle);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.inner.gate.remove_worker(self.1);
    }
}

impl<'a> Worker<'a> {
    pub fn new(client: &'a Client, stop: &'a StopHandle) -> Worker<'a> {
        Worker { client, stop }
    }

    /// Runs until stopped (`Ok`, the number of steps run) or interrupted (`Err(Interrupted)`).
    pub fn run(&self) -> Result<u64> {
        let (client, stop) = (self.client, self.stop);
        client.inner.gate.add_worker(stop);
        let _registered = Registered(client, stop);
        client.ensure_listener();
        let coordinator = OrchestrationCoordinator::new(client).stopped_by(stop);
        let grace = Duration::from_millis(client.inner.config.stop_grace_ms);
        let _watchdog = coordinator.watchdog(Some((stop.clone(), grace)));
        let interrupt = coordinator.interrupt().clone();
        let mut ran: u64 = 0;
        let config = &client.inner.config;
        // An idle worker also wakes for the next schedule check.
        let poll = Duration::from_millis(
            config
                .poll_interval_ms
                .min(config.schedule_check_interval_ms)
                .max(1),
        );
        let schedules = Schedules::new(client);
        while !stop.is_stopped() {
            interrupt.check()?;
            // Arm the ready wakeup before looking for work, so none is missed in between (stops
            // and interrupts are flags, checked by their futures after arming).
            let ready = client.inner.ready.clone();
            let notified = ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Off the claim path: a due check is one indexed read, once per interval.
            if let Err(e) = schedules.fire_if_due() {
                tracing::warn!(error = %e, "checking the cron schedules failed; retrying at the next check");
            }
            if let Err(e) = Deadlines::new(client).enforce_if_due() {
                tracing::warn!(error = %e, "checking the task deadlines failed; retrying at the next check");
            }
            if let Err(e) = Retention::new(client).apply_if_due() {
                tracing::warn!(error = %e, "applying the retention failed; retrying at the next interval");
            }
            if let Err(e) = RateStarts::new(client).prune_if_due() {
                tracing::warn!(error = %e, "pruning the rate-limit starts failed; retrying in an hour");
            }
            let outcome = coordinator.run_once();
            match &outcome {
                Ok(_) => client.inner.worker_health.succeeded(),
                Err(Error::Interrupted) => {}
                Err(e) => client.inner.worker_health.failed(e),
            }
            match outcome {
                Ok(0) => {
                    client.block(async {
                        tokio::select! {
                            _ = &mut notified => {}
                            _ = stop.stopped() => {}
                            _ = interrupt.interrupted() => {}
                            _ = tokio::time::sleep(poll) => {}
                        }
                    });
                }
                Ok(n) => ran = ran.saturating_add(n as u64),
                Err(Error::Interrupted) => return Err(Error::Interrupted),
                Err(e) => {
                    tracing::error!(error = %e, "worker iteration failed; retrying after the poll interval");
                    client.block(async {
                        tokio::select! {
                            _ = stop.stopped() => {}
                            _ = interrupt.interrupted() => {}
                            _ = tokio::time::sleep(poll) => {}
                        }
                    });
                }
            }
        }
        Ok(ran)
    }
}

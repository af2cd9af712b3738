//! `HeldClaims`: the claims a running call holds whose handlers have not finished (claimed in a
//! batch and not started yet, or running), so that they can be given back when the call stops
//! or is interrupted; and the `Watchdog` that gives them back while the calling thread is still
//! inside a handler (after an interrupt at once, after a stop once the grace period ran out).
//! A handler whose claim was released meanwhile finds its outcome refused as stale.

use super::interrupt::InterruptScope;
use super::worker::StopHandle;
use super::Client;
use crate::database::{Claimed, HeldClaim, Recorded};
use crate::Result;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
pub(crate) struct HeldClaims {
    claims: Mutex<Vec<HeldClaim>>,
    /// Transitions of releases made by the watchdog, for the calling thread to publish (events
    /// are delivered on the calling thread only).
    released: Mutex<Vec<Recorded>>,
}

impl HeldClaims {
    pub fn hold<'c>(&self, claims: impl IntoIterator<Item = &'c Claimed>) {
        self.claims
            .lock()
            .extend(claims.into_iter().map(HeldClaim::from));
    }

    /// The handler of `step_id` finished: writing its outcome is the caller's business now.
    pub fn finished(&self, step_id: i64) {
        self.claims.lock().retain(|c| c.step_id != step_id);
    }

    fn take(&self) -> Vec<HeldClaim> {
        std::mem::take(&mut *self.claims.lock())
    }

    /// Releases every held claim from the calling thread and publishes what was released (by
    /// this call or the watchdog before it).
    pub fn release(&self, client: &Client) -> Result<()> {
        let claims = self.take();
        if !claims.is_empty() {
            let rec = client.block(client.inner.store.release_claims(&claims, client.now()))?;
            tracing::info!(steps = claims.len(), "claims released");
            self.released.lock().extend(rec);
        }
        self.publish(client);
        Ok(())
    }

    /// Publishes the watchdog's releases (calling thread only).
    pub fn publish(&self, client: &Client) {
        let rec = std::mem::take(&mut *self.released.lock());
        if !rec.is_empty() {
            client.publish(&rec);
        }
    }
}

/// Gives the held claims back from a runtime task while the calling thread is busy: at once
/// after an interrupt of its call, or `grace` after its worker was asked to stop. Ends (and is
/// awaited) when dropped.
pub(crate) struct Watchdog<'a> {
    client: &'a Client,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl<'a> Watchdog<'a> {
    pub fn start(
        client: &'a Client,
        held: Arc<HeldClaims>,
        scope: InterruptScope,
        stop: Option<(StopHandle, Duration)>,
    ) -> Watchdog<'a> {
        let inner = Arc::clone(&client.inner);
        let task = client.inner.rt.spawn(async move {
            let stopped = async {
                match &stop {
                    Some((s, grace)) => {
                        s.stopped().await;
                        tokio::time::sleep(*grace).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = scope.interrupted() => {}
                _ = stopped => {}
            }
            let claims = held.take();
            if claims.is_empty() {
                return;
            }
            match inner
                .store
                .release_claims(&claims, inner.clock.now_ms())
                .await
            {
                Ok(rec) => {
                    tracing::info!(steps = claims.len(), "claims released while a handler ran");
                    held.released.lock().extend(rec);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "releasing claims failed; their leases will expire")
                }
            }
        });
        Watchdog {
            client,
            task: Some(task),
        }
    }
}

impl Drop for Watchdog<'_> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // Wait for it: the task holds the client, whose last reference must not be
            // dropped on a runtime thread.
            let _ = self.client.block(task);
        }
    }
}

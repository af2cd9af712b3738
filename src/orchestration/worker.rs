//! Stopping a worker loop from any thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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

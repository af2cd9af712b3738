//! `Interrupt`: makes the blocking calls of a client return early, from any thread. Each call
//! takes an `InterruptScope` when it starts; an interrupt ends every call running at that
//! moment (its waits wake at once, its claims are released) and none started afterwards.

use crate::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// The client-wide interrupt: a generation counter and a wakeup.
#[derive(Default)]
pub(crate) struct Interrupt {
    generation: AtomicU64,
    wake: Notify,
}

impl Interrupt {
    /// Interrupts every call running now. Safe from any thread (not async-signal-safe: call it
    /// from a normal thread, e.g. a language's signal-handling thread).
    pub fn interrupt(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    /// The scope of a call starting now.
    pub fn scope(self: &Arc<Self>) -> InterruptScope {
        InterruptScope {
            since: self.generation.load(Ordering::SeqCst),
            interrupt: Arc::clone(self),
        }
    }
}

/// One call's view of the interrupt: interrupted once the generation moved past its start.
#[derive(Clone)]
pub(crate) struct InterruptScope {
    interrupt: Arc<Interrupt>,
    since: u64,
}

impl InterruptScope {
    pub fn is_interrupted(&self) -> bool {
        self.interrupt.generation.load(Ordering::SeqCst) != self.since
    }

    /// `Err(Interrupted)` once interrupted.
    pub fn check(&self) -> Result<()> {
        if self.is_interrupted() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Resolves once interrupted (at once if it already was); for `select!` in waits.
    pub async fn interrupted(&self) {
        loop {
            let wake = self.interrupt.wake.notified();
            tokio::pin!(wake);
            // Armed before the check, so an interrupt in between is not missed.
            wake.as_mut().enable();
            if self.is_interrupted() {
                return;
            }
            wake.await;
        }
    }
}

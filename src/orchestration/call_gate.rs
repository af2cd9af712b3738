//! `CallGate`: the calls running on a client, and its closing. `Client::close` shuts the gate
//! (new calls fail with `Closed`), stops the client's running workers, drops its
//! subscriptions and waits until the calls already inside have returned.

use super::worker::StopHandle;
use crate::{Error, Result};
use parking_lot::{Condvar, Mutex};
use std::cell::Cell;

thread_local! {
    // Calls this thread is inside (a handler may call the client again): close must not wait
    // for them, they are waiting for it.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

#[derive(Default)]
struct GateState {
    closed: bool,
    running: usize,
    /// Stop handles of the workers running now (closing stops them).
    workers: Vec<StopHandle>,
}

#[derive(Default)]
pub(crate) struct CallGate {
    state: Mutex<GateState>,
    idle: Condvar,
}

/// One call inside the gate; leaving it (drop, also on unwind) may let `close` return.
pub(crate) struct CallGuard<'a>(&'a CallGate);

impl CallGate {
    /// Enters a call, or `Err(Closed)` once the client is closed. A call made from inside a
    /// running one on the same thread (a handler's heartbeat, an inline run) is part of it
    /// and still enters.
    pub fn enter(&self) -> Result<CallGuard<'_>> {
        let mut s = self.state.lock();
        if s.closed && DEPTH.with(Cell::get) == 0 {
            return Err(Error::Closed);
        }
        s.running += 1;
        DEPTH.with(|d| d.set(d.get() + 1));
        Ok(CallGuard(self))
    }

    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Registers a running worker's stop handle: stopped at once if the gate is closed.
    pub fn add_worker(&self, stop: &StopHandle) {
        let mut s = self.state.lock();
        if s.closed {
            stop.stop();
        }
        s.workers.push(stop.clone());
    }

    pub fn remove_worker(&self, stop: &StopHandle) {
        self.state.lock().workers.retain(|w| !w.same(stop));
    }

    /// Closes the gate, stops the running workers and waits until every call of other
    /// threads has returned (calls of this thread, further up its stack, cannot return first).
    pub fn close(&self) {
        let mine = DEPTH.with(Cell::get);
        let mut s = self.state.lock();
        s.closed = true;
        for w in &s.workers {
            w.stop();
        }
        while s.running > mine {
            self.idle.wait(&mut s);
        }
    }
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        let mut s = self.0.state.lock();
        s.running = s.running.saturating_sub(1);
        self.0.idle.notify_all();
    }
}

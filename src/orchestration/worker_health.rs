//! What this client's workers met: failed loop iterations (a database outage, a statement that
//! keeps failing), reported through `health` so a host sees them without reading logs.

use crate::models::HealthCounts;
use crate::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct WorkerHealth {
    in_a_row: AtomicU64,
    total: AtomicU64,
    last: Mutex<Option<String>>,
}

impl WorkerHealth {
    /// A worker iteration failed (the worker retries after its poll interval).
    pub fn failed(&self, e: &Error) {
        self.in_a_row.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        // Errors never carry a password (URLs are redacted where errors are made).
        if let Ok(mut last) = self.last.lock() {
            *last = Some(e.to_string());
        }
    }

    /// A worker iteration succeeded: the failures are no longer "in a row".
    pub fn succeeded(&self) {
        if self.in_a_row.load(Ordering::Relaxed) != 0 {
            self.in_a_row.store(0, Ordering::Relaxed);
        }
    }

    /// Adds this client's worker figures to database-wide counts.
    pub fn fill(&self, h: &mut HealthCounts) {
        h.worker_failures_in_a_row = self.in_a_row.load(Ordering::Relaxed);
        h.worker_failures = self.total.load(Ordering::Relaxed);
        h.last_worker_error = self.last.lock().ok().and_then(|l| l.clone());
    }
}

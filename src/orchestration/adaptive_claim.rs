//! `AdaptiveClaim`: how many steps the next claim takes. Batching pays off only when handlers
//! are short (one claim and one group commit for many steps) and costs latency and lease time
//! when they are long (a claimed step waits for the handlers before it). So a claim starts at
//! one step, doubles while claims come back full and their batches run quickly, and halves
//! when a batch ran slowly, within `1..=claim_batch`. An idle worker therefore claims the one
//! step that arrives and commits it at once (no group-commit window), and a backlog of short
//! steps is taken in batches without a tuning knob.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A batch that ran within this may grow; one that took longer than twice this shrinks. It
/// also bounds how long a successful outcome waits for its group commit in a growing batch.
const QUICK_BATCH: Duration = Duration::from_millis(20);

/// The size of the next claim, shared by the workers of one client (atomic: any thread).
#[derive(Debug)]
pub(crate) struct AdaptiveClaim {
    size: AtomicU32,
}

impl Default for AdaptiveClaim {
    fn default() -> AdaptiveClaim {
        AdaptiveClaim {
            size: AtomicU32::new(1),
        }
    }
}

impl AdaptiveClaim {
    /// How many steps to claim now, at most `max` (the client's `claim_batch`); always `max`
    /// when adaptation is off (`adaptive_claim: false`).
    pub fn limit(&self, max: u32, adaptive: bool) -> u32 {
        if !adaptive {
            return max.max(1);
        }
        self.size.load(Ordering::Relaxed).clamp(1, max.max(1))
    }

    /// Learns from a batch: `claimed` steps of a claim of `limit` that took `elapsed` to run.
    pub fn observe(&self, limit: u32, claimed: usize, elapsed: Duration, max: u32) {
        let next = if elapsed > 2 * QUICK_BATCH {
            (limit / 2).max(1)
        } else if claimed >= limit as usize && elapsed <= QUICK_BATCH {
            limit.saturating_mul(2).min(max.max(1))
        } else {
            return;
        };
        self.size.store(next, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_millis(1);
    const SLOW: Duration = Duration::from_millis(100);

    #[test]
    fn starts_at_one_and_doubles_while_full_and_quick() {
        let a = AdaptiveClaim::default();
        let mut sizes = vec![];
        for _ in 0..7 {
            let n = a.limit(32, true);
            sizes.push(n);
            a.observe(n, n as usize, FAST, 32);
        }
        assert_eq!(sizes, [1, 2, 4, 8, 16, 32, 32]);
    }

    #[test]
    fn a_partial_claim_keeps_the_size_and_a_slow_batch_halves_it() {
        let a = AdaptiveClaim::default();
        for _ in 0..4 {
            let n = a.limit(50, true);
            a.observe(n, n as usize, FAST, 50);
        }
        assert_eq!(a.limit(50, true), 16);
        a.observe(16, 3, FAST, 50);
        assert_eq!(
            a.limit(50, true),
            16,
            "a short backlog is no reason to shrink"
        );
        a.observe(16, 16, SLOW, 50);
        assert_eq!(a.limit(50, true), 8);
        for _ in 0..5 {
            a.observe(a.limit(50, true), 1, SLOW, 50);
        }
        assert_eq!(a.limit(50, true), 1);
    }

    #[test]
    fn never_exceeds_the_configured_maximum() {
        let a = AdaptiveClaim::default();
        for _ in 0..10 {
            let n = a.limit(5, true);
            a.observe(n, n as usize, FAST, 5);
        }
        assert_eq!(a.limit(5, true), 5);
        assert_eq!(a.limit(1, true), 1, "claim_batch 1 turns batching off");
        assert_eq!(
            AdaptiveClaim::default().limit(7, false),
            7,
            "adaptation off"
        );
    }
}

//! `take_turn`: a background duty of the workers (lease expiry, schedule checks) runs at most
//! once per interval in a client, by whichever of its threads gets there first.

use std::sync::atomic::{AtomicI64, Ordering};

/// Whether the duty last run at `last` (`i64::MIN`: never) is due at `now`; if so, records
/// `now` and returns true to exactly one of the threads asking at once.
pub(crate) fn take_turn(last: &AtomicI64, now: i64, interval_ms: u64) -> bool {
    let prev = last.load(Ordering::Relaxed);
    let interval = i64::try_from(interval_ms).unwrap_or(i64::MAX);
    let due = prev == i64::MIN || now.saturating_sub(prev) >= interval;
    due && last
        .compare_exchange(prev, now, Ordering::SeqCst, Ordering::Relaxed)
        .is_ok()
}

//! `AtomicHistogram`: a fixed-bucket histogram of durations that many threads record into
//! without a lock (one relaxed atomic add per bucket hit, one for the sum).

use super::{DurationHistogram, HistogramBucket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds: 1 ms to 5 min (steps run from sub-millisecond
/// no-ops to long calls; the Prometheus client defaults stop at 10 s).
const BOUNDS_US: [u64; 15] = [
    1_000,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    300_000_000,
];

#[derive(Debug, Default)]
pub(crate) struct AtomicHistogram {
    /// Observations per bucket (not cumulative); the last one is above every bound.
    counts: [AtomicU64; BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
}

impl AtomicHistogram {
    pub fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BOUNDS_US.partition_point(|b| *b < us);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The histogram as Prometheus reports it: cumulative buckets, `count` their total (so
    /// the `+Inf` bucket always equals it, even while other threads record).
    pub fn snapshot(&self) -> DurationHistogram {
        let mut total = 0u64;
        let mut buckets = Vec::with_capacity(BOUNDS_US.len());
        for (bound, n) in BOUNDS_US.iter().zip(&self.counts) {
            total = total.saturating_add(n.load(Ordering::Relaxed));
            buckets.push(HistogramBucket {
                le_seconds: *bound as f64 / 1e6,
                count: total,
            });
        }
        let overflow = self.counts[BOUNDS_US.len()].load(Ordering::Relaxed);
        DurationHistogram {
            count: total.saturating_add(overflow),
            sum_seconds: self.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets() {
        let h = AtomicHistogram::default();
        h.observe(Duration::from_micros(1_000)); // on the first bound: le 0.001
        h.observe(Duration::from_millis(7));
        h.observe(Duration::from_secs(400)); // above every bound
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets[0].le_seconds, 0.001);
        assert_eq!(s.buckets[0].count, 1);
        assert_eq!(s.buckets[1].count, 1);
        assert_eq!(s.buckets[2].count, 2);
        assert_eq!(s.buckets.last().map(|b| b.count), Some(2));
        assert!((s.sum_seconds - 400.008).abs() < 1e-9);
    }
}

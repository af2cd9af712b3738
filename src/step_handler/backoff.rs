//! `BackoffCalculator`: how long a failed step waits before its next attempt. The configuration
//! (`BackoffConfig`, per-step `BackoffOverride`) lives in `config.rs`; the arithmetic lives here.

use crate::config::{BackoffConfig, BackoffOverride, MAX_DELAY_MS};

/// Exponential backoff: `min(base × factor^attempts, max)`, plus optional symmetric jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffCalculator {
    policy: BackoffConfig,
}

impl From<BackoffConfig> for BackoffCalculator {
    fn from(policy: BackoffConfig) -> BackoffCalculator {
        BackoffCalculator { policy }
    }
}

impl BackoffCalculator {
    /// The client-wide policy with a step template's overrides applied.
    pub fn for_step(defaults: &BackoffConfig, step: &BackoffOverride) -> BackoffCalculator {
        BackoffCalculator::from(defaults.with_override(step))
    }

    pub fn policy(&self) -> &BackoffConfig {
        &self.policy
    }

    /// Delay before the next attempt after `attempts` attempts have been made.
    /// A handler-requested `retry_after_ms` wins, capped at `max_ms`. Never more than
    /// `MAX_DELAY_MS` (24 h), whatever the policy says: storage adds it to the current time.
    pub fn delay_ms(&self, attempts: u32, retry_after_ms: Option<u64>) -> u64 {
        let p = &self.policy;
        let max = p.max_ms.min(MAX_DELAY_MS);
        if let Some(requested) = retry_after_ms {
            return requested.min(max);
        }
        let max_f = max as f64;
        // In f64, where overflow is +inf rather than a panic or a wrapped negative value.
        let raw = p.base_ms as f64 * p.factor.powi(attempts.min(1024) as i32);
        let capped = if raw.is_nan() {
            max_f
        } else {
            raw.clamp(0.0, max_f)
        };
        let jitter = if p.jitter.is_finite() {
            p.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let jittered = if jitter > 0.0 {
            let spread = capped * jitter;
            let offset: f64 = rand::random::<f64>() * 2.0 * spread - spread;
            (capped + offset).clamp(0.0, max_f)
        } else {
            capped
        };
        // Within 0..=MAX_DELAY_MS, so the conversion is exact and cannot saturate.
        jittered.round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_backoff_matches_ancestor() {
        let b = BackoffCalculator::from(BackoffConfig::default());
        let delays: Vec<u64> = (1..=6).map(|a| b.delay_ms(a, None)).collect();
        assert_eq!(delays, vec![2000, 4000, 8000, 16000, 30000, 30000]);
    }

    #[test]
    fn retry_after_wins_and_is_capped() {
        let b = BackoffCalculator::from(BackoffConfig::default());
        assert_eq!(b.delay_ms(1, Some(7000)), 7000);
        assert_eq!(b.delay_ms(1, Some(600_000)), 30_000);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let b = BackoffCalculator::from(BackoffConfig {
            jitter: 0.5,
            ..Default::default()
        });
        for _ in 0..200 {
            let d = b.delay_ms(2, None);
            assert!((2000..=6000).contains(&d), "{d}");
        }
    }

    #[test]
    fn extreme_policies_stay_within_zero_and_the_cap() {
        // Not valid configurations (validation refuses them), but the arithmetic must not
        // panic, go negative or wrap whatever it is given.
        let huge = BackoffCalculator::from(BackoffConfig {
            max_ms: i64::MAX as u64,
            ..Default::default()
        });
        assert_eq!(huge.delay_ms(1, Some(u64::MAX)), MAX_DELAY_MS);
        let steep = BackoffCalculator::from(BackoffConfig {
            base_ms: 1_000_000_000_000_000_000,
            factor: 10.0,
            max_ms: u64::MAX,
            jitter: 1.0,
        });
        for attempts in [0, 1, 30, u32::MAX] {
            assert!(steep.delay_ms(attempts, None) <= MAX_DELAY_MS);
        }
        let unbounded = BackoffCalculator::from(BackoffConfig {
            max_ms: u64::MAX,
            ..Default::default()
        });
        assert_eq!(unbounded.delay_ms(1, Some(3_600_000)), 3_600_000);
        assert_eq!(unbounded.delay_ms(40, None), MAX_DELAY_MS);
    }

    #[test]
    fn step_overrides_apply() {
        let b = BackoffCalculator::for_step(
            &BackoffConfig::default(),
            &BackoffOverride {
                base_ms: Some(10),
                ..Default::default()
            },
        );
        assert_eq!(b.delay_ms(1, None), 20);
    }
}

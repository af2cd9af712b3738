//! `BackoffCalculator`: how long a failed step waits before its next attempt. The configuration
//! (`BackoffConfig`, per-step `BackoffOverride`) lives in `config.rs`; the arithmetic lives here.

use crate::config::{BackoffConfig, BackoffOverride};

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
    /// A handler-requested `retry_after_ms` wins, capped at `max_ms`.
    pub fn delay_ms(&self, attempts: u32, retry_after_ms: Option<u64>) -> u64 {
        let p = &self.policy;
        if let Some(requested) = retry_after_ms {
            return requested.min(p.max_ms);
        }
        let raw = p.base_ms as f64 * p.factor.powi(attempts.min(1024) as i32);
        let capped = if raw.is_finite() {
            raw.min(p.max_ms as f64)
        } else {
            p.max_ms as f64
        };
        let jittered = if p.jitter > 0.0 {
            let spread = capped * p.jitter.min(1.0);
            let offset: f64 = rand::random::<f64>() * 2.0 * spread - spread;
            (capped + offset).clamp(0.0, p.max_ms as f64)
        } else {
            capped
        };
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

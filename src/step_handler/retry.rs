//! `RetryAnalyzer`: the one place that decides whether a failed attempt is retried, and after
//! which delay. Storage only writes the decision.

use super::BackoffCalculator;
use crate::config::{BackoffConfig, BackoffOverride};
use crate::database::Failure;
use crate::models::{document_policy, StepError};
use serde_json::Value;

/// Whether a failed attempt may be retried: retryable, not permanent, and attempts left
/// (`retry_limit` counts all attempts; the first attempt is always made).
pub(crate) fn retry_allowed(
    retryable: bool,
    permanent: bool,
    attempts: i64,
    retry_limit: i64,
) -> bool {
    retryable && !permanent && attempts < retry_limit
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryDecision {
    pub will_retry: bool,
    /// Delay before the next attempt; `None` when there is none.
    pub delay_ms: Option<u64>,
    /// The delay counts from the attempt's claim instead of from now: after an expired lease
    /// the retry keeps its place in the ready order (claims take the oldest `ready_at` first)
    /// rather than queueing behind everything that became ready while the lease ran.
    pub from_claim: bool,
}

/// The error class of an attempt whose lease expired.
const LEASE_EXPIRED: &str = "LeaseExpired";

/// The error class of an attempt that ran past its step's timeout (retryable under the step's
/// retry rules).
pub const TIMEOUT: &str = "Timeout";

/// The retry policy of one step: its backoff (client defaults with the step's overrides).
#[derive(Debug, Clone, Copy)]
pub struct RetryAnalyzer {
    backoff: BackoffCalculator,
}

impl RetryAnalyzer {
    pub fn for_step(defaults: &BackoffConfig, step: &BackoffOverride) -> RetryAnalyzer {
        RetryAnalyzer {
            backoff: BackoffCalculator::for_step(defaults, step),
        }
    }

    /// The failure storage records for a handler's error. The failure must be recorded (or the
    /// step would be retried forever), so what the document policy refuses is replaced rather
    /// than rejected: NUL in the texts is escaped, details that break the policy become a note.
    /// A message or details beyond `max_payload_bytes` is recorded as a permanent
    /// `PayloadTooLarge` failure naming the field (like oversized results).
    pub(crate) fn failure_of(e: StepError, max_payload_bytes: usize) -> Failure {
        let too_large = if e.message.len() > max_payload_bytes {
            Some(("message", e.message.len()))
        } else {
            let size = super::serialized_size(&e.details);
            (size > max_payload_bytes).then_some(("details", size))
        };
        if let Some((field, size)) = too_large {
            let class: String = e.class.chars().take(128).collect();
            return Failure {
                retry_after_ms: None,
                permanent: true,
                message: format!(
                    "the step's failure {field} is {size} bytes, the limit is {max_payload_bytes} (max_payload_bytes); the failure of class '{}' was not recorded",
                    class.replace('\0', "\\0")
                ),
                class: "PayloadTooLarge".into(),
                details: Value::Null,
            };
        }
        let retry_after_ms = e.retry_after_ms();
        let details = match document_policy::check("details", &e.details) {
            Ok(()) => e.details,
            Err(violation) => serde_json::json!({ "invalid_details": violation.to_string() }),
        };
        Failure {
            retry_after_ms,
            permanent: !e.retryable,
            message: e.message.replace('\0', "\\0"),
            class: e.class.replace('\0', "\\0"),
            details,
        }
    }

    /// The failure storage records when a lease expires (the worker was lost or too slow).
    pub(crate) fn lease_expired() -> Failure {
        Failure {
            message: "the step's lease expired before it finished (worker lost or too slow)".into(),
            class: LEASE_EXPIRED.into(),
            permanent: false,
            retry_after_ms: None,
            details: Value::Null,
        }
    }

    /// The failure storage records when a lease expires after the attempt's timeout
    /// (`deadline_at`, epoch ms): the handler never returned in time.
    pub(crate) fn lease_expired_after_timeout(deadline_at: i64) -> Failure {
        Failure {
            message: "the step's attempt ran past its timeout and its lease expired (worker lost or still running)".into(),
            class: TIMEOUT.into(),
            permanent: false,
            retry_after_ms: None,
            details: serde_json::json!({"deadline_at": deadline_at}),
        }
    }

    /// Retry or not, and after how long, for a step that has made `attempts` attempts.
    pub fn decide(
        &self,
        retryable: bool,
        failure: &Failure,
        attempts: i64,
        retry_limit: i64,
    ) -> RetryDecision {
        let will_retry = retry_allowed(retryable, failure.permanent, attempts, retry_limit);
        let delay_ms = will_retry.then(|| {
            self.backoff.delay_ms(
                attempts.clamp(0, u32::MAX as i64) as u32,
                failure.retry_after_ms,
            )
        });
        RetryDecision {
            will_retry,
            delay_ms,
            from_claim: failure.class == LEASE_EXPIRED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decides_retry_and_delay() {
        let a = RetryAnalyzer::for_step(&BackoffConfig::default(), &BackoffOverride::default());
        let f = RetryAnalyzer::failure_of(StepError::retryable("x"), 1024);
        assert_eq!(
            a.decide(true, &f, 1, 3),
            RetryDecision {
                will_retry: true,
                delay_ms: Some(2000),
                from_claim: false,
            }
        );
        assert!(
            a.decide(true, &RetryAnalyzer::lease_expired(), 1, 3)
                .from_claim
        );
        assert!(!a.decide(true, &f, 3, 3).will_retry);
        assert!(!a.decide(false, &f, 1, 3).will_retry);
        let p = RetryAnalyzer::failure_of(StepError::permanent("x"), 1024);
        assert_eq!(a.decide(true, &p, 1, 3).delay_ms, None);
    }
}

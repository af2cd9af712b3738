//! The failure a step handler reports: a document handlers return through every binding.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A failure reported by a handler. Retryable unless marked permanent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StepError {
    pub message: String,
    /// Error class, e.g. an exception class name.
    pub class: String,
    /// False makes the failure permanent: no further attempts.
    pub retryable: bool,
    /// Requested delay before the next attempt, in seconds (like HTTP Retry-After).
    pub retry_after: Option<f64>,
    pub details: Value,
}

impl Default for StepError {
    fn default() -> Self {
        StepError {
            message: String::new(),
            class: "StepError".into(),
            retryable: true,
            retry_after: None,
            details: Value::Null,
        }
    }
}

impl StepError {
    pub fn retryable(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
            ..Default::default()
        }
    }

    pub fn permanent(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
            class: "PermanentError".into(),
            retryable: false,
            ..Default::default()
        }
    }

    pub fn with_class(mut self, class: impl Into<String>) -> StepError {
        self.class = class.into();
        self
    }

    pub fn retry_after(mut self, seconds: f64) -> StepError {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_details(mut self, details: Value) -> StepError {
        self.details = details;
        self
    }

    /// The requested delay in milliseconds, at most `MAX_DELAY_MS` (24 h): a huge request
    /// (1e300 s) must not become u64::MAX and overflow the retry time.
    pub(crate) fn retry_after_ms(&self) -> Option<u64> {
        let max = crate::config::MAX_DELAY_MS;
        self.retry_after
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| (s * 1000.0).round().min(max as f64) as u64)
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}

impl std::error::Error for StepError {}

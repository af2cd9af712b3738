//! Client configuration and the clock the engine reads time from.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest backoff delay, backoff base and `retry_after` (24 h). Every delay stays
/// representable as epoch milliseconds (`now + delay` cannot overflow an i64 column).
pub(crate) const MAX_DELAY_MS: u64 = 24 * 60 * 60 * 1000;
/// The longest lease of one attempt (24 h): `now + lease` must fit PostgreSQL's bigint.
pub(crate) const MAX_LEASE_MS: u64 = 24 * 60 * 60 * 1000;
/// The longest `connect_timeout_ms` (10 minutes).
pub(crate) const MAX_CONNECT_TIMEOUT_MS: u64 = 10 * 60 * 1000;
/// The most attempts a step template may allow.
pub(crate) const MAX_RETRY_LIMIT: i64 = 1000;

/// Exponential backoff settings: `min(base × factor^attempts, max)`, plus optional jitter (a
/// fraction of the delay, applied symmetrically). Defaults reproduce the ancestor: 1 s, ×2, 30 s
/// cap, no jitter. The arithmetic is `step_handler::BackoffCalculator`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BackoffConfig {
    pub base_ms: u64,
    pub factor: f64,
    pub max_ms: u64,
    pub jitter: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base_ms: 1000,
            factor: 2.0,
            max_ms: 30_000,
            jitter: 0.0,
        }
    }
}

/// Per-step overrides of [`BackoffConfig`] (from a step template).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BackoffOverride {
    pub base_ms: Option<u64>,
    pub factor: Option<f64>,
    pub max_ms: Option<u64>,
    pub jitter: Option<f64>,
}

impl BackoffConfig {
    pub fn with_override(self, o: &BackoffOverride) -> BackoffConfig {
        BackoffConfig {
            base_ms: o.base_ms.unwrap_or(self.base_ms),
            factor: o.factor.unwrap_or(self.factor),
            max_ms: o.max_ms.unwrap_or(self.max_ms),
            jitter: o.jitter.unwrap_or(self.jitter),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [("base_ms", self.base_ms), ("max_ms", self.max_ms)] {
            if v > MAX_DELAY_MS {
                return Err(format!(
                    "backoff {name} must be at most {MAX_DELAY_MS} (24 h), got {v}"
                ));
            }
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(format!("backoff factor must be >= 1, got {}", self.factor));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(format!(
                "backoff jitter must be within 0..=1, got {}",
                self.jitter
            ));
        }
        Ok(())
    }
}

/// Delays (ms) used when the host queue is asked to look at a task again (ancestor's constants).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ReenqueueDelays {
    pub has_ready_steps_ms: u64,
    pub processing_ms: u64,
    pub waiting_for_dependencies_ms: u64,
    pub unknown_ms: u64,
    pub backoff_buffer_ms: u64,
    pub max_ms: u64,
}

impl Default for ReenqueueDelays {
    fn default() -> Self {
        ReenqueueDelays {
            has_ready_steps_ms: 0,
            processing_ms: 10_000,
            waiting_for_dependencies_ms: 45_000,
            unknown_ms: 30_000,
            backoff_buffer_ms: 5_000,
            max_ms: 300_000,
        }
    }
}

/// Options of a client. Every field has a default; unknown keys are rejected when decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub backoff: BackoffConfig,
    /// How long a claim stays valid without a heartbeat.
    pub lease_ms: u64,
    /// The most steps one claim takes. Workers and inline runs adapt below it: one step when
    /// work trickles in, growing batches (one claim and one group commit for many steps) while
    /// a backlog of quick steps lasts (see `orchestration/adaptive_claim.rs`). 1 turns
    /// batching off.
    pub claim_batch: u32,
    /// False: every claim takes up to `claim_batch` steps at once (no adaptation).
    pub adaptive_claim: bool,
    /// How long an idle worker waits before polling again (wakeups may come sooner).
    pub poll_interval_ms: u64,
    /// How often a worker looks for expired leases.
    pub lease_check_interval_ms: u64,
    /// How often a client's workers look for due schedule ticks (one check per client, by
    /// whichever worker thread comes first; an idle worker wakes for it). A tick fires up to
    /// this late; schedules ticking every second need less than 1,000 (docs/SCHEDULING.md).
    pub schedule_check_interval_ms: u64,
    /// Maximum size of a task context or step result, as serialized JSON bytes.
    pub max_payload_bytes: usize,
    /// Connection pool size. PostgreSQL keeps one more connection beside the pool for the hot
    /// path's single statements (src/database/parked_connection.rs).
    pub max_connections: u32,
    /// How long connecting to PostgreSQL may take before the client reports where it tried and
    /// why it failed (a server that is down must not hang the caller for a minute).
    pub connect_timeout_ms: u64,
    /// Environment name for template `environments` overrides (default: `TASKER_ENV`).
    pub environment: Option<String>,
    /// When true, creating a task identical to an existing one is an error.
    pub reject_duplicates: bool,
    pub reenqueue: ReenqueueDelays,
    /// How long a stopping worker lets its running handler finish before giving its claim
    /// back (the handler's outcome, if it comes later, is refused as stale).
    pub stop_grace_ms: u64,
    /// Registering a handler under a name already registered: `warn` (replace it and log a
    /// warning; the default), `ignore` (replace it silently) or `error` (refused with
    /// INVALID_STATE; the first stays).
    pub on_duplicate_handler: Strictness,
    /// A worker starting while templates registered in this client name handlers that are not
    /// registered (their steps would fail with `HandlerNotFound`): `warn` (log them; the
    /// default), `ignore`, or `error` (the worker does not start: INVALID_STATE naming them).
    pub on_missing_handler: Strictness,
    /// Finished tasks this client's workers purge by themselves (none when absent); see
    /// docs/SCHEDULING.md "Retention".
    pub retention: Option<RetentionConfig>,
}

/// How long finished tasks are kept before the workers purge them, per state (`error` tasks
/// are never purged: they wait for an operator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Purge `complete` tasks finished more than this many milliseconds ago; absent: keep
    /// them.
    pub complete_ms: Option<u64>,
    /// Purge `cancelled` tasks cancelled more than this many milliseconds ago; absent: keep them.
    pub cancelled_ms: Option<u64>,
    /// How often a client's workers apply it (one pass per client per interval).
    pub interval_ms: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            complete_ms: None,
            cancelled_ms: None,
            interval_ms: 60_000,
        }
    }
}

impl RetentionConfig {
    fn validate(&self) -> Result<(), String> {
        if self.interval_ms == 0 || self.interval_ms > MAX_DELAY_MS {
            return Err(format!(
                "retention interval_ms must be within 1..={MAX_DELAY_MS} (24 h), got {}",
                self.interval_ms
            ));
        }
        for (name, v) in [
            ("complete_ms", self.complete_ms),
            ("cancelled_ms", self.cancelled_ms),
        ] {
            if v.is_some_and(|v| v > crate::models::MAX_DEADLINE_MS) {
                return Err(format!(
                    "retention {name} must be at most {} (ten years)",
                    crate::models::MAX_DEADLINE_MS
                ));
            }
        }
        Ok(())
    }
}

/// How a setup mistake that still has a sensible default is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Strictness {
    Ignore,
    #[default]
    Warn,
    Error,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            backoff: BackoffConfig::default(),
            lease_ms: 300_000,
            claim_batch: 32,
            adaptive_claim: true,
            poll_interval_ms: 250,
            lease_check_interval_ms: 1_000,
            schedule_check_interval_ms: 1_000,
            max_payload_bytes: 8 * 1024 * 1024,
            max_connections: 10,
            connect_timeout_ms: 5_000,
            environment: std::env::var("TASKER_ENV").ok(),
            reject_duplicates: false,
            reenqueue: ReenqueueDelays::default(),
            stop_grace_ms: 30_000,
            on_duplicate_handler: Strictness::Warn,
            on_missing_handler: Strictness::Warn,
            retention: None,
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), crate::Error> {
        self.backoff.validate().map_err(crate::Error::Config)?;
        if self.lease_ms == 0 || self.lease_ms > MAX_LEASE_MS {
            return Err(crate::Error::Config(format!(
                "lease_ms must be within 1..={MAX_LEASE_MS} (24 h), got {}",
                self.lease_ms
            )));
        }
        if self.claim_batch == 0 || self.claim_batch > 1000 {
            return Err(crate::Error::Config(
                "claim_batch must be within 1..=1000".into(),
            ));
        }
        if self.connect_timeout_ms == 0 || self.connect_timeout_ms > MAX_CONNECT_TIMEOUT_MS {
            return Err(crate::Error::Config(format!(
                "connect_timeout_ms must be within 1..={MAX_CONNECT_TIMEOUT_MS} (10 min), got {}",
                self.connect_timeout_ms
            )));
        }
        if self.stop_grace_ms > MAX_DELAY_MS {
            return Err(crate::Error::Config(format!(
                "stop_grace_ms must be at most {MAX_DELAY_MS} (24 h), got {}",
                self.stop_grace_ms
            )));
        }
        if let Some(r) = &self.retention {
            r.validate().map_err(crate::Error::Config)?;
        }
        if self.max_connections == 0 {
            return Err(crate::Error::Config(
                "max_connections must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// Where the engine reads the time. Tests use [`ManualClock`] to show backoff without sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Wait `ms` milliseconds of this clock's time (a manual clock just advances).
    fn sleep_ms(&self, ms: u64);
    /// Whether `sleep_ms` waits in real time. Such waits are made interruptible by the engine
    /// (it waits on its own timer instead); a manual clock's are not waits at all.
    fn sleeps_in_real_time(&self) -> bool {
        true
    }
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
    fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// A clock that only moves when told to (or when the engine "sleeps" on it).
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn new(start_ms: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            now: AtomicI64::new(start_ms),
        })
    }
    pub fn advance_ms(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn set_ms(&self, ms: i64) {
        self.now.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
    fn sleep_ms(&self, ms: u64) {
        self.advance_ms(ms as i64);
    }
    fn sleeps_in_real_time(&self) -> bool {
        false
    }
}

/// A database URL fit for errors and logs: the password of `scheme://user:password@host/...`
/// becomes `***` (`postgres://u:***@host/db`), whatever the scheme (a mistyped scheme must not
/// leak it either), and so does a `password=` query parameter.
pub(crate) fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let start = scheme_end + 3;
        let rest = &out[start..];
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        // The last '@' ends the user info: a password may itself contain '@'.
        if let Some(at) = rest[..authority_len].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                out.replace_range(start + colon + 1..start + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&");
        out = format!("{head}{query}");
    }
    out
}

#[cfg(test)]
mod redact_tests {
    use super::redact_url;

    #[test]
    fn passwords_are_masked_whatever_the_scheme() {
        for (url, want) in [
            ("postgres://u:pw@h/db", "postgres://u:***@h/db"),
            ("Postgres://u:pw@h:5432/db", "Postgres://u:***@h:5432/db"),
            (" postgres://u:pw@h/db", " postgres://u:***@h/db"),
            ("mysql://u:p@ss@h", "mysql://u:***@h"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgres://h/db?password=pw&x=1",
                "postgres://h/db?password=***&x=1",
            ),
            ("sqlite::memory:", "sqlite::memory:"),
            ("sqlite://a:b/c.db", "sqlite://a:b/c.db"),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }
}

//! The columns of a new step row that come from its `NewStep`: ONE list for both step INSERTs
//! (tasks.rs and sqlite_raw_create.rs bind the values, create_autocommit.rs passes them as JSON
//! records), so a new column is one edit here.

use super::*;

/// One value of a new step row, typed so each INSERT path binds or declares it correctly.
pub(super) enum Col<'a> {
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(bool),
    Text(Option<&'a str>),
    Json(&'a Value),
}

fn ms(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// The (column, value) pairs of `s` that every step INSERT writes as they are (the rest, such
/// as the state and times, each path writes itself).
pub(super) fn step_columns(s: &NewStep) -> [(&'static str, Col<'_>); 19] {
    [
        ("named_step_id", Col::Int(Some(s.named_step_id))),
        ("name", Col::Text(Some(&s.name))),
        ("handler_name", Col::Text(Some(&s.handler))),
        ("handler_config", Col::Json(&s.handler_config)),
        ("retryable", Col::Bool(s.retryable)),
        ("retry_limit", Col::Int(Some(s.retry_limit))),
        ("skippable", Col::Bool(s.skippable)),
        ("pending_parents", Col::Int(Some(s.pending_parents))),
        ("lease_ms", Col::Int(Some(s.lease_ms))),
        ("timeout_ms", Col::Int(s.timeout_ms)),
        ("backoff_base_ms", Col::Int(ms(s.backoff.base_ms))),
        ("backoff_factor", Col::Float(s.backoff.factor)),
        ("backoff_max_ms", Col::Int(ms(s.backoff.max_ms))),
        ("backoff_jitter", Col::Float(s.backoff.jitter)),
        ("inputs", Col::Json(&s.inputs)),
        ("concurrency_key", Col::Text(s.flow_key.as_deref())),
        ("concurrency_limit", Col::Int(s.concurrency_limit)),
        ("rate_limit", Col::Int(s.rate_limit.map(|r| r.0))),
        ("rate_per_ms", Col::Int(s.rate_limit.map(|r| r.1))),
    ]
}

/// The column names of [`step_columns`], comma-separated, each with `prefix`.
pub(super) fn step_column_names(prefix: &str) -> String {
    step_columns(&NewStep::default())
        .iter()
        .map(|(name, _)| format!("{prefix}{name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

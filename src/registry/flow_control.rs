//! Flow control of a step template: its concurrency limit (at most `limit` steps of one key in
//! progress at once) and its rate limit (at most `limit` starts of one key in any window of
//! `per_ms`), across every process; docs/FLOW_CONTROL.md. The key is computed when the step row
//! is created and stored on it, so the claim never looks a template up.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The largest concurrency limit a template may set.
pub(crate) const MAX_CONCURRENCY_LIMIT: u32 = 100_000;
/// The largest rate limit (starts per window) a template may set.
pub(crate) const MAX_RATE_LIMIT: u32 = 100_000;
/// The longest rate window a template may set (24 h), in ms.
pub(crate) const MAX_RATE_PER_MS: u64 = 86_400_000;
/// The longest `key` pointer a template may set, in bytes.
pub(crate) const MAX_KEY_POINTER_BYTES: usize = 256;
/// A context value rendered longer than this (bytes) enters the key as its SHA-256 (hex), so a
/// key stays short enough for its index whatever the context holds.
pub(crate) const MAX_KEY_VALUE_BYTES: usize = 128;

/// `concurrency: {limit: 3, key: "/customer_id"}` on a step template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyLimit {
    /// How many steps of one key may be in progress at once (`1..=100000`).
    pub limit: u32,
    /// A JSON pointer into the task context (`/customer_id`): one limit per value. Absent:
    /// one limit for the step's handler across all tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl ConcurrencyLimit {
    /// The limit and key pointer are within bounds (`what` names the step in the message).
    pub fn check(&self, what: &str) -> std::result::Result<(), String> {
        if self.limit == 0 || self.limit > MAX_CONCURRENCY_LIMIT {
            return Err(format!(
                "{what}: concurrency.limit must be within 1..={MAX_CONCURRENCY_LIMIT}, got {}",
                self.limit
            ));
        }
        check_pointer(what, "concurrency", self.key.as_deref())
    }

    /// The key a step of `handler` gets in a task of `context` ([`flow_key`]).
    pub fn key_for(&self, handler: &str, context: &Value) -> String {
        flow_key(self.key.as_deref(), handler, context)
    }
}

/// `rate_limit: {limit: 10, per_ms: 1000, key: "/customer_id"}` on a step template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// How many steps of one key may start in any window of `per_ms` (`1..=100000`).
    pub limit: u32,
    /// The window, in ms (`1..=86400000`).
    pub per_ms: u64,
    /// A JSON pointer into the task context, as for `concurrency`. A step with both limits
    /// must give both the same key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl RateLimit {
    /// The limit, window and key pointer are within bounds (`what` names the step).
    pub fn check(&self, what: &str) -> std::result::Result<(), String> {
        if self.limit == 0 || self.limit > MAX_RATE_LIMIT {
            return Err(format!(
                "{what}: rate_limit.limit must be within 1..={MAX_RATE_LIMIT}, got {}",
                self.limit
            ));
        }
        if self.per_ms == 0 || self.per_ms > MAX_RATE_PER_MS {
            return Err(format!(
                "{what}: rate_limit.per_ms must be within 1..={MAX_RATE_PER_MS} (24 h), got {}",
                self.per_ms
            ));
        }
        check_pointer(what, "rate_limit", self.key.as_deref())
    }

    /// (limit, per_ms) as stored on the step row.
    pub fn stored(&self) -> (i64, i64) {
        (
            i64::from(self.limit),
            i64::try_from(self.per_ms).unwrap_or(i64::MAX),
        )
    }
}

/// One step has one flow key: with both limits, their key pointers must be the same.
pub fn check_same_key(
    what: &str,
    c: Option<&ConcurrencyLimit>,
    r: Option<&RateLimit>,
) -> std::result::Result<(), String> {
    match (c, r) {
        (Some(c), Some(r)) if c.key != r.key => Err(format!(
            "{what}: concurrency.key and rate_limit.key must be the same (one flow key per \
             step), got {:?} and {:?}",
            c.key, r.key
        )),
        _ => Ok(()),
    }
}

fn check_pointer(what: &str, field: &str, key: Option<&str>) -> std::result::Result<(), String> {
    if let Some(k) = key {
        if !k.starts_with('/') || k.len() > MAX_KEY_POINTER_BYTES {
            return Err(format!(
                "{what}: {field}.key must be a JSON pointer into the task context \
                 starting with '/' (e.g. \"/customer_id\"), at most {MAX_KEY_POINTER_BYTES} \
                 bytes, got {k:?}"
            ));
        }
    }
    Ok(())
}

/// The flow key a step of `handler` gets in a task of `context`: `handler:<name>` without a
/// pointer, else `handler:<name>:<value>` — a string value as is, any other value as its
/// JSON text, a missing value (or null) as the empty string: tasks without the value
/// share one key. A rendered value longer than `MAX_KEY_VALUE_BYTES` enters as `#<sha256>`.
pub fn flow_key(pointer: Option<&str>, handler: &str, context: &Value) -> String {
    let Some(pointer) = pointer else {
        return format!("handler:{handler}");
    };
    let value = match context.pointer(pointer) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    let value = if value.len() > MAX_KEY_VALUE_BYTES {
        format!("#{}", hex::encode(Sha256::digest(value.as_bytes())))
    } else {
        value
    };
    format!("handler:{handler}:{value}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limit(key: Option<&str>) -> ConcurrencyLimit {
        ConcurrencyLimit {
            limit: 3,
            key: key.map(str::to_string),
        }
    }

    #[test]
    fn the_key_is_the_handler_without_a_pointer() {
        assert_eq!(
            limit(None).key_for("charge", &json!({"a": 1})),
            "handler:charge"
        );
    }

    #[test]
    fn the_key_carries_the_context_value() {
        let l = limit(Some("/customer/id"));
        let ctx = json!({"customer": {"id": "c-7"}});
        assert_eq!(l.key_for("charge", &ctx), "handler:charge:c-7");
        let ctx = json!({"customer": {"id": 42}});
        assert_eq!(l.key_for("charge", &ctx), "handler:charge:42");
    }

    #[test]
    fn a_missing_or_null_value_is_the_empty_value() {
        let l = limit(Some("/customer_id"));
        assert_eq!(l.key_for("charge", &json!({})), "handler:charge:");
        assert_eq!(
            l.key_for("charge", &json!({"customer_id": null})),
            "handler:charge:"
        );
    }

    #[test]
    fn a_long_value_enters_as_its_hash() {
        let l = limit(Some("/v"));
        let key = l.key_for("h", &json!({"v": "x".repeat(500)}));
        assert!(key.starts_with("handler:h:#"), "{key}");
        assert_eq!(key.len(), "handler:h:#".len() + 64);
    }

    #[test]
    fn limits_and_pointers_are_checked() {
        let bad = |limit: u32, key: Option<&str>| {
            ConcurrencyLimit {
                limit,
                key: key.map(str::to_string),
            }
            .check("step 'a'")
            .unwrap_err()
        };
        assert!(bad(0, None).contains("concurrency.limit must be within"));
        assert!(bad(MAX_CONCURRENCY_LIMIT + 1, None).contains("concurrency.limit"));
        assert!(bad(1, Some("customer_id")).contains("JSON pointer"));
        assert!(bad(1, Some(&format!("/{}", "a".repeat(300)))).contains("JSON pointer"));
        assert!(limit(Some("/a")).check("s").is_ok());
    }

    fn rate(limit: u32, per_ms: u64, key: Option<&str>) -> RateLimit {
        RateLimit {
            limit,
            per_ms,
            key: key.map(str::to_string),
        }
    }

    #[test]
    fn rate_limits_are_checked() {
        let bad = |r: RateLimit| r.check("step 'a'").unwrap_err();
        assert!(bad(rate(0, 1000, None)).contains("rate_limit.limit must be within 1..=100000"));
        assert!(bad(rate(MAX_RATE_LIMIT + 1, 1000, None)).contains("rate_limit.limit"));
        assert!(bad(rate(1, 0, None)).contains("rate_limit.per_ms must be within"));
        assert!(bad(rate(1, MAX_RATE_PER_MS + 1, None)).contains("rate_limit.per_ms"));
        assert!(bad(rate(1, 1, Some("id"))).contains("rate_limit.key must be a JSON pointer"));
        assert!(rate(5, 1000, Some("/id")).check("s").is_ok());
        assert_eq!(rate(5, 1000, None).stored(), (5, 1000));
    }

    #[test]
    fn both_limits_need_one_key() {
        let r = rate(5, 1000, Some("/a"));
        assert!(check_same_key("s", Some(&limit(Some("/a"))), Some(&r)).is_ok());
        assert!(check_same_key("s", None, Some(&r)).is_ok());
        let e = check_same_key("s", Some(&limit(None)), Some(&r)).unwrap_err();
        assert!(e.contains("must be the same"), "{e}");
    }
}

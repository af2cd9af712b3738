//! Flow control of a step template: its concurrency limit (at most `limit` steps of one key in
//! progress at once, across every process; docs/FLOW_CONTROL.md). The key is computed when
//! the step row is created and stored on it, so the claim never looks a template up.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The largest concurrency limit a template may set.
pub(crate) const MAX_CONCURRENCY_LIMIT: u32 = 100_000;
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
        if let Some(k) = &self.key {
            if !k.starts_with('/') || k.len() > MAX_KEY_POINTER_BYTES {
                return Err(format!(
                    "{what}: concurrency.key must be a JSON pointer into the task context \
                     starting with '/' (e.g. \"/customer_id\"), at most {MAX_KEY_POINTER_BYTES} \
                     bytes, got {k:?}"
                ));
            }
        }
        Ok(())
    }

    /// The key a step of `handler` gets in a task of `context`: `handler:<name>` without a
    /// pointer, else `handler:<name>:<value>` — a string value as is, any other value as its
    /// JSON text, a missing value (or null) as the empty string: tasks without the value
    /// share one key. A rendered value longer than `MAX_KEY_VALUE_BYTES` enters as `#<sha256>`.
    pub fn key_for(&self, handler: &str, context: &Value) -> String {
        let Some(pointer) = &self.key else {
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
}

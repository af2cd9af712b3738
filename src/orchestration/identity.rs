//! Task identity: a SHA-256 over a canonical encoding of the request, so identical requests
//! (whatever their key order) map to one task.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Writes `v` as JSON with object keys sorted, independent of how the map was built.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                canonical(&m[*k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn identity_hash(
    namespace: &str,
    name: &str,
    version: &str,
    context: &Value,
    initiator: &str,
    source_system: &str,
    reason: &str,
    bypass_steps: &[String],
) -> String {
    let mut bypass = bypass_steps.to_vec();
    bypass.sort();
    let doc = serde_json::json!({
        "namespace": namespace,
        "name": name,
        "version": version,
        "context": context,
        "initiator": initiator,
        "source_system": source_system,
        "reason": reason,
        "bypass_steps": bypass,
    });
    let mut s = String::new();
    canonical(&doc, &mut s);
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_does_not_matter() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":{"x":[1,2],"y":"z"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"b":{"y":"z","x":[1,2]},"a":1}"#).unwrap();
        let h = |c: &Value| identity_hash("ns", "n", "1.0.0", c, "i", "s", "r", &[]);
        assert_eq!(h(&a), h(&b));
        let c: Value = serde_json::from_str(r#"{"a":2,"b":{"x":[1,2],"y":"z"}}"#).unwrap();
        assert_ne!(h(&a), h(&c));
    }
}

//! A template's source before it is a `TaskTemplate`: the YAML nesting guard that runs before
//! the parser, and the `environments.<env>` overrides merged into the parsed value.

use crate::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;

/// Refuses YAML whose flow collections (`[`, `{`) nest deeper than `max_depth`, before the
/// parser sees it: the parser's cost grows with the square of the flow depth (`"[" * 100_000`
/// ran for minutes). A cheap scan with two counts, and either one over the limit refuses: one
/// skips quoted scalars and comments as YAML does, one counts every bracket. Fooling a scan
/// (a quote it misreads, a `]` inside a string) would have to fool both at once; a legitimate
/// template this deep breaks the document policy anyway. Block nesting is bounded by the
/// parser's own recursion limit.
pub(super) fn check_yaml_nesting(text: &str, max_depth: usize) -> Result<()> {
    let b = text.as_bytes();
    let too_deep = || {
        Err(Error::InvalidTemplate(format!(
            "YAML nests deeper than {max_depth} levels"
        )))
    };
    let (mut raw, mut depth, mut i) = (0usize, 0usize, 0usize);
    // Whether a quote or `#` here starts a quoted scalar or a comment: at a line start, after
    // whitespace or an indicator. Elsewhere (`don't`) it is part of a plain scalar.
    let mut token_start = true;
    while i < b.len() {
        let c = b[i];
        match c {
            b'[' | b'{' => {
                depth += 1;
                raw += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                raw = raw.saturating_sub(1);
            }
            b'#' if token_start => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\'' | b'"' if token_start => {
                // To the closing quote ('' escapes in single quotes, \ escapes in double);
                // only the raw count sees the brackets inside.
                i += 1;
                while i < b.len() && b[i] != c {
                    match b[i] {
                        b'\\' if c == b'"' => i += 1,
                        b'[' | b'{' => raw += 1,
                        b']' | b'}' => raw = raw.saturating_sub(1),
                        _ => {}
                    }
                    if raw > max_depth {
                        return too_deep();
                    }
                    i += 1;
                    if c == b'\'' && b.get(i) == Some(&b'\'') && b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                    }
                }
            }
            _ => {}
        }
        if depth > max_depth || raw > max_depth {
            return too_deep();
        }
        token_start = matches!(
            c,
            b' ' | b'\t' | b'\n' | b'\r' | b'[' | b'{' | b',' | b':' | b'-' | b'?'
        );
        i += 1;
    }
    Ok(())
}

/// Deep-merges `environments.<env>` into the template; step templates merge by name.
pub(super) fn apply_environment(mut value: Value, environment: Option<&str>) -> Result<Value> {
    let Some(env) = environment else {
        return Ok(value);
    };
    let overrides = value.get("environments").and_then(|e| e.get(env)).cloned();
    let Some(overrides) = overrides else {
        return Ok(value);
    };
    let Value::Object(over) = overrides else {
        return Err(Error::InvalidTemplate(format!(
            "environments.{env} must be a map"
        )));
    };
    for (key, ov) in over {
        if key == "step_templates" {
            let Value::Array(items) = ov else {
                return Err(Error::InvalidTemplate(format!(
                    "environments.{env}.step_templates must be a list"
                )));
            };
            let steps = value
                .get_mut("step_templates")
                .and_then(|s| s.as_array_mut());
            let Some(steps) = steps else { continue };
            // Index by name once (the first step of a name, as a search would find).
            let mut by_name: HashMap<String, usize> = HashMap::new();
            for (i, s) in steps.iter().enumerate() {
                if let Some(n) = s.get("name").and_then(|n| n.as_str()) {
                    by_name.entry(n.to_string()).or_insert(i);
                }
            }
            for item in items {
                let name = item.get("name").and_then(|n| n.as_str());
                if let Some(target) = name
                    .and_then(|n| by_name.get(n))
                    .and_then(|i| steps.get_mut(*i))
                {
                    deep_merge(target, item);
                }
            }
        } else if let Some(obj) = value.as_object_mut() {
            let slot = obj.entry(key).or_insert(Value::Null);
            deep_merge(slot, ov);
        }
    }
    Ok(value)
}

fn deep_merge(target: &mut Value, over: Value) {
    match (target, over) {
        (Value::Object(t), Value::Object(o)) => {
            for (k, v) in o {
                deep_merge(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, o) => *t = o,
    }
}

//! Task templates: parsing (YAML or an equivalent serde map), environment overrides and validation.

use crate::config::{BackoffOverride, MAX_LEASE_MS, MAX_RETRY_LIMIT};
use crate::models::document_policy;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

fn default_namespace() -> String {
    "default".into()
}
fn default_version() -> String {
    "0.1.0".into()
}
fn default_true() -> bool {
    true
}
fn default_retry_limit() -> i64 {
    3
}

/// A workflow definition: named steps and their dependencies (a DAG).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskTemplate {
    pub name: String,
    #[serde(default = "default_namespace")]
    pub namespace_name: String,
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default)]
    pub description: Option<String>,
    /// JSON Schema the task context must satisfy.
    #[serde(default)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub default_dependent_system: Option<String>,
    pub step_templates: Vec<StepTemplate>,
    /// Per-environment overrides, deep-merged before validation (step templates match by name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, Value>,
    // Ancestor keys accepted for compatibility; the core does not use them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_handler_class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent: Option<bool>,
    /// When present, every step and dependency must be listed here (ancestor rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub named_steps: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_events: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepTemplate {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub dependent_system: Option<String>,
    /// Name of the registered step handler (`handler_class` is accepted as an alias).
    #[serde(alias = "handler_class")]
    pub handler: String,
    #[serde(default)]
    pub handler_config: Option<Value>,
    #[serde(default)]
    pub depends_on_step: Option<String>,
    #[serde(default)]
    pub depends_on_steps: Vec<String>,
    #[serde(default = "default_true")]
    pub default_retryable: bool,
    #[serde(default = "default_retry_limit")]
    pub default_retry_limit: i64,
    #[serde(default)]
    pub skippable: bool,
    /// Lease of one attempt in milliseconds (`timeout_ms` is accepted as an alias).
    #[serde(default, alias = "timeout_ms")]
    pub lease_ms: Option<u64>,
    #[serde(default)]
    pub backoff: Option<BackoffOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_events: Option<Value>,
}

impl StepTemplate {
    /// `depends_on_step` plus `depends_on_steps`, without duplicates, in declaration order.
    pub fn dependencies(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for d in self
            .depends_on_step
            .iter()
            .chain(self.depends_on_steps.iter())
        {
            if !out.contains(&d.as_str()) {
                out.push(d.as_str());
            }
        }
        out
    }
}

impl TaskTemplate {
    /// Parses YAML text, applies the overrides of `environment`, and validates.
    pub fn from_yaml(text: &str, environment: Option<&str>) -> Result<TaskTemplate> {
        let value: Value = serde_yaml_ng::from_str(text)
            .map_err(|e| Error::InvalidTemplate(format!("malformed YAML: {e}")))?;
        Self::from_value(value, environment)
    }

    /// Builds a template from a map with the YAML structure (e.g. decoded MessagePack).
    pub fn from_value(value: Value, environment: Option<&str>) -> Result<TaskTemplate> {
        if !value.is_object() {
            return Err(Error::InvalidTemplate(
                "a template must be a map with name and step_templates".into(),
            ));
        }
        let value = apply_environment(value, environment)?;
        let t: TaskTemplate =
            serde_json::from_value(value).map_err(|e| Error::InvalidTemplate(e.to_string()))?;
        t.validate()?;
        Ok(t)
    }

    pub fn full_name(&self) -> String {
        format!("{}.{}@{}", self.namespace_name, self.name, self.version)
    }

    pub fn step_index(&self, name: &str) -> Option<usize> {
        self.step_templates.iter().position(|s| s.name == name)
    }

    /// Parents of each step, as indexes.
    pub fn parents(&self) -> Vec<Vec<usize>> {
        self.step_templates
            .iter()
            .map(|s| {
                s.dependencies()
                    .into_iter()
                    .filter_map(|d| self.step_index(d))
                    .collect()
            })
            .collect()
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidTemplate(m));
        if self.name.trim().is_empty() {
            return bad("name must not be empty".into());
        }
        if self.name.len() > 64 {
            return bad(format!("name '{}' is longer than 64 characters", self.name));
        }
        if self.namespace_name.trim().is_empty() || self.namespace_name.len() > 64 {
            return bad(format!(
                "namespace_name '{}' must be 1 to 64 characters",
                self.namespace_name
            ));
        }
        if let Err(e) = semver::Version::parse(&self.version) {
            return bad(format!(
                "version '{}' is not a semantic version (MAJOR.MINOR.PATCH): {e}",
                self.version
            ));
        }
        if self.step_templates.is_empty() {
            return bad(format!("template '{}' has no step_templates", self.name));
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for s in &self.step_templates {
            if s.name.trim().is_empty() {
                return bad("a step template has an empty name".into());
            }
            if s.name.len() > 128 {
                return bad(format!(
                    "step name '{}' is longer than 128 characters",
                    s.name
                ));
            }
            if seen.insert(s.name.as_str(), 0).is_some() {
                return bad(format!("duplicate step name '{}'", s.name));
            }
            if s.handler.trim().is_empty() {
                return bad(format!("step '{}' has an empty handler", s.name));
            }
            if !(0..=MAX_RETRY_LIMIT).contains(&s.default_retry_limit) {
                return bad(format!(
                    "step '{}': default_retry_limit must be within 0..={MAX_RETRY_LIMIT}, got {}",
                    s.name, s.default_retry_limit
                ));
            }
            if let Some(lease) = s.lease_ms.filter(|l| *l == 0 || *l > MAX_LEASE_MS) {
                return bad(format!(
                    "step '{}': lease_ms must be within 1..={MAX_LEASE_MS} (24 h), got {lease}",
                    s.name
                ));
            }
            if let Some(config) = &s.handler_config {
                document_policy::check(&format!("step '{}' handler_config", s.name), config)
                    .map_err(|e| Error::InvalidTemplate(e.to_string()))?;
            }
            if let Some(b) = &s.backoff {
                let eff = crate::config::BackoffConfig::default().with_override(b);
                eff.validate()
                    .map_err(|e| Error::InvalidTemplate(format!("step '{}': {e}", s.name)))?;
            }
        }
        for s in &self.step_templates {
            for d in s.dependencies() {
                if d == s.name {
                    return Err(Error::TemplateCycle {
                        template: self.name.clone(),
                        cycle: vec![s.name.clone(), s.name.clone()],
                    });
                }
                if !seen.contains_key(d) {
                    return bad(format!("step '{}' depends on unknown step '{d}'", s.name));
                }
            }
        }
        if let Some(named) = &self.named_steps {
            for s in &self.step_templates {
                if !named.contains(&s.name) {
                    return bad(format!("step '{}' is not listed in named_steps", s.name));
                }
            }
        }
        if let Some(cycle) = self.find_cycle() {
            return Err(Error::TemplateCycle {
                template: self.name.clone(),
                cycle,
            });
        }
        // The whole template is stored as one document and read back: the policy (NUL, depth;
        // a template wraps handler_config three levels deep) applies to all of it.
        let whole = serde_json::to_value(self).map_err(|e| Error::Internal(e.to_string()))?;
        document_policy::check_depth("template", &whole, document_policy::MAX_DEPTH + 3)
            .map_err(|e| Error::InvalidTemplate(e.to_string()))?;
        if let Some(schema) = &self.schema {
            jsonschema::validator_for(schema)
                .map_err(|e| Error::InvalidTemplate(format!("invalid JSON Schema: {e}")))?;
        }
        Ok(())
    }

    /// A dependency cycle as step names in dependency order, first name repeated at the end.
    fn find_cycle(&self) -> Option<Vec<String>> {
        // Iterative DFS over "depends on" edges; colors: 0 new, 1 on stack, 2 done.
        let parents = self.parents();
        let n = parents.len();
        let mut color = vec![0u8; n];
        for root in 0..n {
            if color[root] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            color[root] = 1;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if *next < parents[node].len() {
                    let p = parents[node][*next];
                    *next += 1;
                    match color[p] {
                        0 => {
                            color[p] = 1;
                            stack.push((p, 0));
                        }
                        1 => {
                            let start = stack.iter().position(|(x, _)| *x == p).unwrap_or(0);
                            let mut cycle: Vec<String> = stack[start..]
                                .iter()
                                .map(|(x, _)| self.step_templates[*x].name.clone())
                                .collect();
                            cycle.push(self.step_templates[p].name.clone());
                            return Some(cycle);
                        }
                        _ => {}
                    }
                } else {
                    color[node] = 2;
                    stack.pop();
                }
            }
        }
        None
    }
}

/// Deep-merges `environments.<env>` into the template; step templates merge by name.
fn apply_environment(mut value: Value, environment: Option<&str>) -> Result<Value> {
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
            for item in items {
                let name = item.get("name").and_then(|n| n.as_str()).map(String::from);
                if let Some(target) = steps
                    .iter_mut()
                    .find(|s| s.get("name").and_then(|n| n.as_str()) == name.as_deref())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(steps: &str) -> String {
        format!("name: t\nstep_templates:\n{steps}")
    }

    #[test]
    fn two_step_cycle_is_named() {
        let y = yaml("  - {name: A, handler: h, depends_on_step: B}\n  - {name: B, handler: h, depends_on_step: A}\n");
        match TaskTemplate::from_yaml(&y, None) {
            Err(Error::TemplateCycle { cycle, .. }) => assert_eq!(cycle, vec!["A", "B", "A"]),
            other => panic!("expected cycle, got {other:?}"),
        }
    }

    #[test]
    fn three_step_cycle_is_named() {
        let y = yaml("  - {name: A, handler: h, depends_on_step: C}\n  - {name: B, handler: h, depends_on_step: A}\n  - {name: C, handler: h, depends_on_step: B}\n");
        let err = TaskTemplate::from_yaml(&y, None).unwrap_err();
        assert_eq!(err.to_string(), "cycle in template 't': A -> C -> B -> A");
    }

    #[test]
    fn unknown_dependency_and_duplicates() {
        let y = yaml("  - {name: A, handler: h, depends_on_step: Z}\n");
        let e = TaskTemplate::from_yaml(&y, None).unwrap_err().to_string();
        assert!(e.contains("unknown step 'Z'"), "{e}");
        let y = yaml("  - {name: A, handler: h}\n  - {name: A, handler: h}\n");
        let e = TaskTemplate::from_yaml(&y, None).unwrap_err().to_string();
        assert!(e.contains("duplicate step name 'A'"), "{e}");
    }

    #[test]
    fn bad_semver_and_malformed_yaml() {
        let e = TaskTemplate::from_yaml(
            "name: t\nversion: '1.0'\nstep_templates: [{name: A, handler: h}]",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not a semantic version"), "{e}");
        let e = TaskTemplate::from_yaml("name: [unclosed", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("malformed YAML"), "{e}");
    }

    #[test]
    fn handler_class_alias_and_environment_overrides() {
        let y = r#"
name: t
step_templates:
  - name: A
    handler_class: Legacy
    default_retry_limit: 3
    handler_config: {url: "http://prod", timeout: 5}
environments:
  test:
    description: "in test"
    step_templates:
      - name: A
        default_retry_limit: 1
        handler_config: {url: "http://test"}
"#;
        let t = TaskTemplate::from_yaml(y, Some("test")).unwrap();
        assert_eq!(t.step_templates[0].handler, "Legacy");
        assert_eq!(t.step_templates[0].default_retry_limit, 1);
        assert_eq!(t.description.as_deref(), Some("in test"));
        assert_eq!(
            t.step_templates[0].handler_config,
            Some(serde_json::json!({"url": "http://test", "timeout": 5}))
        );
        let prod = TaskTemplate::from_yaml(y, Some("production")).unwrap();
        assert_eq!(prod.step_templates[0].default_retry_limit, 3);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = TaskTemplate::from_yaml(
            "name: t\nstep_templates: [{name: A, handler: h, retries: 3}]",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `retries`"), "{e}");
    }
}

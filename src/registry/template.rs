//! Task templates: parsing (YAML or an equivalent serde map), environment overrides and validation.

use crate::config::{BackoffOverride, MAX_LEASE_MS, MAX_RETRY_LIMIT};
use crate::models::document_policy;
use crate::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::template_source::{apply_environment, check_yaml_nesting};

/// The one length limit of every name in a template (namespace, template, version, step,
/// dependent system, handler), in characters as PostgreSQL's VARCHAR counts them: the
/// narrowest name column (VARCHAR(64)), so a name that passes fits every column it lands in.
pub(crate) const MAX_NAME_CHARS: usize = 64;

/// Refuses an empty name or one longer than `MAX_NAME_CHARS`, naming the field.
fn check_name(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::InvalidTemplate(format!("{field} must not be empty")));
    }
    let chars = value.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(Error::InvalidTemplate(format!(
            "{field} '{value}' is {chars} characters long, the limit is {MAX_NAME_CHARS}"
        )));
    }
    Ok(())
}

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// Claim priority of the template's steps (`-100..=100`, default 0; higher first); a task
    /// request's `priority` overrides it. See docs/SCHEDULING.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Default task deadline in milliseconds from creation (1 ms..ten years); a task request's
    /// `deadline_ms` overrides it. See docs/TIMEOUTS_AND_CANCELLATION.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// Lease of one attempt in milliseconds.
    #[serde(default)]
    pub lease_ms: Option<u64>,
    /// Timeout of one attempt in milliseconds, counted from its claim; past it the attempt
    /// fails with class `Timeout` (docs/TIMEOUTS_AND_CANCELLATION.md). None: no timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub backoff: Option<BackoffOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_events: Option<Value>,
    /// `standard` (default), `decision` (its handler chooses which `candidates` to create) or
    /// `convergence` (waits only for the parents that exist); see docs/DYNAMIC_WORKFLOWS.md.
    #[serde(
        default,
        rename = "type",
        skip_serializing_if = "StepType::is_standard"
    )]
    pub step_type: StepType,
    /// The steps a `decision` step may activate (only on decision steps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// The fan-out of a `batchable` step (only on batchable steps; registry/batch.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<super::batch::BatchSpec>,
    /// At most `limit` steps of one key in progress at once, across processes
    /// (docs/FLOW_CONTROL.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<super::flow_control::ConcurrencyLimit>,
    /// At most `limit` starts of one key in any window of `per_ms`, across processes
    /// (docs/FLOW_CONTROL.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<super::flow_control::RateLimit>,
}

/// What kind of step a template step is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepType {
    #[default]
    Standard,
    Decision,
    Convergence,
    /// Its handler returns a list of batches; one `batch_worker` step is created per batch.
    Batchable,
    /// Instantiated once per batch by its `batchable` step; never created with the task.
    BatchWorker,
}

impl StepType {
    fn is_standard(&self) -> bool {
        *self == StepType::Standard
    }
}

impl StepTemplate {
    /// `depends_on_step` plus `depends_on_steps`, without duplicates, in declaration order.
    pub fn dependencies(&self) -> Vec<&str> {
        // A set, not `Vec::contains`: a step may list 100,000 dependencies.
        let mut seen: HashSet<&str> = HashSet::new();
        self.depends_on_step
            .iter()
            .chain(self.depends_on_steps.iter())
            .map(String::as_str)
            .filter(|d| seen.insert(d))
            .collect()
    }
}

impl TaskTemplate {
    /// Parses YAML text, applies the overrides of `environment`, and validates.
    pub fn from_yaml(text: &str, environment: Option<&str>) -> Result<TaskTemplate> {
        check_yaml_nesting(text, document_policy::MAX_DEPTH + 4)?;
        let value: Value = serde_yaml_ng::from_str(text)
            .map_err(|e| Error::InvalidTemplate(format!("malformed YAML: {e}")))?;
        Self::from_value(value, environment)
    }

    /// Builds a template from a map with the YAML structure (e.g. decoded MessagePack).
    pub fn from_value(value: Value, environment: Option<&str>) -> Result<TaskTemplate> {
        if !value.is_object() {
            // One word of text (`load_template("templates/missing")` in a wrapper) was meant
            // as a file name far more often than as a template.
            if let Value::String(text) = &value {
                if !text.is_empty() && !text.contains(char::is_whitespace) {
                    return Err(Error::InvalidTemplate(format!(
                        "no such file: '{}' is neither an existing template file nor YAML text \
                         of a template (a map with name and step_templates)",
                        text.chars().take(200).collect::<String>()
                    )));
                }
            }
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

    /// Parents of each step, as indexes (linear: one name index, not a search per edge).
    pub fn parents(&self) -> Vec<Vec<usize>> {
        let index: HashMap<&str, usize> = self
            .step_templates
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        self.step_templates
            .iter()
            .map(|s| {
                s.dependencies()
                    .into_iter()
                    .filter_map(|d| index.get(d).copied())
                    .collect()
            })
            .collect()
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidTemplate(m));
        check_name("name", &self.name)?;
        check_name("namespace_name", &self.namespace_name)?;
        check_name("version", &self.version)?;
        if let Some(sys) = &self.default_dependent_system {
            check_name("default_dependent_system", sys)?;
        }
        if let Err(e) = semver::Version::parse(&self.version) {
            return bad(format!(
                "version '{}' is not a semantic version (MAJOR.MINOR.PATCH): {e}",
                self.version
            ));
        }
        if let Some(p) = self.priority {
            crate::models::check_priority("priority", p)
                .map_err(|e| Error::InvalidTemplate(e.to_string()))?;
        }
        if let Some(d) = self.deadline_ms {
            crate::models::check_deadline_ms("deadline_ms", d)
                .map_err(|e| Error::InvalidTemplate(e.to_string()))?;
        }
        if self.step_templates.is_empty() {
            return bad(format!("template '{}' has no step_templates", self.name));
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for s in &self.step_templates {
            check_name("step name", &s.name)?;
            if seen.insert(s.name.as_str(), 0).is_some() {
                return bad(format!("duplicate step name '{}'", s.name));
            }
            check_name(&format!("step '{}' handler", s.name), &s.handler)?;
            if let Some(sys) = &s.dependent_system {
                check_name(&format!("step '{}' dependent_system", s.name), sys)?;
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
            if let Some(t) = s.timeout_ms {
                check_timeout_ms(&format!("step '{}'", s.name), t)
                    .map_err(Error::InvalidTemplate)?;
            }
            if let Some(c) = &s.concurrency {
                c.check(&format!("step '{}'", s.name))
                    .map_err(Error::InvalidTemplate)?;
            }
            if let Some(r) = &s.rate_limit {
                let what = format!("step '{}'", s.name);
                r.check(&what).map_err(Error::InvalidTemplate)?;
                super::flow_control::check_same_key(&what, s.concurrency.as_ref(), Some(r))
                    .map_err(Error::InvalidTemplate)?;
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
            let named: HashSet<&str> = named.iter().map(String::as_str).collect();
            for s in &self.step_templates {
                if !named.contains(s.name.as_str()) {
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
        super::batch::check(self)?;
        // Decisions and convergence steps (after the cycle check: it walks the DAG in order).
        super::DynamicGraph::of(self)?;
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

/// A step timeout (template `timeout_ms`, task request `step_timeouts`) must be within
/// 1 ms..24 h, like a lease.
pub(crate) fn check_timeout_ms(what: &str, ms: u64) -> std::result::Result<(), String> {
    if ms == 0 || ms > MAX_LEASE_MS {
        return Err(format!(
            "{what}: timeout_ms must be within 1..={MAX_LEASE_MS} (24 h), got {ms}"
        ));
    }
    Ok(())
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

    #[test]
    fn one_word_of_text_is_reported_as_a_missing_file() {
        let e = TaskTemplate::from_yaml("templates/missing", None).unwrap_err();
        assert!(
            e.to_string().contains("no such file: 'templates/missing'"),
            "{e}"
        );
        let e = TaskTemplate::from_yaml("- a\n- b\n", None).unwrap_err();
        assert!(e.to_string().contains("must be a map"), "{e}");
    }

    #[test]
    fn deep_flow_yaml_is_refused_before_parsing() {
        let started = std::time::Instant::now();
        let e = TaskTemplate::from_yaml(&"[".repeat(100_000), None).unwrap_err();
        assert!(e.to_string().contains("nests deeper"), "{e}");
        let e = TaskTemplate::from_yaml(&format!("name: t\nx: {}", "{a: ".repeat(100)), None)
            .unwrap_err();
        assert!(e.to_string().contains("nests deeper"), "{e}");
        // Hidden behind closers inside a string: the raw count still sees the openers.
        let sneaky = format!("{}\"{}\"{}", "[".repeat(60), "]".repeat(60), "[".repeat(60));
        assert!(TaskTemplate::from_yaml(&sneaky, None).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // Brackets and quotes in ordinary places are fine.
        let ok = "name: t\ndescription: \"it's [x] {y}\"\nstep_templates:\n  - {name: a, handler: h, description: 'don''t # [', handler_config: {list: [1, [2, [3]]]}} # [[[\n  - {name: b, handler: h, depends_on_steps: [a]}\n";
        TaskTemplate::from_yaml(ok, None).unwrap();
    }

    #[test]
    fn a_cyclic_100k_step_template_is_rejected_in_linear_time() {
        let n = 100_000;
        let steps: Vec<Value> = (0..n)
            .map(|i| {
                serde_json::json!({"name": format!("s{i}"), "handler": "h",
                    "depends_on_step": format!("s{}", (i + n - 1) % n)})
            })
            .collect();
        let started = std::time::Instant::now();
        let e = TaskTemplate::from_value(
            serde_json::json!({"name": "big", "step_templates": steps}),
            None,
        )
        .unwrap_err();
        assert!(matches!(e, Error::TemplateCycle { .. }), "{e}");
        // Was 155 s (a linear search per edge); linear now, even in a debug build.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }
}

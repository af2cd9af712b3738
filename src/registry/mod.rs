//! Registries: task templates by namespace/name/version, step handlers by name.

pub mod batch;
pub mod dynamic_graph;
pub mod flow_control;
pub mod template;
mod template_source;

use crate::config::Strictness;
use crate::step_handler::StepHandler;
use crate::{Error, Result};
pub use batch::{batch_step_name, BatchFailure, BatchSpec, MAX_BATCHES};
pub use dynamic_graph::{DynamicGraph, MAX_DECISION_CANDIDATES, MAX_DECISION_DEPTH};
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
pub use template::{StepTemplate, StepType, TaskTemplate};

/// A template known to storage, with the ids and graph the task factory needs.
#[derive(Debug)]
pub struct RegisteredTemplate {
    pub template: TaskTemplate,
    pub named_task_id: i64,
    pub named_step_ids: Vec<i64>,
    pub parents: Vec<Vec<usize>>,
    pub edges: Vec<(usize, usize)>,
    pub validator: Option<jsonschema::Validator>,
    /// Decisions and convergence steps, when the template has any.
    pub dynamic: Option<DynamicGraph>,
    /// Step index by name: every claimed step looks itself up here, so a linear search would
    /// make an n-step task quadratic (a 10,000-step fan-out spent a fifth of its time in it).
    step_indexes: HashMap<String, usize>,
}

impl RegisteredTemplate {
    pub fn new(
        template: TaskTemplate,
        named_task_id: i64,
        named_step_ids: Vec<i64>,
    ) -> Result<RegisteredTemplate> {
        let parents = template.parents();
        let edges = parents
            .iter()
            .enumerate()
            .flat_map(|(child, ps)| ps.iter().map(move |p| (*p, child)))
            .collect();
        let validator = match &template.schema {
            Some(s) => Some(
                jsonschema::validator_for(s)
                    .map_err(|e| Error::InvalidTemplate(format!("invalid JSON Schema: {e}")))?,
            ),
            None => None,
        };
        let dynamic = DynamicGraph::of(&template)?;
        let step_indexes = template
            .step_templates
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        Ok(RegisteredTemplate {
            dynamic,
            step_indexes,
            template,
            named_task_id,
            named_step_ids,
            parents,
            edges,
            validator,
        })
    }

    /// The index of the step template `name` in `template.step_templates`.
    pub fn step_index(&self, name: &str) -> Option<usize> {
        self.step_indexes.get(name).copied()
    }
}

type Versions = BTreeMap<semver::Version, Arc<RegisteredTemplate>>;

#[derive(Default)]
pub struct TemplateRegistry {
    by_name: RwLock<HashMap<(String, String), Versions>>,
    /// Template versions this process has not registered but read from storage and found
    /// without decision steps (namespace, name, version): their steps complete without
    /// loading (and so registering) the template.
    without_decisions: RwLock<std::collections::HashSet<(String, String, String)>>,
}

impl TemplateRegistry {
    pub fn insert(&self, t: RegisteredTemplate) -> Result<Arc<RegisteredTemplate>> {
        let version = semver::Version::parse(&t.template.version)
            .map_err(|e| Error::InvalidTemplate(e.to_string()))?;
        let key = (t.template.namespace_name.clone(), t.template.name.clone());
        let t = Arc::new(t);
        self.by_name
            .write()
            .entry(key)
            .or_default()
            .insert(version, t.clone());
        Ok(t)
    }

    /// Whether the stored version was found without decision steps ([`Self::mark_without_decisions`]).
    pub fn known_without_decisions(&self, namespace: &str, name: &str, version: &str) -> bool {
        self.without_decisions.read().contains(&(
            namespace.to_string(),
            name.to_string(),
            version.to_string(),
        ))
    }

    pub fn mark_without_decisions(&self, namespace: &str, name: &str, version: &str) {
        self.without_decisions.write().insert((
            namespace.to_string(),
            name.to_string(),
            version.to_string(),
        ));
    }

    /// Every registered template (all versions).
    pub fn all(&self) -> Vec<Arc<RegisteredTemplate>> {
        self.by_name
            .read()
            .values()
            .flat_map(|versions| versions.values().cloned())
            .collect()
    }

    /// The template with that version, or the latest version when `version` is None.
    pub fn get(
        &self,
        namespace: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<Option<Arc<RegisteredTemplate>>> {
        let map = self.by_name.read();
        let Some(versions) = map.get(&(namespace.to_string(), name.to_string())) else {
            return Ok(None);
        };
        match version {
            None => Ok(versions.values().next_back().cloned()),
            Some(v) => {
                let v = semver::Version::parse(v).map_err(|e| {
                    Error::InvalidRequest(format!("version '{v}' is not a semantic version: {e}"))
                })?;
                Ok(versions.get(&v).cloned())
            }
        }
    }
}

#[derive(Default)]
pub struct HandlerRegistry {
    handlers: RwLock<HashMap<String, Arc<dyn StepHandler>>>,
}

impl HandlerRegistry {
    /// Registers the handler for `name`; one already registered under it is replaced, with a
    /// warning, silently or not at all (an error) as `on_duplicate` says. The handler is made
    /// only once it is certain to be stored: a refused registration never builds (and so never
    /// drops) it — the C ABI promises that a refused registration does not run the userdata
    /// finalizer.
    pub fn register(
        &self,
        name: &str,
        on_duplicate: Strictness,
        make: impl FnOnce() -> Arc<dyn StepHandler>,
    ) -> Result<()> {
        if name.trim().is_empty() {
            return Err(Error::Config("handler name must not be empty".into()));
        }
        let mut map = self.handlers.write();
        if map.contains_key(name) {
            match on_duplicate {
                Strictness::Error => {
                    return Err(Error::HandlerSetup(format!(
                        "a handler named '{name}' is already registered (on_duplicate_handler: \
                         error); unregister it first to replace it"
                    )))
                }
                Strictness::Warn => tracing::warn!(
                    handler = name,
                    "a handler with this name was already registered; replaced"
                ),
                Strictness::Ignore => {}
            }
        }
        map.insert(name.to_string(), make());
        Ok(())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.handlers.read().contains_key(name)
    }

    pub fn unregister(&self, name: &str) -> bool {
        self.handlers.write().remove(name).is_some()
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn StepHandler>> {
        self.handlers.read().get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_index_finds_every_step_by_name() {
        let y = "name: t\nstep_templates:\n  - {name: a, handler: h}\n  - {name: b, handler: h, depends_on_step: a}\n  - {name: c, handler: h, depends_on_step: a}\n";
        let t = TaskTemplate::from_yaml(y, None).expect("template");
        let r = RegisteredTemplate::new(t, 1, vec![1, 2, 3]).expect("registered");
        for (i, s) in r.template.step_templates.iter().enumerate() {
            assert_eq!(r.step_index(&s.name), Some(i));
        }
        assert_eq!(r.step_index("z"), None);
    }
}

//! `Templates`: registering task templates (validated, then stored so other processes can create
//! tasks from them) and finding one for a task request (loading it from storage when another
//! process registered it).

use super::Client;
use crate::registry::{RegisteredTemplate, TaskTemplate};
use crate::{Error, Result};
use serde_json::Value;
use std::sync::Arc;

pub(crate) struct Templates<'a> {
    client: &'a Client,
}

impl<'a> Templates<'a> {
    pub fn new(client: &'a Client) -> Templates<'a> {
        Templates { client }
    }

    pub fn register(&self, template: TaskTemplate) -> Result<Arc<RegisteredTemplate>> {
        template.validate()?;
        let steps: Vec<(String, String, Option<String>)> = template
            .step_templates
            .iter()
            .map(|s| {
                let system = s
                    .dependent_system
                    .clone()
                    .or_else(|| template.default_dependent_system.clone())
                    .unwrap_or_else(|| "unknown".into());
                (s.name.clone(), system, s.description.clone())
            })
            .collect();
        let configuration = serde_json::to_value(&template)?;
        let inner = &self.client.inner;
        let (named_task_id, ids) = self.client.block(inner.store.upsert_template(
            &template.namespace_name,
            &template.name,
            &template.version,
            template.description.as_deref(),
            &configuration,
            &steps,
            self.client.now(),
        ))?;
        inner
            .templates
            .insert(RegisteredTemplate::new(template, named_task_id, ids)?)
    }

    pub fn register_yaml(&self, yaml: &str) -> Result<Arc<RegisteredTemplate>> {
        let t = TaskTemplate::from_yaml(yaml, self.environment())?;
        self.register(t)
    }

    pub fn register_file(&self, path: &std::path::Path) -> Result<Arc<RegisteredTemplate>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::InvalidTemplate(format!("cannot read template file {}: {e}", path.display()))
        })?;
        self.register_yaml(&text)
    }

    pub fn register_value(&self, value: Value) -> Result<Arc<RegisteredTemplate>> {
        let t = TaskTemplate::from_value(value, self.environment())?;
        self.register(t)
    }

    fn environment(&self) -> Option<&str> {
        self.client.inner.config.environment.as_deref()
    }

    /// The template a request names (`version: None` for the latest).
    pub fn find(
        &self,
        namespace: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<Arc<RegisteredTemplate>> {
        let inner = &self.client.inner;
        if let Some(t) = inner.templates.get(namespace, name, version)? {
            return Ok(t);
        }
        // Registered by another process: load it from storage.
        let stored = self
            .client
            .block(inner.store.template_configurations(namespace, name))?;
        let mut loaded = false;
        for (_, config) in stored {
            let t: TaskTemplate = serde_json::from_value(config)?;
            self.register(t)?;
            loaded = true;
        }
        if loaded {
            if let Some(t) = inner.templates.get(namespace, name, version)? {
                return Ok(t);
            }
        }
        Err(Error::UnknownTemplate(format!(
            "{namespace}.{name}@{}",
            version.unwrap_or("latest")
        )))
    }

    /// Every template version stored (by any process), by namespace, name and version.
    pub fn stored(&self) -> Result<Vec<TaskTemplate>> {
        let inner = &self.client.inner;
        let configs = self
            .client
            .block(inner.store.all_template_configurations())?;
        let mut templates = configs
            .into_iter()
            .map(serde_json::from_value::<TaskTemplate>)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        // Semantic version order (1.10.0 after 1.9.0); a stored version always parses.
        templates.sort_by_cached_key(|t| {
            let version = semver::Version::parse(&t.version).ok();
            (t.namespace_name.clone(), t.name.clone(), version)
        });
        Ok(templates)
    }
}

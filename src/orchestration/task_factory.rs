//! `TaskFactory`: creating a task from a request: validation (name, context shape and size,
//! schema, bypass and input names), identity (the dedup hash), bypassed steps, then one
//! transaction for the task, its steps, edges and initial transitions.

use super::host_queue::HostQueue;
use super::identity::identity_hash;
use super::templates::Templates;
use super::Client;
use crate::database::{NewStep, NewTask, Recorded};
use crate::models::{CreatedTask, TaskRequest};
use crate::{Error, Result};
use serde_json::Value;
use std::time::Duration;

pub(crate) struct TaskFactory<'a> {
    client: &'a Client,
}

impl<'a> TaskFactory<'a> {
    pub fn new(client: &'a Client) -> TaskFactory<'a> {
        TaskFactory { client }
    }

    /// Creates the task, publishes its transitions, wakes idle workers and enqueues its ready
    /// steps on the host queue.
    pub fn create(&self, req: &TaskRequest) -> Result<CreatedTask> {
        let (created, recorded) = self.create_inner(req)?;
        self.client.publish(&recorded);
        if created.created {
            let inner = &self.client.inner;
            inner.ready.notify_waiters();
            let queue = HostQueue::new(self.client);
            if queue.active() {
                let ready = self.client.block(
                    inner
                        .store
                        .ready_step_ids(created.task_id, self.client.now()),
                )?;
                queue.enqueue_steps(&ready, Duration::ZERO);
            }
        }
        Ok(created)
    }

    fn create_inner(&self, req: &TaskRequest) -> Result<(CreatedTask, Vec<Recorded>)> {
        let inner = &self.client.inner;
        let cfg = &inner.config;
        if req.name.trim().is_empty() {
            return Err(Error::InvalidRequest("task name must not be empty".into()));
        }
        let namespace = req.namespace.clone().unwrap_or_else(|| "default".into());
        let context = match &req.context {
            Value::Null => Value::Object(Default::default()),
            Value::Object(_) => req.context.clone(),
            other => {
                return Err(Error::InvalidRequest(format!(
                    "context must be a map, got {}",
                    json_kind(other)
                )))
            }
        };
        let size = serde_json::to_vec(&context)?.len();
        if size > cfg.max_payload_bytes {
            return Err(Error::PayloadTooLarge {
                what: "task context",
                size,
                limit: cfg.max_payload_bytes,
            });
        }
        for (field, v) in [
            ("initiator", &req.initiator),
            ("source_system", &req.source_system),
            ("reason", &req.reason),
        ] {
            if v.as_ref().is_some_and(|s| s.chars().count() > 128) {
                return Err(Error::InvalidRequest(format!(
                    "{field} is longer than 128 characters"
                )));
            }
        }
        let tpl =
            Templates::new(self.client).find(&namespace, &req.name, req.version.as_deref())?;
        if let Some(v) = &tpl.validator {
            let errors: Vec<String> = v
                .iter_errors(&context)
                .take(10)
                .map(|e| {
                    let path = e.instance_path().to_string();
                    format!("at '{}': {e}", if path.is_empty() { "/" } else { &path })
                })
                .collect();
            if !errors.is_empty() {
                return Err(Error::SchemaValidation(errors.join("; ")));
            }
        }
        let t = &tpl.template;
        let mut bypass: Vec<String> = req.bypass_steps.clone();
        bypass.sort();
        bypass.dedup();
        for b in &bypass {
            match t.step_templates.iter().find(|s| &s.name == b) {
                None => {
                    return Err(Error::InvalidRequest(format!(
                        "bypass_steps names unknown step '{b}'"
                    )))
                }
                Some(s) if !s.skippable => {
                    return Err(Error::InvalidRequest(format!(
                        "step '{b}' is not skippable and cannot be bypassed"
                    )))
                }
                Some(_) => {}
            }
        }
        for name in req.step_inputs.keys() {
            if t.step_index(name).is_none() {
                return Err(Error::InvalidRequest(format!(
                    "step_inputs names unknown step '{name}'"
                )));
            }
        }
        let initiator = req.initiator.clone().unwrap_or_else(|| "unknown".into());
        let source_system = req
            .source_system
            .clone()
            .unwrap_or_else(|| "unknown".into());
        let reason = req.reason.clone().unwrap_or_else(|| "unknown".into());
        let hash = identity_hash(
            &t.namespace_name,
            &t.name,
            &t.version,
            &context,
            &initiator,
            &source_system,
            &reason,
            &bypass,
        );
        let bypassed: Vec<bool> = t
            .step_templates
            .iter()
            .map(|s| bypass.contains(&s.name))
            .collect();
        let steps = t
            .step_templates
            .iter()
            .enumerate()
            .map(|(i, s)| NewStep {
                named_step_id: tpl.named_step_ids[i],
                name: s.name.clone(),
                handler: s.handler.clone(),
                handler_config: s
                    .handler_config
                    .clone()
                    .unwrap_or(Value::Object(Default::default())),
                retryable: s.default_retryable,
                retry_limit: s.default_retry_limit,
                skippable: s.skippable,
                lease_ms: s.lease_ms.unwrap_or(cfg.lease_ms).min(i64::MAX as u64) as i64,
                backoff: s.backoff.unwrap_or_default(),
                inputs: req
                    .step_inputs
                    .get(&s.name)
                    .cloned()
                    .unwrap_or(Value::Object(Default::default())),
                bypassed: bypassed[i],
                pending_parents: tpl.parents[i].iter().filter(|p| !bypassed[**p]).count() as i64,
            })
            .collect();
        let new_task = NewTask {
            named_task_id: tpl.named_task_id,
            initiator,
            source_system,
            reason,
            tags: serde_json::to_value(&req.tags)?,
            bypass_steps: serde_json::to_value(&bypass)?,
            context,
            identity_hash: hash,
            steps,
            edges: tpl.edges.clone(),
        };
        let (created, recorded) = self
            .client
            .block(inner.store.create_task(&new_task, self.client.now()))?;
        if !created.created && cfg.reject_duplicates {
            return Err(Error::DuplicateTask(created.task_id));
        }
        Ok((created, recorded))
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

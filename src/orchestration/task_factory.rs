//! `TaskFactory`: creating a task from a request: validation (name, context shape and size,
//! schema, bypass and input names), identity (the dedup hash), bypassed steps, then one
//! transaction for the task, its steps, edges and initial transitions.

use super::host_queue::HostQueue;
use super::identity::identity_hash;
use super::templates::Templates;
use super::Client;
use crate::database::{NewStep, NewTask, Recorded};
use crate::models::{document_policy, CreatedTask, TaskRequest, MAX_START_DELAY_MS};
use crate::registry::{BatchFailure, RegisteredTemplate, StepType, TaskTemplate};
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
        let (created, recorded, start_at) = self.create_inner(req)?;
        self.client.publish(&recorded);
        if created.created {
            let inner = &self.client.inner;
            inner.ready.notify_waiters();
            let queue = HostQueue::new(self.client);
            if queue.active() {
                // A delayed start is handed to the host queue as the enqueue's delay.
                let now = self.client.now();
                let start_at = start_at.max(now);
                let ready = self
                    .client
                    .block(inner.store.ready_step_ids(created.task_id, start_at))?;
                let delay = u64::try_from(start_at.saturating_sub(now)).unwrap_or(0);
                queue.enqueue_steps(&ready, Duration::from_millis(delay));
            }
        }
        Ok(created)
    }

    /// Validation, identity and bypass, then one transaction. Nothing is written when the
    /// request is rejected.
    fn create_inner(&self, req: &TaskRequest) -> Result<(CreatedTask, Vec<Recorded>, i64)> {
        let inner = &self.client.inner;
        let context = self.validated_context(req)?;
        let namespace = req.namespace.as_deref().unwrap_or("default");
        let tpl = Templates::new(self.client).find(namespace, &req.name, req.version.as_deref())?;
        check_schema(&tpl, &context)?;
        let bypass = bypass_list(&tpl.template, req)?;
        check_step_inputs(&tpl.template, req)?;
        check_step_timeouts(&tpl.template, req)?;
        let now = self.client.now();
        let start_at = start_at(req, now)?;
        let t = &tpl.template;
        // Not part of the identity: the same work asked again at another priority is a duplicate.
        let priority = match req.priority.or(t.priority) {
            Some(p) => crate::models::check_priority("priority", p)?,
            None => 0,
        };
        // From creation, not from a delayed start: the caller's "done by" time.
        let deadline_at = match req.deadline_ms.or(t.deadline_ms) {
            Some(ms) => {
                Some(now.saturating_add(crate::models::check_deadline_ms("deadline_ms", ms)?))
            }
            None => None,
        };
        let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
        let (initiator, source_system, reason) = (
            or_unknown(&req.initiator),
            or_unknown(&req.source_system),
            or_unknown(&req.reason),
        );
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
        // Steps only a decision creates are left out (decision.rs).
        let (steps, edges) = super::decision::static_part(
            &tpl,
            self.new_steps(&tpl, req, &bypass, &context),
            &bypass,
            &req.step_inputs,
        )?;
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
            edges,
            start_at,
            priority,
            deadline_at,
        };
        let (created, recorded) = self.client.block(inner.store.create_task(&new_task, now))?;
        if !created.created && inner.config.reject_duplicates {
            return Err(Error::DuplicateTask(created.task_id));
        }
        Ok((created, recorded, start_at))
    }

    /// The request's context (a map; null is an empty map) once the name, the context's size
    /// and the free-text fields' lengths are checked.
    fn validated_context(&self, req: &TaskRequest) -> Result<Value> {
        let limit = self.client.inner.config.max_payload_bytes;
        if req.name.trim().is_empty() {
            return Err(Error::InvalidRequest("task name must not be empty".into()));
        }
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
        // The document policy first: a context storage could not give back is never written.
        document_policy::check("context", &context)?;
        for (step, inputs) in &req.step_inputs {
            document_policy::check(&format!("step_inputs.{step}"), inputs)?;
        }
        document_policy::check("tags", &serde_json::to_value(&req.tags)?)?;
        for (field, v) in [
            ("name", Some(&req.name)),
            ("namespace", req.namespace.as_ref()),
            ("version", req.version.as_ref()),
            ("initiator", req.initiator.as_ref()),
            ("source_system", req.source_system.as_ref()),
            ("reason", req.reason.as_ref()),
        ] {
            if let Some(v) = v {
                document_policy::check_text(field, v)?;
            }
        }
        let size = serde_json::to_vec(&context)?.len();
        if size > limit {
            return Err(Error::PayloadTooLarge {
                what: "task context",
                size,
                limit,
            });
        }
        // Each step's inputs are handed to its handler in the step context: the same bound.
        for inputs in req.step_inputs.values() {
            let size = crate::step_handler::serialized_size(inputs);
            if size > limit {
                return Err(Error::PayloadTooLarge {
                    what: "step_inputs",
                    size,
                    limit,
                });
            }
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
        Ok(context)
    }

    /// The rows of the task's steps; bypassed steps do not count as unfinished parents.
    fn new_steps(
        &self,
        tpl: &RegisteredTemplate,
        req: &TaskRequest,
        bypass: &[String],
        context: &Value,
    ) -> Vec<NewStep> {
        let empty = || Value::Object(Default::default());
        let t = &tpl.template;
        let bypassed: Vec<bool> = t
            .step_templates
            .iter()
            .map(|s| bypass.binary_search(&s.name).is_ok()) // sorted by bypass_list
            .collect();
        t.step_templates
            .iter()
            .enumerate()
            .map(|(i, s)| NewStep {
                pending_parents: tpl.parents[i].iter().filter(|p| !bypassed[**p]).count() as i64,
                timeout_ms: match req.step_timeouts.get(&s.name) {
                    // Validated to 1 ms..24 h by check_step_timeouts.
                    Some(t) => Some(i64::try_from(*t).unwrap_or(i64::MAX)),
                    None => new_step_timeout(s),
                },
                ..new_step(
                    tpl,
                    i,
                    req.step_inputs.get(&s.name).cloned().unwrap_or_else(empty),
                    bypassed[i],
                    context,
                )
            })
            .collect()
    }
}

/// The row of template step `i` in a task of `context` (pending parents 0: the caller counts
/// them).
pub(crate) fn new_step(
    tpl: &RegisteredTemplate,
    i: usize,
    inputs: Value,
    bypassed: bool,
    context: &Value,
) -> NewStep {
    let s = &tpl.template.step_templates[i];
    NewStep {
        named_step_id: tpl.named_step_ids[i],
        name: s.name.clone(),
        handler: s.handler.clone(),
        handler_config: s
            .handler_config
            .clone()
            .unwrap_or_else(|| Value::Object(Default::default())),
        retryable: s.default_retryable,
        retry_limit: s.default_retry_limit,
        skippable: s.skippable,
        // 0: the claiming client's lease applies (chosen at claim time); template values
        // are validated to 1 ms..24 h.
        lease_ms: s
            .lease_ms
            .map_or(0, |l| i64::try_from(l).unwrap_or(i64::MAX)),
        timeout_ms: new_step_timeout(s),
        backoff: s.backoff.unwrap_or_default(),
        inputs,
        bypassed,
        pending_parents: 0,
        batch_failure: batch_failure_of(tpl, i),
        // One flow key per step: both limits' pointers are the same (checked at registration).
        flow_key: s
            .concurrency
            .as_ref()
            .map(|c| c.key.as_deref())
            .or_else(|| s.rate_limit.as_ref().map(|r| r.key.as_deref()))
            .map(|pointer| crate::registry::flow_control::flow_key(pointer, &s.handler, context)),
        concurrency_limit: s.concurrency.as_ref().map(|c| i64::from(c.limit)),
        rate_limit: s.rate_limit.as_ref().map(|r| r.stored()),
    }
}

/// The failure strategy of the fan-out whose worker is template step `i`, when not the
/// default fail_fast (which needs nothing on the row).
fn batch_failure_of(tpl: &RegisteredTemplate, i: usize) -> Option<BatchFailure> {
    let steps = &tpl.template.step_templates;
    if steps[i].step_type != StepType::BatchWorker {
        return None;
    }
    steps
        .iter()
        .filter_map(|s| s.batch.as_ref())
        .find(|b| b.worker == steps[i].name)
        .map(|b| b.failure)
        .filter(|f| *f != BatchFailure::FailFast)
}

/// The context against the template's JSON Schema (the first ten errors, with their paths).
fn check_schema(tpl: &RegisteredTemplate, context: &Value) -> Result<()> {
    let Some(v) = &tpl.validator else {
        return Ok(());
    };
    let errors: Vec<String> = v
        .iter_errors(context)
        .take(10)
        .map(|e| {
            let path = e.instance_path().to_string();
            format!("at '{}': {e}", if path.is_empty() { "/" } else { &path })
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::SchemaValidation(errors.join("; ")))
    }
}

/// The steps to bypass, sorted and unique; each must exist and be skippable.
fn bypass_list(t: &TaskTemplate, req: &TaskRequest) -> Result<Vec<String>> {
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
    Ok(bypass)
}

/// A template step's timeout as stored (validated to 1 ms..24 h at registration).
fn new_step_timeout(s: &crate::registry::StepTemplate) -> Option<i64> {
    s.timeout_ms.map(|t| i64::try_from(t).unwrap_or(i64::MAX))
}

/// Every step named in `step_timeouts` exists, and each timeout is within 1 ms..24 h.
fn check_step_timeouts(t: &TaskTemplate, req: &TaskRequest) -> Result<()> {
    for (name, ms) in &req.step_timeouts {
        if t.step_index(name).is_none() {
            return Err(Error::InvalidRequest(format!(
                "step_timeouts names unknown step '{name}'"
            )));
        }
        crate::registry::template::check_timeout_ms(&format!("step_timeouts.{name}"), *ms)
            .map_err(Error::InvalidRequest)?;
    }
    Ok(())
}

/// Every step named in `step_inputs` exists.
fn check_step_inputs(t: &TaskTemplate, req: &TaskRequest) -> Result<()> {
    match req
        .step_inputs
        .keys()
        .find(|name| t.step_index(name).is_none())
    {
        Some(name) => Err(Error::InvalidRequest(format!(
            "step_inputs names unknown step '{name}'"
        ))),
        None => Ok(()),
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

/// When the task's steps become claimable: `run_at`, `now + delay_ms`, or `now`. A `run_at`
/// in the past starts at once.
fn start_at(req: &TaskRequest, now: i64) -> Result<i64> {
    match (req.run_at, req.delay_ms) {
        (Some(_), Some(_)) => Err(Error::InvalidRequest(
            "run_at and delay_ms are exclusive: give one of them".into(),
        )),
        (Some(at), None) => Ok(at.max(now)),
        (None, Some(ms)) if ms > MAX_START_DELAY_MS => Err(Error::InvalidRequest(format!(
            "delay_ms {ms} is over the maximum of {MAX_START_DELAY_MS} (about ten years)"
        ))),
        (None, Some(ms)) => i64::try_from(ms)
            .ok()
            .and_then(|ms| now.checked_add(ms))
            .ok_or_else(|| Error::InvalidRequest(format!("delay_ms {ms} is out of range"))),
        (None, None) => Ok(now),
    }
}

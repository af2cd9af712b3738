//! Decision points at run time: which steps a task starts with, what a decision handler's
//! output chose (`{"activate": [names]}`), and completing the decision together with the
//! steps it chose (docs/DYNAMIC_WORKFLOWS.md).

use super::task_factory::new_step;
use super::templates::Templates;
use super::Client;
use crate::database::{DecisionPlan, NewStep};
use crate::models::{StepContext, StepError};
use crate::registry::{RegisteredTemplate, StepType, MAX_DECISION_CANDIDATES};
use crate::{Error, Result};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;

/// The key of a decision handler's output that lists the candidates to create.
pub const ACTIVATE_KEY: &str = "activate";
/// The error class of a decision output that names no valid choice (a permanent failure).
pub const INVALID_DECISION: &str = "InvalidDecision";
/// Published after a decision's completion, with the chosen and created step names.
pub const DECISION_EVENT: &str = "decision.made";
/// Published for each step a decision created.
pub const STEP_CREATED_EVENT: &str = "step.created";

/// Step rows, and edges as (parent, child) indexes into them.
pub(crate) type StaticPart = (Vec<NewStep>, Vec<(usize, usize)>);

/// The rows and edges (indexes into the rows) a task starts with: every step without the
/// ones only a decision creates. Bypassing or giving inputs to such a step is refused.
pub(crate) fn static_part(
    tpl: &RegisteredTemplate,
    steps: Vec<NewStep>,
    bypass: &[String],
    step_inputs: &serde_json::Map<String, Value>,
) -> Result<StaticPart> {
    let Some(g) = &tpl.dynamic else {
        return Ok((steps, tpl.edges.clone()));
    };
    let names = &tpl.template.step_templates;
    for (i, s) in names.iter().enumerate() {
        if g.is_static[i] {
            continue;
        }
        if bypass.contains(&s.name) || step_inputs.contains_key(&s.name) {
            return Err(Error::InvalidRequest(format!(
                "step '{}' is created only when a decision chooses it: it cannot be bypassed \
                 or given step_inputs",
                s.name
            )));
        }
    }
    // New index of each kept step.
    let mut at = vec![None; steps.len()];
    let mut kept = Vec::new();
    for (i, s) in steps.into_iter().enumerate() {
        if g.is_static[i] {
            at[i] = Some(kept.len());
            kept.push(s);
        }
    }
    let edges: Vec<(usize, usize)> = g
        .all_edges(&tpl.parents)
        .into_iter()
        .filter_map(|(p, c)| Some((at[p]?, at[c]?)))
        .collect();
    for s in kept.iter_mut() {
        s.pending_parents = 0;
    }
    for (p, c) in &edges {
        if !kept[*p].bypassed {
            kept[*c].pending_parents += 1;
        }
    }
    Ok((kept, edges))
}

/// What a decision's (or batchable's) output chose.
pub(crate) struct Choice {
    chosen: Vec<usize>,
    /// A batchable's batch specifications (None for a decision).
    pub batches: Option<Vec<Value>>,
}

impl Choice {
    /// The step's result as stored: a decision's output as is, a batchable's without its
    /// batch list (orchestration/batch.rs `stored_results`).
    pub fn stored_results(&self, output: Value) -> Value {
        match &self.batches {
            Some(b) => super::batch::stored_results(output, b.len()),
            None => output,
        }
    }
}

/// A claimed step that is a decision (or a batchable step), with its template.
pub(crate) struct DecisionStep {
    tpl: Arc<RegisteredTemplate>,
    index: usize,
    /// The task's context: the concurrency keys of the steps it creates are computed from it.
    context: Value,
}

impl DecisionStep {
    /// The decision behind a claimed step's context, or None for any other step. The
    /// template is the task's own version, loaded from storage when this process has not
    /// registered it.
    pub fn of(client: &Client, ctx: &StepContext) -> Result<Option<DecisionStep>> {
        let t = &ctx.task;
        let registry = &client.inner.templates;
        let known = registry.get(&t.namespace, &t.name, Some(&t.version))?;
        if known.is_none() {
            // A worker that did not register the template: a read of the stored versions
            // (once per version) tells whether it has decisions at all; only then is it
            // loaded, which registers it (a write; at once from every worker thread on the
            // first steps of a plain workflow, it cost leases under load).
            if registry.known_without_decisions(&t.namespace, &t.name, &t.version) {
                return Ok(None);
            }
            let stored = client.block(
                client
                    .inner
                    .store
                    .template_configurations(&t.namespace, &t.name),
            )?;
            let has_decisions = stored.iter().any(|(_, config)| {
                config["version"] == t.version.as_str()
                    && config["step_templates"].as_array().is_some_and(|steps| {
                        // A batchable step creates steps like a decision.
                        steps
                            .iter()
                            .any(|s| s["type"] == "decision" || s["type"] == "batchable")
                    })
            });
            if !has_decisions {
                registry.mark_without_decisions(&t.namespace, &t.name, &t.version);
                return Ok(None);
            }
        }
        let tpl = match known {
            Some(tpl) => tpl,
            None => Templates::new(client).find(&t.namespace, &t.name, Some(&t.version))?,
        };
        let Some(index) = tpl.step_index(&ctx.step.name) else {
            return Ok(None);
        };
        if !matches!(
            tpl.template.step_templates[index].step_type,
            StepType::Decision | StepType::Batchable
        ) {
            return Ok(None);
        }
        Ok(Some(DecisionStep {
            tpl,
            index,
            context: ctx.task.context.clone(),
        }))
    }

    /// What the output chose: a decision's candidates, or a batchable's batches (its worker
    /// is then the one candidate, created once per batch; orchestration/batch.rs).
    pub fn choose(&self, output: &Value) -> std::result::Result<Choice, StepError> {
        let step = &self.tpl.template.step_templates[self.index];
        let Some(b) = step
            .batch
            .as_ref()
            .filter(|_| step.step_type == StepType::Batchable)
        else {
            return Ok(Choice {
                chosen: self.chosen(output)?,
                batches: None,
            });
        };
        Ok(Choice {
            chosen: self.candidates().to_vec(),
            batches: Some(super::batch::batches(&step.name, b, output)?),
        })
    }

    fn candidates(&self) -> &[usize] {
        self.tpl
            .dynamic
            .as_ref()
            .map_or(&[][..], |g| &g.candidates[self.index][..])
    }

    /// The candidates the output chose, in its order: a list of distinct candidate names under
    /// `activate` (missing or null: none). Anything else is a permanent `InvalidDecision`.
    pub fn chosen(&self, output: &Value) -> std::result::Result<Vec<usize>, StepError> {
        let t = &self.tpl.template;
        let step = &t.step_templates[self.index];
        let invalid = |message: String| StepError {
            message: format!("decision '{}': {message}", step.name),
            class: INVALID_DECISION.into(),
            retryable: false,
            ..Default::default()
        };
        let list = match output.get(ACTIVATE_KEY) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(list)) => list,
            Some(_) => {
                return Err(invalid(format!(
                    "'{ACTIVATE_KEY}' must be a list of candidate names"
                )))
            }
        };
        if list.len() > MAX_DECISION_CANDIDATES {
            return Err(invalid(format!(
                "{} steps chosen, the limit is {MAX_DECISION_CANDIDATES}",
                list.len()
            )));
        }
        let candidates = self.candidates();
        let mut seen = HashSet::new();
        let mut chosen = Vec::with_capacity(list.len());
        for v in list {
            let Some(name) = v.as_str() else {
                return Err(invalid(format!(
                    "'{ACTIVATE_KEY}' holds {v}, not a step name"
                )));
            };
            let Some(i) = candidates
                .iter()
                .copied()
                .find(|c| t.step_templates[*c].name == name)
            else {
                return Err(invalid(format!(
                    "'{name}' is not one of its candidates ({})",
                    step.candidates.join(", ")
                )));
            };
            if !seen.insert(i) {
                return Err(invalid(format!("'{name}' is chosen twice")));
            }
            chosen.push(i);
        }
        Ok(chosen)
    }

    /// The rows and edges that `choice` creates (storage skips what exists).
    pub fn plan(&self, choice: &Choice) -> DecisionPlan {
        let tpl = &self.tpl;
        let Some(g) = &tpl.dynamic else {
            return DecisionPlan::default();
        };
        let chosen = &choice.chosen[..];
        let a = g.activation(&tpl.parents, chosen);
        let name = |i: usize| tpl.template.step_templates[i].name.clone();
        let plan = DecisionPlan {
            steps: a
                .steps
                .iter()
                .map(|i| {
                    new_step(
                        tpl,
                        *i,
                        Value::Object(Default::default()),
                        false,
                        &self.context,
                    )
                })
                .collect(),
            edges: a.edges.iter().map(|(p, c)| (name(*p), name(*c))).collect(),
        };
        match (&choice.batches, chosen.first()) {
            (Some(batches), Some(w)) => super::batch::expand(plan, &name(*w), batches),
            _ => plan,
        }
    }

    /// The names of the chosen candidates (a batchable's worker).
    pub fn names(&self, choice: &Choice) -> Vec<String> {
        choice
            .chosen
            .iter()
            .map(|i| self.tpl.template.step_templates[*i].name.clone())
            .collect()
    }
}

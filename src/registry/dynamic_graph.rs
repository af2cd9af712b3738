//! `DynamicGraph`: which steps of a template exist from the start and which only once a
//! decision chooses them; checked at registration, used at task creation and when a decision
//! completes (docs/DYNAMIC_WORKFLOWS.md).
//!
//! A *root* is a step created by an event: a decision's candidate (when chosen) or a
//! convergence step without a static parent (with the first of its parents). Every other
//! dynamic step belongs to exactly one root (all its dynamic parents share it) and is created
//! with it; a step that would need two roots could never be created and is refused.

use super::template::{StepType, TaskTemplate};
use crate::{Error, Result};
use std::collections::{BTreeSet, HashMap};

/// Most candidates a decision may list (and so activate at once).
pub const MAX_DECISION_CANDIDATES: usize = 100;
/// Deepest nesting of decisions: a decision created by a decision created by ... (8 levels).
pub const MAX_DECISION_DEPTH: usize = 8;

/// The dynamic structure of a template that has decision steps.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicGraph {
    /// Per step: created with the task.
    pub is_static: Vec<bool>,
    /// Per decision step: its candidates (indexes); empty for other steps.
    pub candidates: Vec<Vec<usize>>,
    /// Per convergence step: the decisions among its ancestors. It waits for those that exist
    /// (extra edges), so it cannot become ready while one of them could still create a parent.
    pub gates: Vec<Vec<usize>>,
    /// Per root: the steps created with it, root first; empty for other steps.
    units: Vec<Vec<usize>>,
    /// Per step: a convergence step created with its first parent.
    created_with_parent: Vec<bool>,
    children: Vec<Vec<usize>>,
}

/// What completing a decision creates: step indexes, and edges (parent, child) to insert
/// where both ends exist (an end that does not exist in the task is skipped by storage).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Activation {
    pub steps: Vec<usize>,
    pub edges: Vec<(usize, usize)>,
}

impl DynamicGraph {
    /// The dynamic structure of `t` (None without decision or convergence steps), or the
    /// registration error. `t` must be acyclic with known dependencies (checked before).
    pub fn of(t: &TaskTemplate) -> Result<Option<DynamicGraph>> {
        let steps = &t.step_templates;
        let bad = |m: String| Err(Error::InvalidTemplate(m));
        if steps.iter().all(|s| s.step_type == StepType::Standard) {
            if let Some(s) = steps.iter().find(|s| !s.candidates.is_empty()) {
                return bad(format!(
                    "step '{}' lists candidates but is not a decision (type: decision)",
                    s.name
                ));
            }
            return Ok(None);
        }
        let n = steps.len();
        let index: HashMap<&str, usize> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let parents = t.parents();
        let mut children = vec![Vec::new(); n];
        for (c, ps) in parents.iter().enumerate() {
            for p in ps {
                children[*p].push(c);
            }
        }
        // Candidates: known, distinct, children of their decision, of one decision only.
        let mut candidates = vec![Vec::new(); n];
        let mut decision_of: Vec<Option<usize>> = vec![None; n];
        for (d, s) in steps.iter().enumerate() {
            if s.step_type != StepType::Decision {
                if !s.candidates.is_empty() {
                    return bad(format!(
                        "step '{}' lists candidates but is not a decision (type: decision)",
                        s.name
                    ));
                }
                // A batchable step is a decision whose one candidate is its worker (checked
                // by registry/batch.rs): created per batch when it completes.
                if let (StepType::Batchable, Some(b)) = (s.step_type, &s.batch) {
                    if let Some(&w) = index.get(b.worker.as_str()) {
                        decision_of[w] = Some(d);
                        candidates[d].push(w);
                    }
                }
                continue;
            }
            if s.candidates.is_empty() {
                return bad(format!("decision '{}' lists no candidates", s.name));
            }
            if s.candidates.len() > MAX_DECISION_CANDIDATES {
                return bad(format!(
                    "decision '{}' lists {} candidates, the limit is {MAX_DECISION_CANDIDATES}",
                    s.name,
                    s.candidates.len()
                ));
            }
            for c in &s.candidates {
                let Some(&ci) = index.get(c.as_str()) else {
                    return bad(format!("decision '{}': unknown candidate '{c}'", s.name));
                };
                if candidates[d].contains(&ci) {
                    return bad(format!(
                        "decision '{}': candidate '{c}' listed twice",
                        s.name
                    ));
                }
                if let Some(other) = decision_of[ci] {
                    return bad(format!(
                        "step '{c}' is a candidate of both '{}' and '{}'",
                        steps[other].name, s.name
                    ));
                }
                if !parents[ci].contains(&d) {
                    return bad(format!(
                        "decision '{}': candidate '{c}' must depend on it (depends_on_step: {})",
                        s.name, s.name
                    ));
                }
                if steps[ci].step_type == StepType::Convergence {
                    return bad(format!(
                        "decision '{}': candidate '{c}' is a convergence step",
                        s.name
                    ));
                }
                decision_of[ci] = Some(d);
                candidates[d].push(ci);
            }
        }
        let mut root: Vec<Option<usize>> = vec![None; n];
        let mut depth = vec![0usize; n];
        let mut decisions_above: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
        let order = topological_order(&parents, &children);
        for &i in &order {
            let s = &steps[i];
            for p in &parents[i] {
                let chosen = usize::from(decision_of[i] == Some(*p));
                depth[i] = depth[i].max(depth[*p].saturating_add(chosen));
                let mut above = decisions_above[*p].clone();
                if matches!(
                    steps[*p].step_type,
                    StepType::Decision | StepType::Batchable
                ) {
                    above.insert(*p);
                }
                decisions_above[i].extend(above);
            }
            if matches!(s.step_type, StepType::Decision | StepType::Batchable)
                && depth[i] >= MAX_DECISION_DEPTH
            {
                return bad(format!(
                    "decision '{}' is nested {} decisions deep, the limit is {MAX_DECISION_DEPTH}",
                    s.name,
                    depth[i] + 1
                ));
            }
            let dynamic_parents: BTreeSet<usize> =
                parents[i].iter().filter_map(|p| root[*p]).collect();
            root[i] = if decision_of[i].is_some() {
                Some(i)
            } else if s.step_type == StepType::Convergence {
                if parents[i].is_empty() {
                    return bad(format!(
                        "convergence step '{}' lists no parents (depends_on_steps)",
                        s.name
                    ));
                }
                // Static with one static parent; else created with its first parent.
                parents[i].iter().all(|p| root[*p].is_some()).then_some(i)
            } else {
                match dynamic_parents.len() {
                    0 => None,
                    1 => dynamic_parents.first().copied(),
                    _ => {
                        let names: Vec<&str> = dynamic_parents
                            .iter()
                            .map(|r| steps[*r].name.as_str())
                            .collect();
                        return bad(format!(
                            "step '{}' is unreachable: it needs the branches of '{}' all \
                             created, which no decision guarantees; make it type: convergence",
                            s.name,
                            names.join("', '")
                        ));
                    }
                }
            };
        }
        let mut units = vec![Vec::new(); n];
        for &i in &order {
            if let Some(r) = root[i] {
                units[r].push(i);
            }
        }
        let gates = steps
            .iter()
            .enumerate()
            .map(|(i, s)| match s.step_type {
                StepType::Convergence => decisions_above[i].iter().copied().collect(),
                _ => Vec::new(),
            })
            .collect();
        let created_with_parent = (0..n)
            .map(|i| root[i] == Some(i) && decision_of[i].is_none())
            .collect();
        Ok(Some(DynamicGraph {
            created_with_parent,
            is_static: root.iter().map(Option::is_none).collect(),
            candidates,
            gates,
            units,
            children,
        }))
    }

    /// Template edges plus gate edges, as (parent, child).
    pub fn all_edges(&self, parents: &[Vec<usize>]) -> Vec<(usize, usize)> {
        let mut edges: Vec<(usize, usize)> = parents
            .iter()
            .enumerate()
            .flat_map(|(c, ps)| ps.iter().map(move |p| (*p, c)))
            .collect();
        for (k, gs) in self.gates.iter().enumerate() {
            for g in gs {
                if !parents[k].contains(g) {
                    edges.push((*g, k));
                }
            }
        }
        edges
    }

    /// The steps and edges that choosing `chosen` (candidates of one decision) creates: each
    /// candidate's unit, and the unit of every convergence step created with one of its
    /// parents; every edge touching a created step. Storage inserts what does not exist yet.
    pub fn activation(&self, parents: &[Vec<usize>], chosen: &[usize]) -> Activation {
        let n = self.units.len();
        let mut created = vec![false; n];
        let mut out = Activation::default();
        // In the order chosen (the order of `step.created` events).
        let mut roots: std::collections::VecDeque<usize> = chosen.iter().copied().collect();
        while let Some(r) = roots.pop_front() {
            for &s in &self.units[r] {
                if std::mem::replace(&mut created[s], true) {
                    continue;
                }
                out.steps.push(s);
                for &c in &self.children[s] {
                    if self.created_with_parent[c] {
                        roots.push_back(c);
                    }
                }
            }
        }
        out.edges = self
            .all_edges(parents)
            .into_iter()
            .filter(|(p, c)| created[*p] || created[*c])
            .collect();
        out
    }
}

/// Step indexes parents first (Kahn); the graph is acyclic.
fn topological_order(parents: &[Vec<usize>], children: &[Vec<usize>]) -> Vec<usize> {
    let n = parents.len();
    let mut pending: Vec<usize> = parents.iter().map(Vec::len).collect();
    let mut order: Vec<usize> = (0..n).filter(|i| pending[*i] == 0).collect();
    let mut k = 0;
    while k < order.len() {
        let i = order[k];
        k += 1;
        for &c in &children[i] {
            pending[c] -= 1;
            if pending[c] == 0 {
                order.push(c);
            }
        }
    }
    order
}

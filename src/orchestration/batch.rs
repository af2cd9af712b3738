//! Batch fan-out at run time: the batches a `batchable` handler returned
//! (`{"batches": [spec, ...]}`) and the worker instances they become, created with the
//! batchable's completion like a decision's choice (docs/DYNAMIC_WORKFLOWS.md).

use crate::database::DecisionPlan;
use crate::models::StepError;
use crate::registry::{batch_step_name, BatchSpec};
use serde_json::Value;

/// The key of a batchable handler's output that lists the batch specifications.
pub const BATCHES_KEY: &str = "batches";
/// The error class of a batchable output that is not a list of batches (permanent).
pub const INVALID_BATCHES: &str = "InvalidBatches";
/// The error class of more batches than the template's `max_batches` (permanent).
pub const TOO_MANY_BATCHES: &str = "TooManyBatches";
/// Published after a batchable's completion, with the number of batches created.
pub const BATCHES_EVENT: &str = "batches.created";

/// The batch specifications of `output` (missing, null or an empty list: none), at most
/// `batch.max_batches` of them; anything else fails the step permanently.
pub(crate) fn batches(
    step: &str,
    batch: &BatchSpec,
    output: &Value,
) -> std::result::Result<Vec<Value>, StepError> {
    let fail = |class: &str, message: String| StepError {
        message: format!("batchable '{step}': {message}"),
        class: class.into(),
        retryable: false,
        ..Default::default()
    };
    let list = match output.get(BATCHES_KEY) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(fail(
                INVALID_BATCHES,
                format!("'{BATCHES_KEY}' must be a list of batch specifications"),
            ))
        }
    };
    if list.len() > batch.max_batches as usize {
        return Err(fail(
            TOO_MANY_BATCHES,
            format!(
                "{} batches returned, the template's max_batches is {}",
                list.len(),
                batch.max_batches
            ),
        ));
    }
    Ok(list.clone())
}

/// The key of a batchable's stored result that counts its batches.
pub const BATCH_COUNT_KEY: &str = "batch_count";

/// What a batchable step stores as its result: its output without the batch list (each spec is
/// already its instance's `inputs`) and with the number of batches. Every instance and the
/// convergence step read their parents' results at claim time, so storing the list made a
/// fan-out of n batches read it n times: quadratic (10,000 batches took minutes).
pub(crate) fn stored_results(output: Value, count: usize) -> Value {
    let mut stored = match output {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    stored.remove(BATCHES_KEY);
    stored.insert(BATCH_COUNT_KEY.into(), Value::from(count));
    Value::Object(stored)
}

/// `plan` (the activation of the worker) with the worker's row replaced by one row per batch,
/// named `<worker>_001` ..., its spec as inputs, and every edge touching the worker repeated
/// for each instance. With no batches only the rest (a convergence step and its edges) remains.
pub(crate) fn expand(plan: DecisionPlan, worker: &str, batches: &[Value]) -> DecisionPlan {
    let n = batches.len();
    let names: Vec<String> = (0..n).map(|k| batch_step_name(worker, k, n)).collect();
    let mut out = DecisionPlan::default();
    for s in plan.steps {
        if s.name != worker {
            out.steps.push(s);
            continue;
        }
        for (name, spec) in names.iter().zip(batches) {
            let mut row = s.clone();
            row.name = name.clone();
            row.inputs = spec.clone();
            out.steps.push(row);
        }
    }
    for (from, to) in plan.edges {
        if from == worker {
            out.edges
                .extend(names.iter().map(|name| (name.clone(), to.clone())));
        } else if to == worker {
            out.edges
                .extend(names.iter().map(|name| (from.clone(), name.clone())));
        } else {
            out.edges.push((from, to));
        }
    }
    out
}

/// Set (true) in the results of a batch whose failure a `continue_on_failure` fan-out
/// tolerated, and in its `error` transition's metadata.
pub const TOLERATED_KEY: &str = "tolerated";
/// Set (true) in the `error` transition's metadata of a batch an `isolate` fan-out parked.
pub const ISOLATED_KEY: &str = "isolated";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_stored_result_keeps_other_keys_and_counts_the_batches() {
        let out = stored_results(json!({"batches": [{"i": 0}, {"i": 1}], "source": "s3"}), 2);
        assert_eq!(out, json!({"source": "s3", "batch_count": 2}));
        assert_eq!(stored_results(json!({}), 0), json!({"batch_count": 0}));
    }
}

//! What the step lifecycle reports: the outcome of one handled step, and the result of a
//! database-free handler call. Both cross the C ABI as MessagePack maps.

use super::StepError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What happened to one step handled by a worker, `handle_step` or an inline run. Encoded as a
/// map tagged by `outcome` ("completed", "failed", "discarded", "stale", "skipped").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StepOutcome {
    Completed {
        step_id: i64,
        task_id: i64,
        task_completed: bool,
    },
    Failed {
        step_id: i64,
        task_id: i64,
        will_retry: bool,
        retry_delay_ms: Option<u64>,
        task_blocked: bool,
    },
    /// The task was cancelled while the step ran; its result was discarded.
    Discarded { step_id: i64, task_id: i64 },
    /// The claim was lost (lease expired and the step was taken over); nothing was written.
    Stale { step_id: i64, task_id: i64 },
    /// A host-queue delivery for a step that is not claimable now (done, running, not yet due).
    Skipped { step_id: i64, reason: String },
}

impl StepOutcome {
    pub fn step_id(&self) -> i64 {
        match self {
            StepOutcome::Completed { step_id, .. }
            | StepOutcome::Failed { step_id, .. }
            | StepOutcome::Discarded { step_id, .. }
            | StepOutcome::Stale { step_id, .. }
            | StepOutcome::Skipped { step_id, .. } => *step_id,
        }
    }

    /// Whether handling this step finished its task.
    pub fn task_completed(&self) -> bool {
        matches!(
            self,
            StepOutcome::Completed {
                task_completed: true,
                ..
            }
        )
    }
}

/// The result of `call_handler` (the hooks run without the database). Encoded as a map tagged
/// by `status`: `{"status": "completed", "results": any}` or `{"status": "failed", "error": {..}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum HandlerCall {
    Completed { results: Value },
    Failed { error: StepError },
}

impl From<Result<Value, StepError>> for HandlerCall {
    fn from(r: Result<Value, StepError>) -> HandlerCall {
        match r {
            Ok(results) => HandlerCall::Completed { results },
            Err(error) => HandlerCall::Failed { error },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The encoded shapes are part of the ABI (docs/ABI.md).
    #[test]
    fn documents_keep_their_abi_shape() {
        let o = StepOutcome::Failed {
            step_id: 1,
            task_id: 2,
            will_retry: true,
            retry_delay_ms: None,
            task_blocked: false,
        };
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            json!({"outcome": "failed", "step_id": 1, "task_id": 2, "will_retry": true,
                   "retry_delay_ms": null, "task_blocked": false})
        );
        let s = StepOutcome::Skipped {
            step_id: 3,
            reason: "step is complete".into(),
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"outcome": "skipped", "step_id": 3, "reason": "step is complete"})
        );
        let c = HandlerCall::from(Ok(json!({"x": 1})));
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"status": "completed", "results": {"x": 1}})
        );
        let f = HandlerCall::from(Err(StepError::permanent("no")));
        assert_eq!(serde_json::to_value(&f).unwrap()["status"], "failed");
        assert_eq!(
            serde_json::to_value(&f).unwrap()["error"]["class"],
            "PermanentError"
        );
    }
}

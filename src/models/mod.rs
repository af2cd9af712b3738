//! Documents exchanged with callers (requests, contexts, views) and the row types of the schema.
//! These are the serde definitions the C ABI encodes as MessagePack.

pub(crate) mod document_policy;
mod event;
mod failing_handler;
mod query;
mod step_error;
mod step_outcome;
mod stop_reason;

mod purge;
mod schedule;

pub use event::Event;
pub use failing_handler::FailingHandler;
pub(crate) use purge::DEFAULT_PURGE_BATCH;
pub use purge::{PurgeReport, PurgeRequest, PurgeTemplate};
pub(crate) use query::{cursor_id, page_limit};
pub use query::{
    Page, StepCondition, StepFilter, StepPage, StepSummary, TaskFilter, TaskPage, TaskSummary,
    TaskWait, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT,
};
pub use schedule::{MissedTicks, Schedule, ScheduleSpec, ScheduleTick};
pub use step_error::StepError;
pub use step_outcome::{HandlerCall, StepOutcome};
pub use stop_reason::StopReason;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// The six states shared by tasks and steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    InProgress,
    Complete,
    Error,
    Cancelled,
    ResolvedManually,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Pending,
        State::InProgress,
        State::Complete,
        State::Error,
        State::Cancelled,
        State::ResolvedManually,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::InProgress => "in_progress",
            State::Complete => "complete",
            State::Error => "error",
            State::Cancelled => "cancelled",
            State::ResolvedManually => "resolved_manually",
        }
    }

    /// Complete or resolved manually: satisfies dependents.
    pub fn is_finished(self) -> bool {
        matches!(self, State::Complete | State::ResolvedManually)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| crate::Error::Internal(format!("unknown state '{s}' in database")))
    }
}

/// A request to create a task from a registered template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TaskRequest {
    pub name: String,
    pub namespace: Option<String>,
    /// Semver of the template; the latest registered version when absent.
    pub version: Option<String>,
    pub context: Value,
    pub initiator: Option<String>,
    pub source_system: Option<String>,
    pub reason: Option<String>,
    pub tags: Vec<String>,
    pub bypass_steps: Vec<String>,
    /// Per-step inputs keyed by step name (optional).
    pub step_inputs: serde_json::Map<String, Value>,
    /// Delayed start: no step of the task is claimable before this time (milliseconds since
    /// the Unix epoch, the engine's clock). A time in the past starts at once. Not with
    /// `delay_ms`.
    pub run_at: Option<i64>,
    /// Delayed start relative to creation, in milliseconds (at most `MAX_START_DELAY_MS`).
    /// Not with `run_at`.
    pub delay_ms: Option<u64>,
    // Timeouts (docs/TIMEOUTS_AND_CANCELLATION.md).
    /// Per-step attempt timeouts in milliseconds keyed by step name, overriding the template's
    /// `timeout_ms` (1 ms..24 h each).
    pub step_timeouts: std::collections::BTreeMap<String, u64>,
    /// Task deadline in milliseconds from creation (1 ms..`MAX_DEADLINE_MS`), overriding the
    /// template's `deadline_ms`: past it an unfinished task fails (`error`, class `Deadline`).
    pub deadline_ms: Option<u64>,
    /// Claim priority of every step of the task, within `MIN_PRIORITY..=MAX_PRIORITY`
    /// (higher first); overrides the template's `priority`. See docs/SCHEDULING.md for the
    /// aging rule.
    pub priority: Option<i64>,
}

/// The lowest step priority.
pub const MIN_PRIORITY: i64 = -100;
/// The highest step priority.
pub const MAX_PRIORITY: i64 = 100;
/// Aging: a step of priority `p` is claimed as if it became ready `p * AGING_STEP_MS`
/// milliseconds earlier, so a step waits at most `(p_high - p_low) * AGING_STEP_MS` behind work of
/// a higher priority that became ready after it. The value is also written in the claim index
/// (migrations *_step_priority.sql): change both together.
pub const AGING_STEP_MS: i64 = 1_000;

/// `priority` checked against `MIN_PRIORITY..=MAX_PRIORITY` (`what` names it in the error).
pub fn check_priority(what: &str, priority: i64) -> crate::Result<i64> {
    if (MIN_PRIORITY..=MAX_PRIORITY).contains(&priority) {
        Ok(priority)
    } else {
        Err(crate::Error::InvalidRequest(format!(
            "{what} must be within {MIN_PRIORITY}..={MAX_PRIORITY}, got {priority}"
        )))
    }
}

/// The longest task deadline, in milliseconds (ten years of 366 days, like a start delay).
pub const MAX_DEADLINE_MS: u64 = 316_224_000_000;

/// A task deadline (template or request `deadline_ms`) checked against 1..=`MAX_DEADLINE_MS`.
pub fn check_deadline_ms(what: &str, ms: u64) -> crate::Result<i64> {
    match i64::try_from(ms) {
        Ok(v) if (1..=MAX_DEADLINE_MS).contains(&ms) => Ok(v),
        _ => Err(crate::Error::InvalidRequest(format!(
            "{what} must be within 1..={MAX_DEADLINE_MS} ms, got {ms}"
        ))),
    }
}

/// The longest start delay a request may ask for, in milliseconds (ten years of 366 days).
pub const MAX_START_DELAY_MS: u64 = 316_224_000_000;

/// Outcome of a task creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CreatedTask {
    pub task_id: i64,
    /// False when an identical task already existed and was returned instead.
    pub created: bool,
}

/// What a handler sees about its task.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TaskInfo {
    pub task_id: i64,
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub context: Value,
    pub initiator: String,
    pub source_system: String,
    pub reason: String,
    pub tags: Value,
}

/// What a handler sees about its step.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct StepInfo {
    pub step_id: i64,
    pub name: String,
    pub handler: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    pub retry_limit: i64,
    pub retryable: bool,
    pub inputs: Value,
    pub handler_config: Value,
}

/// The context document passed to `process`: task, step, and the results of the step's direct
/// dependencies keyed by step name. Missing fields decode to their defaults (so a caller of
/// `call_handler` may pass only what its handler reads).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct StepContext {
    pub task: TaskInfo,
    pub step: StepInfo,
    pub dependency_results: serde_json::Map<String, Value>,
    /// Fencing token of this attempt (used by heartbeats and checkpoints).
    pub claim_token: String,
    /// The last checkpoint an earlier attempt of this step recorded (`Client::checkpoint`), to
    /// resume from; null when none was recorded.
    pub checkpoint: Option<Value>,
}

/// One row of transition history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TransitionView {
    pub from_state: Option<State>,
    pub to_state: State,
    pub metadata: Value,
    pub sort_key: i64,
    pub most_recent: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepView {
    pub step_id: i64,
    pub name: String,
    pub handler: String,
    pub state: State,
    pub attempts: i64,
    pub retry_limit: i64,
    pub retryable: bool,
    pub skippable: bool,
    pub inputs: Value,
    pub results: Option<Value>,
    pub last_attempted_at: Option<i64>,
    pub processed_at: Option<i64>,
    /// When a step waiting to (re)try becomes claimable (epoch ms).
    pub next_attempt_at: Option<i64>,
    pub backoff_request_ms: Option<i64>,
    /// Claim priority (`MIN_PRIORITY..=MAX_PRIORITY`, higher first; docs/SCHEDULING.md).
    pub priority: i64,
    /// Per-attempt timeout in milliseconds; null for none (docs/TIMEOUTS_AND_CANCELLATION.md).
    pub timeout_ms: Option<i64>,
    /// The concurrency key the step counts against (`handler:<handler>[:<value>]`) and its
    /// limit; null for an unlimited step (docs/FLOW_CONTROL.md).
    pub concurrency_key: Option<String>,
    pub concurrency_limit: Option<i64>,
    /// The step's last recorded checkpoint (kept after completion, for inspection); null when
    /// none was recorded.
    pub checkpoint: Option<Value>,
    pub parents: Vec<String>,
    pub transitions: Vec<TransitionView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskView {
    pub task_id: i64,
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub state: State,
    pub complete: bool,
    pub context: Value,
    pub initiator: String,
    pub source_system: String,
    pub reason: String,
    pub tags: Value,
    pub bypass_steps: Value,
    pub identity_hash: String,
    pub requested_at: i64,
    pub completed_at: Option<i64>,
    /// When the task fails if still unfinished (epoch ms); null for no deadline
    /// (docs/TIMEOUTS_AND_CANCELLATION.md "Task deadlines").
    pub deadline_at: Option<i64>,
    pub steps: Vec<StepView>,
    pub transitions: Vec<TransitionView>,
    pub execution: ExecutionContext,
}

impl TaskView {
    pub fn step(&self, name: &str) -> Option<&StepView> {
        self.steps.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    BlockedByFailures,
    HasReadySteps,
    Processing,
    AllComplete,
    WaitingForDependencies,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecommendedAction {
    HandleFailures,
    ExecuteReadySteps,
    WaitForCompletion,
    FinalizeTask,
    WaitForDependencies,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Healthy,
    Recovering,
    Blocked,
    Unknown,
}

/// The task execution context: counts and the derived status, action and health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecutionContext {
    pub task_id: i64,
    pub task_state: State,
    pub total_steps: i64,
    pub pending_steps: i64,
    pub in_progress_steps: i64,
    pub completed_steps: i64,
    pub failed_steps: i64,
    pub cancelled_steps: i64,
    pub ready_steps: i64,
    pub permanently_blocked_steps: i64,
    pub execution_status: ExecutionStatus,
    pub recommended_action: RecommendedAction,
    pub completion_percentage: f64,
    pub health: Health,
    /// Earliest time a step waiting on backoff becomes claimable.
    pub next_retry_at: Option<i64>,
    /// Latest time a step waiting on backoff becomes claimable.
    pub last_retry_at: Option<i64>,
}

/// Raw per-task counts read from storage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCounts {
    pub total: i64,
    pub pending: i64,
    pub in_progress: i64,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub ready: i64,
    pub exhausted: i64,
    pub next_retry_at: Option<i64>,
    pub last_retry_at: Option<i64>,
    /// Batch failures a `continue_on_failure` fan-out tolerated (also in `failed`): finished.
    pub tolerated: i64,
}

impl ExecutionContext {
    /// Status precedence: blocked_by_failures outranks has_ready_steps, then processing,
    /// all_complete, waiting_for_dependencies.
    pub fn from_counts(task_id: i64, task_state: State, c: StepCounts) -> ExecutionContext {
        let (execution_status, recommended_action) = if c.exhausted > 0 {
            (
                ExecutionStatus::BlockedByFailures,
                RecommendedAction::HandleFailures,
            )
        } else if c.ready > 0 {
            (
                ExecutionStatus::HasReadySteps,
                RecommendedAction::ExecuteReadySteps,
            )
        } else if c.in_progress > 0 {
            (
                ExecutionStatus::Processing,
                RecommendedAction::WaitForCompletion,
            )
        } else if c.total > 0 && c.completed.saturating_add(c.tolerated) == c.total {
            (
                ExecutionStatus::AllComplete,
                RecommendedAction::FinalizeTask,
            )
        } else {
            (
                ExecutionStatus::WaitingForDependencies,
                RecommendedAction::WaitForDependencies,
            )
        };
        let completion_percentage = if c.total == 0 {
            0.0
        } else {
            // Finished steps: a tolerated batch failure is finished too.
            let finished = c.completed.saturating_add(c.tolerated);
            ((finished as f64 / c.total as f64) * 10_000.0).round() / 100.0
        };
        let health = if c.exhausted > 0 {
            Health::Blocked
        } else if c.failed.saturating_sub(c.tolerated) == 0 {
            // Tolerated batch failures are the strategy at work, not trouble.
            Health::Healthy
        } else {
            Health::Recovering
        };
        ExecutionContext {
            task_id,
            task_state,
            total_steps: c.total,
            pending_steps: c.pending,
            in_progress_steps: c.in_progress,
            completed_steps: c.completed,
            failed_steps: c.failed,
            cancelled_steps: c.cancelled,
            ready_steps: c.ready,
            permanently_blocked_steps: c.exhausted,
            execution_status,
            recommended_action,
            completion_percentage,
            health,
            next_retry_at: c.next_retry_at,
            last_retry_at: c.last_retry_at,
        }
    }
}

/// System-wide counts (the ancestor's health counts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthCounts {
    pub total_tasks: i64,
    pub pending_tasks: i64,
    pub in_progress_tasks: i64,
    pub complete_tasks: i64,
    pub error_tasks: i64,
    pub cancelled_tasks: i64,
    pub resolved_manually_tasks: i64,
    pub total_steps: i64,
    pub pending_steps: i64,
    pub in_progress_steps: i64,
    pub complete_steps: i64,
    pub error_steps: i64,
    pub cancelled_steps: i64,
    pub resolved_manually_steps: i64,
    pub retryable_error_steps: i64,
    pub exhausted_retry_steps: i64,
    pub in_backoff_steps: i64,
    pub expired_lease_steps: i64,
    /// This client's workers (not database-wide): loop iterations that failed, in all and in a
    /// row (0 again after one succeeds), and the last failure's message. A worker retries
    /// after its poll interval; a growing `worker_failures_in_a_row` means it is not working.
    #[serde(default)]
    pub worker_failures: u64,
    #[serde(default)]
    pub worker_failures_in_a_row: u64,
    #[serde(default)]
    pub last_worker_error: Option<String>,
}

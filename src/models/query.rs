//! Query documents: what `wait_task` returns, and the filters and pages of `list_tasks` and
//! `list_steps`.

use super::{ExecutionContext, ExecutionStatus, State, TaskView};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What `wait_task` returns: the task's view, and whether the wait ended by its timeout (the
/// task then neither finished nor blocked; the view is as it was at that moment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskWait {
    pub timed_out: bool,
    pub task: TaskView,
}

/// The page size when a filter names none, and the largest one allowed.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// What `list_tasks` returns: tasks matching every field given (an empty filter matches every
/// task), newest (highest id) first, at most `limit` (default 50, at most 1000) per page.
/// Times are epoch milliseconds; `*_from` is inclusive, `*_to` exclusive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TaskFilter {
    /// Any of these states.
    pub states: Vec<State>,
    pub execution_status: Option<ExecutionStatus>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub initiator: Option<String>,
    pub source_system: Option<String>,
    /// Every one of these tags.
    pub tags: Vec<String>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub updated_from: Option<i64>,
    pub updated_to: Option<i64>,
    /// The `next_cursor` of the previous page; none for the first page.
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// One task of a `list_tasks` page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskSummary {
    pub task_id: i64,
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub state: State,
    pub initiator: String,
    pub source_system: String,
    pub tags: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
    /// Step counts and the derived status (as `execution_context`).
    pub execution: ExecutionContext,
}

/// A step's situation beyond its state, for `StepFilter::condition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepCondition {
    /// `error` with a retry scheduled in the future.
    InBackoff,
    /// `error` with no retry left (blocks its task).
    Exhausted,
    /// `in_progress` with its lease passed (the reaper will count a failed attempt).
    LeaseExpired,
    /// `in_progress` with its lease still running.
    LeaseActive,
}

/// What `list_steps` returns: steps matching every field given, newest (highest id) first,
/// paged as `TaskFilter`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StepFilter {
    pub task_id: Option<i64>,
    /// Any of these states.
    pub states: Vec<State>,
    pub condition: Option<StepCondition>,
    pub handler: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// One step of a `list_steps` page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepSummary {
    pub step_id: i64,
    pub task_id: i64,
    pub name: String,
    pub handler: String,
    pub state: State,
    pub attempts: i64,
    pub retry_limit: i64,
    /// When it may next be claimed (none: not claimable, e.g. exhausted or finished).
    pub next_attempt_at: Option<i64>,
    pub lease_expires_at: Option<i64>,
    pub last_attempted_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One page of a listing; `next_cursor` is set when more items may follow (pass it back as the
/// filter's `cursor`). Cursors are opaque strings; a page's items are never repeated by the
/// pages after it, also while new items are inserted (they sort before the first page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "{T}Page")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub type TaskPage = Page<TaskSummary>;
pub type StepPage = Page<StepSummary>;

/// The page size a filter asks for, checked.
pub(crate) fn page_limit(limit: Option<u32>) -> crate::Result<u32> {
    match limit.unwrap_or(DEFAULT_PAGE_LIMIT) {
        l @ 1..=MAX_PAGE_LIMIT => Ok(l),
        l => Err(crate::Error::InvalidDocument {
            path: "limit".into(),
            reason: format!("is {l}: a page holds 1 to {MAX_PAGE_LIMIT} items"),
        }),
    }
}

/// The id a cursor stands for (the last item of the previous page).
pub(crate) fn cursor_id(cursor: Option<&str>) -> crate::Result<Option<i64>> {
    cursor
        .map(|c| {
            c.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                crate::Error::InvalidDocument {
                    path: "cursor".into(),
                    reason: format!("'{c}' is not a cursor this library returned"),
                }
            })
        })
        .transpose()
}

//! Query documents: what `wait_task` returns, and the filters and pages of `list_tasks` and
//! `list_steps`.

use super::TaskView;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What `wait_task` returns: the task's view, and whether the wait ended by its timeout (the
/// task then neither finished nor blocked; the view is as it was at that moment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskWait {
    pub timed_out: bool,
    pub task: TaskView,
}

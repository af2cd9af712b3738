//! `Transition`: one state change of a task or step, as committed. Storage reports the
//! transitions it wrote; events are built from them after commit.

use super::Entity;
use crate::models::State;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub entity: Entity,
    pub task_id: i64,
    pub step_id: Option<i64>,
    pub step_name: Option<String>,
    /// `None` for the initial transition.
    pub from: Option<State>,
    pub to: State,
    /// The transition's metadata (attempt, error, backoff, reason), the event's payload.
    pub metadata: Value,
}

impl Transition {
    /// The lifecycle event this transition publishes, if any.
    pub fn event_name(&self) -> Option<&'static str> {
        super::event_name(self.entity, self.from, self.to)
    }
}

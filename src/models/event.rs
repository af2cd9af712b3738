//! The lifecycle event document subscribers receive (`task.*`, `step.*`, `workflow.*`).

use crate::state_machine::Transition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One lifecycle event (`task.*`, `step.*`, `workflow.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    pub name: String,
    pub task_id: i64,
    pub step_id: Option<i64>,
    pub step_name: Option<String>,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    /// Epoch milliseconds.
    pub timestamp: i64,
    pub payload: Value,
}

impl Event {
    /// The event a committed transition publishes (`None` for transitions without one).
    pub fn from_transition(r: &Transition, timestamp: i64) -> Option<Event> {
        let name = r.event_name()?;
        Some(Event {
            name: name.to_string(),
            task_id: r.task_id,
            step_id: r.step_id,
            step_name: r.step_name.clone(),
            from_state: r.from.map(|s| s.to_string()),
            to_state: Some(r.to.to_string()),
            timestamp,
            payload: r.metadata.clone(),
        })
    }

    pub fn is_step(&self) -> bool {
        self.step_id.is_some()
    }
}

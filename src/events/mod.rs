//! Lifecycle events, published to subscribers after the state they describe is committed, on
//! the thread that made the change. A failing or panicking subscriber never affects orchestration.

pub use crate::models::Event;
use crate::state_machine::Transition;
use parking_lot::RwLock;
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub type Subscriber = Arc<dyn Fn(&Event) + Send + Sync>;

struct Subscription {
    id: u64,
    /// Exact names, or prefixes ending in `*` (`step.*`); empty means every event.
    patterns: Vec<String>,
    callback: Subscriber,
}

impl Subscription {
    fn matches(&self, name: &str) -> bool {
        self.patterns.is_empty()
            || self.patterns.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => p == name,
            })
    }
}

#[derive(Default)]
pub struct EventBus {
    subs: RwLock<Vec<Arc<Subscription>>>,
    next: AtomicU64,
}

impl EventBus {
    pub fn subscribe(&self, patterns: Vec<String>, callback: Subscriber) -> u64 {
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        self.subs.write().push(Arc::new(Subscription {
            id,
            patterns,
            callback,
        }));
        id
    }

    pub fn unsubscribe(&self, id: u64) -> bool {
        let mut subs = self.subs.write();
        let before = subs.len();
        subs.retain(|s| s.id != id);
        subs.len() != before
    }

    /// Drops every subscription (the client is closing).
    pub fn clear(&self) {
        let dropped = std::mem::take(&mut *self.subs.write());
        // Callbacks (and their userdata finalizers) are dropped outside the lock.
        drop(dropped);
    }

    pub fn has_subscribers(&self) -> bool {
        !self.subs.read().is_empty()
    }

    pub fn publish(&self, event: &Event) {
        // Snapshot so a subscriber may (un)subscribe without deadlocking.
        let subs: Vec<Arc<Subscription>> = self.subs.read().clone();
        for s in subs.iter().filter(|s| s.matches(&event.name)) {
            if catch_unwind(AssertUnwindSafe(|| (s.callback)(event))).is_err() {
                tracing::warn!(event = %event.name, subscription = s.id, "event subscriber panicked; ignored");
            }
        }
    }

    /// Whether a subscription wants events named `name`: callers check it before building an
    /// event, so a subscriber to one name (`task.completed`) does not make every other event
    /// cost its allocations.
    pub fn wants(&self, name: &str) -> bool {
        self.subs.read().iter().any(|s| s.matches(name))
    }

    pub fn publish_transitions(&self, transitions: &[Transition], now: i64) {
        if !self.has_subscribers() {
            return;
        }
        for r in transitions {
            if !r.event_name().is_some_and(|name| self.wants(name)) {
                continue;
            }
            if let Some(e) = Event::from_transition(r, now) {
                self.publish(&e);
            }
        }
    }

    pub fn publish_named(
        &self,
        name: &str,
        task_id: i64,
        step: Option<(i64, &str)>,
        payload: Value,
        now: i64,
    ) {
        if !self.wants(name) {
            return;
        }
        self.publish(&Event {
            name: name.to_string(),
            task_id,
            step_id: step.map(|s| s.0),
            step_name: step.map(|s| s.1.to_string()),
            from_state: None,
            to_state: None,
            timestamp: now,
            payload,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::State;
    use crate::state_machine::Entity;
    use parking_lot::Mutex;

    fn transition(entity: Entity, from: State, to: State) -> Transition {
        Transition {
            entity,
            task_id: 1,
            step_id: (entity == Entity::Step).then_some(2),
            step_name: (entity == Entity::Step).then(|| "a".to_string()),
            from: Some(from),
            to,
            metadata: serde_json::json!({"attempt": 1}),
        }
    }

    #[test]
    fn only_wanted_events_are_built_and_delivered() {
        let bus = EventBus::default();
        assert!(!bus.wants("task.completed"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        bus.subscribe(
            vec!["task.completed".into(), "step.exec*".into()],
            Arc::new(move |e: &Event| s.lock().push(e.name.clone())),
        );
        assert!(bus.wants("task.completed"));
        assert!(bus.wants("step.execution_requested"));
        assert!(!bus.wants("step.completed"));
        assert!(!bus.wants("step.before_handle"));
        bus.publish_transitions(
            &[
                transition(Entity::Step, State::Pending, State::InProgress),
                transition(Entity::Step, State::InProgress, State::Complete),
                transition(Entity::Task, State::InProgress, State::Complete),
            ],
            5,
        );
        bus.publish_named(
            "step.before_handle",
            1,
            Some((2, "a")),
            serde_json::json!({}),
            5,
        );
        assert_eq!(
            *seen.lock(),
            vec!["step.execution_requested", "task.completed"]
        );
    }
}

//! Task and step state machines: the ancestor's allowed transitions, plus the retry hop
//! (`error -> pending`, which the ancestor allowed but never made) and `error -> cancelled`
//! (so cancelling a task also settles its failed steps), and the release of a claim
//! (`in_progress -> pending`, reason "released": a stopping worker or an interrupted run gives
//! back a step without burning an attempt). Unlike the ancestor, a finished task (complete or
//! resolved_manually) cannot be cancelled: cancelling finished work rewrote history.

mod transition;

pub use transition::Transition;

use crate::models::State;
use crate::{Error, Result};
use State::*;

/// Which kind of entity a transition belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Task,
    Step,
}

impl Entity {
    fn name(self) -> &'static str {
        match self {
            Entity::Task => "task",
            Entity::Step => "step",
        }
    }
}

/// Whether `from -> to` is allowed for `entity`.
pub fn allowed(entity: Entity, from: State, to: State) -> bool {
    match entity {
        Entity::Task => matches!(
            (from, to),
            (Pending, InProgress | Cancelled | Error)
                | (InProgress, Complete | Error | Cancelled | Pending)
                | (Error, Pending | ResolvedManually | Cancelled)
        ),
        Entity::Step => matches!(
            (from, to),
            (Pending, InProgress | Error | Cancelled | ResolvedManually)
                | (InProgress, Complete | Error | Cancelled | Pending)
                | (Error, Pending | ResolvedManually | Cancelled)
        ),
    }
}

/// Whether a step may go `from -> to`, `tolerated` saying that its `error` is a batch failure
/// its `continue_on_failure` fan-out tolerated: that error is final (no retry, resolution or
/// cancellation), since the task already counted the step as finished and its convergence
/// step may have run with the error. Every other step follows [`allowed`].
pub fn allowed_step(from: State, tolerated: bool, to: State) -> bool {
    !(tolerated && from == Error) && allowed(Entity::Step, from, to)
}

/// [`check`] for a step under [`allowed_step`].
pub fn check_step(from: State, tolerated: bool, to: State) -> Result<bool> {
    if tolerated && from == Error && to != Error {
        return Err(Error::IllegalTransition {
            entity: "step",
            from: "error (a tolerated batch failure, final)".into(),
            to: to.to_string(),
        });
    }
    check(Entity::Step, from, to)
}

/// Checks a requested transition: `Ok(true)` to perform it, `Ok(false)` when the entity is already
/// in the target state (a repeated transition is a no-op), an error when it is not allowed.
pub fn check(entity: Entity, from: State, to: State) -> Result<bool> {
    if from == to {
        return Ok(false);
    }
    if allowed(entity, from, to) {
        Ok(true)
    } else {
        Err(Error::IllegalTransition {
            entity: entity.name(),
            from: from.to_string(),
            to: to.to_string(),
        })
    }
}

/// The lifecycle event a transition publishes (the ancestor's transition event maps).
pub fn event_name(entity: Entity, from: Option<State>, to: State) -> Option<&'static str> {
    match entity {
        Entity::Task => Some(match (from, to) {
            (None, Pending) | (Some(InProgress), Pending) => "task.initialize_requested",
            (None | Some(Pending), InProgress) => "task.start_requested",
            (Some(InProgress), Complete) => "task.completed",
            (Some(Pending | InProgress), Error) => "task.failed",
            (_, Cancelled) => "task.cancelled",
            (Some(Error), Pending) => "task.retry_requested",
            (Some(Error) | None, ResolvedManually) => "task.resolved_manually",
            _ => return None,
        }),
        Entity::Step => Some(match (from, to) {
            (None, Pending) => "step.initialize_requested",
            (Some(Pending), InProgress) => "step.execution_requested",
            (Some(InProgress), Complete) => "step.completed",
            (Some(Pending | InProgress), Error) => "step.failed",
            (_, Cancelled) => "step.cancelled",
            (Some(Error), Pending) => "step.retry_requested",
            (Some(InProgress), Pending) => "step.released",
            (Some(Pending | Error) | None, ResolvedManually) => "step.resolved_manually",
            _ => return None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_transitions_follow_the_ancestor_plus_retry_hop() {
        assert!(allowed(Entity::Step, Pending, InProgress));
        assert!(allowed(Entity::Step, Error, Pending));
        assert!(
            allowed(Entity::Step, InProgress, Pending),
            "a released claim"
        );
        assert!(!allowed(Entity::Step, Complete, Pending));
        assert!(!allowed(Entity::Step, Cancelled, InProgress));
        assert!(!allowed(Entity::Step, Pending, Complete));
        assert!(matches!(
            check(Entity::Step, Complete, Error),
            Err(Error::IllegalTransition { .. })
        ));
        assert!(!check(Entity::Step, Complete, Complete).unwrap());
    }

    #[test]
    fn a_tolerated_batch_failure_is_final() {
        for to in [Pending, ResolvedManually, Cancelled] {
            assert!(allowed_step(Error, false, to));
            assert!(!allowed_step(Error, true, to), "{to}");
            assert!(matches!(
                check_step(Error, true, to),
                Err(Error::IllegalTransition { .. })
            ));
        }
        assert!(
            allowed_step(InProgress, true, Error),
            "how it becomes tolerated"
        );
        assert!(!check_step(Error, true, Error).unwrap());
    }

    #[test]
    fn task_transitions() {
        assert!(allowed(Entity::Task, InProgress, Complete));
        assert!(allowed(Entity::Task, Error, Pending));
        assert!(!allowed(Entity::Task, Cancelled, Pending));
        assert!(!allowed(Entity::Task, Pending, Complete));
    }

    #[test]
    fn event_names() {
        assert_eq!(
            event_name(Entity::Step, Some(Error), Pending),
            Some("step.retry_requested")
        );
        assert_eq!(
            event_name(Entity::Step, Some(InProgress), Pending),
            Some("step.released")
        );
        assert_eq!(
            event_name(Entity::Task, Some(Pending), InProgress),
            Some("task.start_requested")
        );
        assert_eq!(event_name(Entity::Task, Some(Complete), InProgress), None);
    }
}

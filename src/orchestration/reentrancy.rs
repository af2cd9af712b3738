//! The tasks whose step handlers are running on this thread. `run_task` of one of them from
//! inside its own handler would wait for the very step this thread is executing (its lease,
//! then retries), so it is refused with `Error::ReentrantRun` instead.

use std::cell::RefCell;

thread_local! {
    // A stack, not a set: a handler of task A may run task B inline, whose handler runs next.
    static HANDLING: RefCell<Vec<i64>> = const { RefCell::new(Vec::new()) };
}

/// Marks `task_id` as handled on this thread until dropped (also on unwind).
pub(crate) struct HandlingTask(i64);

impl HandlingTask {
    pub(crate) fn enter(task_id: i64) -> HandlingTask {
        HANDLING.with(|h| h.borrow_mut().push(task_id));
        HandlingTask(task_id)
    }
}

impl Drop for HandlingTask {
    fn drop(&mut self) {
        HANDLING.with(|h| {
            let mut h = h.borrow_mut();
            if let Some(i) = h.iter().rposition(|t| *t == self.0) {
                h.remove(i);
            }
        });
    }
}

/// True while a handler of `task_id` runs on this thread (possibly further up the stack).
pub(crate) fn is_handling(task_id: i64) -> bool {
    HANDLING.with(|h| h.borrow().contains(&task_id))
}

//! What a purge deletes, one bounded batch at a time (backend/purge.rs runs it).

/// A purge's cut-off times per finished state (epoch ms): tasks finished before them go.
/// `i64::MIN` keeps every task of that state.
#[derive(Debug, Clone, Copy)]
pub struct PurgeCutoffs {
    pub complete_before: i64,
    pub cancelled_before: i64,
}

/// What one purge batch deleted (or, dry run, would delete). No tasks: nothing was left in
/// the range, and `last_task_id` is where it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeBatch {
    pub tasks: u64,
    pub steps: u64,
    /// The batch's highest task id: where the next batch starts.
    pub last_task_id: i64,
}

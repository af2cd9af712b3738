//! SQLite statements and fragments that differ from PostgreSQL's (same names in `pg_sql.rs`).
//! SQLite has no row locks: the IMMEDIATE write transaction already excludes other writers.

/// The task's state (the write transaction is the lock).
pub(super) const LOCK_TASK: &str = "SELECT state FROM tasker_tasks WHERE task_id = $1";
/// No row locks on SQLite.
pub(super) const LOCK_ROWS: &str = "";
/// No row locks on SQLite.
pub(super) const LOCK_FREE_ROWS: &str = "";
/// The parents' results (`p`) as one JSON object.
pub(super) const DEPS_AGG: &str = "json_group_object(p.name, json(p.results))";
/// No LISTEN/NOTIFY on SQLite: workers poll.
pub(super) const NOTIFY_READY: Option<&str> = None;
/// Nothing to ask for: no NOTIFY on SQLite (waiters poll).
pub(super) const WATCH_FINISH: Option<&str> = None;
/// Builds a JSON object from key/value pairs.
pub(super) const JSON_OBJECT: &str = "json_object";
/// Where a task hop's transition comes from (alias `up`, column task_id): no DML in CTEs on
/// SQLite, so a one-row relation of the bound task id.
pub(super) const UPDATED_TASK: &str = "(SELECT $1 AS task_id) AS up";
/// Where a completion's transition comes from (alias `d`) and its filter: the step row, once
/// the statement before made it complete.
pub(super) const COMPLETED_STEP: (&str, &str) = (
    "tasker_workflow_steps d",
    " WHERE d.workflow_step_id = $1 AND d.state = 'complete'",
);

/// A task (alias `t`) whose tags (a JSON array of strings) include `{tag}` (a placeholder).
pub(super) const HAS_TAG: &str = "EXISTS (SELECT 1 FROM json_each(t.tags) j WHERE j.value = {tag})";

/// A read transaction: in WAL mode its snapshot is fixed at its first read (a view's several reads agree).
pub(super) const BEGIN_SNAPSHOT: &str = "BEGIN";

//! PostgreSQL statements and fragments that differ from SQLite's (same names in `sqlite_sql.rs`).

/// The task's state, with its row locked for the transaction.
pub(super) const LOCK_TASK: &str = "SELECT state FROM tasker_tasks WHERE task_id = $1 FOR UPDATE";
/// Appended to a multi-task SELECT: lock the rows (in the query's task-id order).
pub(super) const LOCK_ROWS: &str = " FOR UPDATE";
/// Appended to a multi-task SELECT: lock the rows that are free, skip the others.
pub(super) const LOCK_FREE_ROWS: &str = " FOR UPDATE SKIP LOCKED";
/// The parents' results (`p`) as one JSON object.
pub(super) const DEPS_AGG: &str = "jsonb_object_agg(p.name, p.results)";
/// Wakes idle workers (LISTEN on `READY_CHANNEL`, bound as $1).
pub(super) const NOTIFY_READY: Option<&str> = Some("SELECT pg_notify($1, '')");
/// Asks for the NOTIFY on `FINISHED_CHANNEL` when task $1 finishes (migration 0021).
pub(super) const WATCH_FINISH: Option<&str> =
    Some("UPDATE tasker_tasks SET finish_watched = TRUE WHERE task_id = $1 AND NOT finish_watched");
/// Builds a JSON object from key/value pairs.
pub(super) const JSON_OBJECT: &str = "jsonb_build_object";
/// Where a task hop's transition comes from (alias `up`, column task_id): the `up` CTE.
pub(super) const UPDATED_TASK: &str = "up";
/// Where a completion's transition comes from (alias `d`) and its filter: the `done` CTE.
pub(super) const COMPLETED_STEP: (&str, &str) = ("done d", "");

/// A task (alias `t`) whose tags (a JSON array of strings) include `{tag}` (a placeholder).
pub(super) const HAS_TAG: &str = "t.tags @> jsonb_build_array(CAST({tag} AS TEXT))";

/// A read-only transaction on one snapshot (a view's several reads agree).
pub(super) const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

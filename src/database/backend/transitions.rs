//! Appending task and step transition rows.

use super::*;
use crate::state_machine::{self, Entity};
use sqlx::types::Json;
use std::sync::OnceLock;

/// One transition row to append: `id` is the task id or the step id, depending on the entity.
pub(super) struct TransitionRow {
    pub(super) task_id: i64,
    pub(super) id: i64,
    pub(super) step_name: Option<String>,
    pub(super) from: Option<State>,
    pub(super) to: State,
    pub(super) metadata: Value,
}

/// The table of an entity's transitions and its id column.
fn table_of(entity: Entity) -> (&'static str, &'static str) {
    match entity {
        Entity::Step => ("tasker_workflow_step_transitions", "workflow_step_id"),
        Entity::Task => ("tasker_task_transitions", "task_id"),
    }
}

/// Fails unless the state machine allows `from -> to` (checked before every transition write).
pub(super) fn ensure_allowed(entity: Entity, from: State, to: State) -> Result<()> {
    if state_machine::allowed(entity, from, to) {
        return Ok(());
    }
    Err(Error::IllegalTransition {
        entity: match entity {
            Entity::Task => "task",
            Entity::Step => "step",
        },
        from: from.to_string(),
        to: to.to_string(),
    })
}

/// The one "append a transition" writer: SQL inserting the new rows, one per row of the
/// relation `src`. Transitions are insert-only: an entity's current row is the one with the
/// highest `sort_key`, so appending never touches an older row (no flag flip, no dead tuple).
/// The new sort key is the entity's highest plus `step` (10 per appended row), read through the
/// (entity, sort_key) key; writers of one entity are serialised by its step or task row lock.
pub(super) struct Append<'a> {
    pub(super) entity: Entity,
    /// The relation (with its alias) the new rows come from, e.g. `v` or `done d`.
    pub(super) src: &'a str,
    pub(super) id: &'a str,
    pub(super) from: &'a str,
    pub(super) to: &'a str,
    pub(super) metadata: &'a str,
    /// Added to the entity's current sort key (10 per appended row).
    pub(super) step: &'a str,
    /// Joins and WHERE after `src` in the insert.
    pub(super) tail: &'a str,
    pub(super) now: &'a str,
}

impl Append<'_> {
    /// The INSERT ... SELECT (a statement, or a CTE body on PostgreSQL).
    pub(super) fn sql(&self) -> String {
        self.sql_writing(None)
    }

    /// [`Append::sql`] for task transitions on PostgreSQL that also write `finish_watched`
    /// (SQL of the task's flag as the writer read it under the task's row lock; migration
    /// 0024): `false` spares the finish trigger its call for a task nobody waits on, while rows
    /// written without it (NULL) keep being looked up by the trigger.
    pub(super) fn sql_with_finish_watched(&self, watched: &str) -> String {
        self.sql_writing(Some(watched))
    }

    fn sql_writing(&self, watched: Option<&str>) -> String {
        let (table, col) = table_of(self.entity);
        let Append {
            src,
            id,
            from,
            to,
            metadata,
            step,
            tail,
            now,
            ..
        } = self;
        let (watched_col, watched_val) = match watched {
            Some(w) => (", finish_watched", format!(", {w}")),
            None => ("", String::new()),
        };
        format!(
            "INSERT INTO {table} ({col}, from_state, to_state, metadata, sort_key, created_at{watched_col}) \
             SELECT {id}, {from}, {to}, {metadata}, \
             (SELECT COALESCE(MAX(x_.sort_key), 0) FROM {table} x_ WHERE x_.{col} = {id}) + {step}, \
             {now}{watched_val} FROM {src}{tail}"
        )
    }
}

/// The hops that take a task from `current` to `target` (each checked by the caller).
pub(super) fn task_path(current: State, target: State) -> Vec<State> {
    use State::*;
    let path: &[State] = match (current, target) {
        (a, b) if a == b => &[],
        (Pending, Complete) => &[InProgress, Complete],
        (Error, Complete) => &[Pending, InProgress, Complete],
        (Error, InProgress) => &[Pending, InProgress],
        _ => &[],
    };
    if path.is_empty() && current != target {
        vec![target]
    } else {
        path.to_vec()
    }
}

/// The record of one task hop.
pub(super) fn task_record(task_id: i64, from: State, to: State, metadata: &Value) -> Recorded {
    Recorded {
        entity: Entity::Task,
        task_id,
        step_id: None,
        step_name: None,
        from: Some(from),
        to,
        metadata: metadata.clone(),
    }
}

/// One task hop: the task row and its transition row in ONE round trip (a data-modifying CTE
/// on PostgreSQL, one multi-statement call on SQLite). `$1` task, `$2` new state, `$3` whether
/// complete, `$4` time, `$5` old state, `$6` metadata.
pub(super) fn task_hop_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    sql_once(&SQL, build_task_hop_sql)
}

fn build_task_hop_sql() -> String {
    let update = "UPDATE tasker_tasks SET state = $2, complete = $3, \
                  completed_at = CASE WHEN $3 THEN $4 ELSE completed_at END, updated_at = $4 WHERE task_id = $1";
    let insert = Append {
        entity: Entity::Task,
        src: sql::UPDATED_TASK,
        id: "up.task_id",
        from: "$5",
        to: "$2",
        metadata: "$6",
        step: "10",
        tail: "",
        now: "$4",
    }
    .sql();
    if PG {
        format!("WITH up AS ({update} RETURNING task_id) {insert}")
    } else {
        format!("{update}; {insert}")
    }
}

/// One statement (PostgreSQL) or call (SQLite: statements run in order, `$N` shared by number)
/// appending `rows` (distinct entities), each checked against the state machine first. `now` is
/// the placeholder of the time, already in `args`.
pub(super) fn append_rows_sql(
    args: &mut NumberedArgs,
    entity: Entity,
    rows: &[TransitionRow],
    now: &str,
) -> Result<String> {
    for r in rows {
        if let Some(f) = r.from {
            ensure_allowed(entity, f, r.to)?;
        }
    }
    let ids: Vec<String> = rows.iter().map(|r| args.int(r.id)).collect();
    let values = rows
        .iter()
        .zip(&ids)
        .map(|(r, id)| {
            let from = args.opt_text(r.from.map(|s| s.as_str()));
            let to = args.text(r.to.as_str());
            let m = args.json(r.metadata.clone());
            format!("({id}, {from}, {to}, {m})")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let insert = Append {
        entity,
        src: "v",
        id: "v.id",
        from: "v.from_state",
        to: "v.to_state",
        metadata: "v.metadata",
        step: "10",
        tail: "",
        now,
    }
    .sql();
    Ok(format!(
        "WITH v (id, from_state, to_state, metadata) AS (VALUES {values}) {insert}"
    ))
}

impl Backend {
    /// Appends a transition row and records it.
    pub(super) async fn transition(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        entity: Entity,
        task_id: i64,
        step: Option<(i64, &str)>,
        from: Option<State>,
        to: State,
        metadata: Value,
        now: i64,
    ) -> Result<()> {
        let id = match (entity, step) {
            (Entity::Step, Some((sid, _))) => sid,
            _ => task_id,
        };
        let row = TransitionRow {
            task_id,
            id,
            step_name: step.map(|s| s.1.to_string()),
            from,
            to,
            metadata,
        };
        Self::transitions(tx, rec, entity, &[row], now).await
    }

    /// Appends one transition row for each of several distinct entities in ONE statement. An
    /// entity may appear only once per call (all its rows would get the same sort key).
    pub(super) async fn transitions(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        entity: Entity,
        rows: &[TransitionRow],
        now: i64,
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut args = NumberedArgs::default();
        let now = args.int(now);
        let sql = append_rows_sql(&mut args, entity, rows, &now)?;
        args.bind(sqlx::query(&sql)).execute(&mut **tx).await?;
        for r in rows {
            rec.push(Recorded {
                entity,
                task_id: r.task_id,
                step_id: (entity == Entity::Step).then_some(r.id),
                step_name: r.step_name.clone(),
                from: r.from,
                to: r.to,
                metadata: r.metadata.clone(),
            });
        }
        Ok(())
    }

    /// Moves the task (locked by the caller) from `current` to `target` along legal transitions.
    pub(super) async fn drive_task(
        tx: &mut Tx,
        rec: &mut Vec<Recorded>,
        task_id: i64,
        current: State,
        target: State,
        metadata: Value,
        now: i64,
    ) -> Result<()> {
        let path = task_path(current, target);
        let sql = task_hop_sql();
        let mut from = current;
        for to in path {
            ensure_allowed(Entity::Task, from, to)?;
            sqlx::query(sql)
                .bind(task_id)
                .bind(to.as_str())
                .bind(to == State::Complete)
                .bind(now)
                .bind(from.as_str())
                .bind(Json(&metadata))
                .execute(&mut **tx)
                .await?;
            rec.push(task_record(task_id, from, to, &metadata));
            from = to;
        }
        Ok(())
    }
}

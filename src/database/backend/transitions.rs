//! Appending task and step transition rows.

use super::*;
use crate::state_machine::{self, Entity};
use sqlx::types::Json;

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

/// The one "append a transition" writer: SQL expressions for the new rows, one per row of the
/// relation `src`, turned into the two parts every append consists of (see [`Append::sql`]).
pub(super) struct Append<'a> {
    pub(super) entity: Entity,
    /// The relation (with its alias) the new rows come from, e.g. `v` or `done d`.
    pub(super) src: &'a str,
    /// SQLite only: the entity ids whose current row is flipped (PostgreSQL reads them from `src`).
    pub(super) ids: &'a str,
    pub(super) id: &'a str,
    pub(super) from: &'a str,
    pub(super) to: &'a str,
    pub(super) metadata: &'a str,
    /// Added to the entity's current sort key (10 per appended row).
    pub(super) step: &'a str,
    pub(super) most_recent: &'a str,
    /// Joins and WHERE after `src` in the insert.
    pub(super) tail: &'a str,
    pub(super) now: &'a str,
}

impl Append<'_> {
    /// (flip, insert). PostgreSQL: `flip` is a `prev AS (...)` CTE flipping the current rows and
    /// returning their sort keys; the insert reads `prev`, which makes the flip run first, so the
    /// partial unique index on most_recent never sees two current rows (use the insert as the
    /// final statement or as a CTE body). SQLite: two statements to run in this order in one
    /// call; the sort key is read from the table.
    pub(super) fn sql(&self) -> (String, String) {
        let (table, col) = table_of(self.entity);
        let Append {
            src,
            ids,
            id,
            from,
            to,
            metadata,
            step,
            most_recent,
            tail,
            now,
            ..
        } = self;
        let insert =
            "(from_state, to_state, metadata, sort_key, most_recent, created_at, updated_at)";
        let insert = insert.replacen('(', &format!("INSERT INTO {table} ({col}, "), 1);
        if PG {
            (
                format!(
                    "prev AS (UPDATE {table} SET most_recent = FALSE, updated_at = {now} \
                     WHERE {col} IN (SELECT {id} FROM {src}) AND most_recent = TRUE \
                     RETURNING {col} AS id, sort_key)"
                ),
                format!(
                    "{insert} SELECT {id}, {from}, {to}, {metadata}, COALESCE(prev.sort_key, 0) + {step}, \
                     {most_recent}, {now}, {now} FROM {src} LEFT JOIN prev ON prev.id = {id}{tail}"
                ),
            )
        } else {
            (
                format!(
                    "UPDATE {table} SET most_recent = FALSE, updated_at = {now} \
                     WHERE most_recent = TRUE AND {col} IN ({ids})"
                ),
                format!(
                    "{insert} SELECT {id}, {from}, {to}, {metadata}, \
                     (SELECT COALESCE(MAX(sort_key), 0) + {step} FROM {table} WHERE {col} = {id}), \
                     {most_recent}, {now}, {now} FROM {src}{tail}"
                ),
            )
        }
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
    let ids = ids.join(", ");
    let (flip, insert) = Append {
        entity,
        src: "v",
        ids: &ids,
        id: "v.id",
        from: "v.from_state",
        to: "v.to_state",
        metadata: "v.metadata",
        step: "10",
        most_recent: "TRUE",
        tail: "",
        now,
    }
    .sql();
    let v = format!("v (id, from_state, to_state, metadata) AS (VALUES {values})");
    Ok(if PG {
        format!("WITH {v}, {flip} {insert}")
    } else {
        format!("{flip}; WITH {v} {insert}")
    })
}

impl Backend {
    /// Appends a transition row (the previous one stops being `most_recent`) and records it.
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

    /// Appends one transition row for each of several distinct entities in ONE statement (one
    /// round trip instead of two per row: the flag flip of the previous `most_recent` row and the
    /// insert of the new one travel together). An entity may appear only once per call.
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
        use State::*;
        let path: &[State] = match (current, target) {
            (a, b) if a == b => &[],
            (Pending, Complete) => &[InProgress, Complete],
            (Error, Complete) => &[Pending, InProgress, Complete],
            (Error, InProgress) => &[Pending, InProgress],
            _ => &[],
        };
        let path: Vec<State> = if path.is_empty() && current != target {
            vec![target]
        } else {
            path.to_vec()
        };
        // Each hop is ONE round trip: the task row and its transition row (a data-modifying CTE
        // on PostgreSQL, one multi-statement call on SQLite).
        let update = "UPDATE tasker_tasks SET state = $2, complete = $3, \
                      completed_at = CASE WHEN $3 THEN $4 ELSE completed_at END, updated_at = $4 WHERE task_id = $1";
        let (flip, insert) = Append {
            entity: Entity::Task,
            src: sql::UPDATED_TASK,
            ids: "$1",
            id: "up.task_id",
            from: "$5",
            to: "$2",
            metadata: "$6",
            step: "10",
            most_recent: "TRUE",
            tail: "",
            now: "$4",
        }
        .sql();
        let sql = if PG {
            format!("WITH up AS ({update} RETURNING task_id), {flip} {insert}")
        } else {
            format!("{update}; {flip}; {insert}")
        };
        let mut from = current;
        for to in path {
            ensure_allowed(Entity::Task, from, to)?;
            sqlx::query(&sql)
                .bind(task_id)
                .bind(to.as_str())
                .bind(to == Complete)
                .bind(now)
                .bind(from.as_str())
                .bind(Json(&metadata))
                .execute(&mut **tx)
                .await?;
            rec.push(Recorded {
                entity: Entity::Task,
                task_id,
                step_id: None,
                step_name: None,
                from: Some(from),
                to,
                metadata: metadata.clone(),
            });
            from = to;
        }
        Ok(())
    }
}

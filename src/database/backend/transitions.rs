//! Appending task and step transition rows.

use super::*;
use crate::state_machine::{self, Entity};
use sqlx::types::Json;
use sqlx::QueryBuilder;

/// One transition row to append: `id` is the task id or the step id, depending on the entity.
pub(super) struct TransitionRow {
    pub(super) task_id: i64,
    pub(super) id: i64,
    pub(super) step_name: Option<String>,
    pub(super) from: Option<State>,
    pub(super) to: State,
    pub(super) metadata: Value,
}

/// SQLite statements appending one step transition `from -> to` per row (step id, metadata):
/// flip the current rows, then insert the new ones (sort key = the step's highest + 10).
pub(super) fn sqlite_step_transitions_sql(
    args: &mut NumberedArgs,
    rows: &[(i64, Value)],
    from: &str,
    to: &str,
    now: &str,
) -> String {
    let ids: Vec<String> = rows.iter().map(|(id, _)| args.int(*id)).collect();
    let values = rows
        .iter()
        .zip(&ids)
        .map(|((_, m), id)| {
            let m = args.json(m.clone());
            format!(
                "({id}, '{from}', '{to}', {m}, (SELECT COALESCE(MAX(sort_key), 0) + 10 \
                 FROM tasker_workflow_step_transitions WHERE workflow_step_id = {id}), TRUE, {now}, {now})"
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE tasker_workflow_step_transitions SET most_recent = FALSE, updated_at = {now} \
         WHERE most_recent = TRUE AND workflow_step_id IN ({}); \
         INSERT INTO tasker_workflow_step_transitions \
         (workflow_step_id, from_state, to_state, metadata, sort_key, most_recent, created_at, updated_at) VALUES {values}",
        ids.join(", ")
    )
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
        for r in rows {
            if let Some(f) = r.from {
                if !state_machine::allowed(entity, f, r.to) {
                    return Err(Error::IllegalTransition {
                        entity: if entity == Entity::Task {
                            "task"
                        } else {
                            "step"
                        },
                        from: f.to_string(),
                        to: r.to.to_string(),
                    });
                }
            }
        }
        let (table, col) = match entity {
            Entity::Step => ("tasker_workflow_step_transitions", "workflow_step_id"),
            Entity::Task => ("tasker_task_transitions", "task_id"),
        };
        let mut qb: QueryBuilder<Db> = QueryBuilder::new("");
        if PG {
            // A data-modifying CTE: `prev` flips the old row; reading its RETURNING (for the
            // sort key) makes it run before the insert, so the partial unique index on
            // most_recent never sees two current rows.
            qb.push("WITH v (id, from_state, to_state, metadata) AS (");
            qb.push_values(rows, |mut b, r| {
                b.push_bind(r.id)
                    .push_bind(r.from.map(|s| s.as_str()))
                    .push_bind(r.to.as_str())
                    .push_bind(Json(&r.metadata));
            });
            qb.push(format!(
                "), prev AS (UPDATE {table} SET most_recent = FALSE, updated_at = "
            ));
            qb.push_bind(now);
            qb.push(format!(
                " WHERE {col} IN (SELECT id FROM v) AND most_recent = TRUE RETURNING {col} AS id, sort_key) \
                 INSERT INTO {table} ({col}, from_state, to_state, metadata, sort_key, most_recent, created_at, updated_at) \
                 SELECT v.id, v.from_state, v.to_state, v.metadata, COALESCE(prev.sort_key, 0) + 10, TRUE, "
            ));
            qb.push_bind(now);
            qb.push(", ");
            qb.push_bind(now);
            qb.push(" FROM v LEFT JOIN prev ON prev.id = v.id");
        } else {
            // SQLite runs several statements of one query string in order, in one call to its
            // connection thread; `$N` parameters are shared by position.
            qb.push(format!(
                "UPDATE {table} SET most_recent = FALSE, updated_at = "
            ));
            qb.push_bind(now);
            qb.push(format!(" WHERE most_recent = TRUE AND {col} IN ("));
            let mut ids = qb.separated(", ");
            for r in rows {
                ids.push_bind(r.id);
            }
            qb.push(format!(
                "); INSERT INTO {table} ({col}, from_state, to_state, metadata, sort_key, most_recent, created_at, updated_at) "
            ));
            qb.push_values(rows, |mut b, r| {
                b.push_bind(r.id)
                    .push_bind(r.from.map(|s| s.as_str()))
                    .push_bind(r.to.as_str())
                    .push_bind(Json(&r.metadata))
                    .push(format!(
                        "(SELECT COALESCE(MAX(sort_key), 0) + 10 FROM {table} WHERE {col} = "
                    ))
                    .push_bind_unseparated(r.id)
                    .push_unseparated(")")
                    .push("TRUE")
                    .push_bind(now)
                    .push_bind(now);
            });
        }
        qb.build().execute(&mut **tx).await?;
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
        let cols = "(task_id, from_state, to_state, metadata, sort_key, most_recent, created_at, updated_at)";
        let sql = if PG {
            format!(
                "WITH up AS ({update} RETURNING task_id), \
                 prev AS (UPDATE tasker_task_transitions SET most_recent = FALSE, updated_at = $4 \
                 WHERE task_id IN (SELECT task_id FROM up) AND most_recent = TRUE RETURNING sort_key) \
                 INSERT INTO tasker_task_transitions {cols} \
                 SELECT task_id, $5, $2, $6, COALESCE((SELECT sort_key FROM prev), 0) + 10, TRUE, $4, $4 FROM up"
            )
        } else {
            format!(
                "{update}; \
                 UPDATE tasker_task_transitions SET most_recent = FALSE, updated_at = $4 WHERE task_id = $1 AND most_recent = TRUE; \
                 INSERT INTO tasker_task_transitions {cols} VALUES ($1, $5, $2, $6, \
                 (SELECT COALESCE(MAX(sort_key), 0) + 10 FROM tasker_task_transitions WHERE task_id = $1), TRUE, $4, $4)"
            )
        };
        let mut from = current;
        for to in path {
            if !state_machine::allowed(Entity::Task, from, to) {
                return Err(crate::error::Error::IllegalTransition {
                    entity: "task",
                    from: from.to_string(),
                    to: to.to_string(),
                });
            }
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

//! TaskFinalizer's one-statement path (PostgreSQL): the completion of 1..n claimed steps of
//! running tasks as ONE data-modifying CTE in autocommit — the task rows locked first in
//! task-id order, the fenced outcomes, their transitions, the children's parent counters, the
//! tasks' unfinished counters with the completion of every task left with nothing, its
//! transition and the NOTIFY for released children. One round trip and one commit, where the
//! transactional path (`complete.rs`) takes BEGIN, four to six statements and COMMIT.
//!
//! It handles the common case only: a step whose claim is stale or whose task is not
//! `in_progress` (cancelled, blocked, still pending) is left out (`None` in its slot) and the
//! caller completes it through the transactional path, which knows every case.

use super::*;
use crate::state_machine::Entity;
use sqlx::types::Json;
use sqlx::Row;
use std::sync::OnceLock;

/// The statement; `$1` is a JSON array of `{id, token, task, results}`, `$2` the time. With
/// `notify`, it also wakes idle workers when it released a child (complete_and_claim_fn.rs
/// claims first and wakes them only for what it left).
pub(super) fn complete_sql(notify: bool) -> Result<&'static str> {
    static SQL: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    sql_once_checked(&SQL[usize::from(notify)], || build_complete_sql(notify))
}

fn build_complete_sql(notify: bool) -> Result<String> {
    ensure_allowed(Entity::Step, State::InProgress, State::Complete)?;
    ensure_allowed(Entity::Task, State::InProgress, State::Complete)?;
    let steps = Append {
        entity: Entity::Step,
        src: "done d",
        id: "d.workflow_step_id",
        from: "'in_progress'",
        to: "'complete'",
        metadata: "jsonb_build_object('attempt', d.attempts, \
                   'execution_duration_ms', $2 - COALESCE(d.last_attempted_at, $2))",
        step: "10",
        tail: "",
        now: "$2",
    }
    .sql();
    // The task's finish_watched as `tk` returns it: read under the row lock `lk` took, so a
    // waiter that committed before it is seen (the trigger then NOTIFYs), and one that comes
    // later waits for this commit and then reads the finished task (migrations 0021, 0024).
    let tasks = Append {
        entity: Entity::Task,
        src: "tk",
        id: "tk.task_id",
        from: "'in_progress'",
        to: "'complete'",
        metadata: "'{}'::jsonb",
        step: "10",
        tail: " WHERE tk.unfinished_steps = 0",
        now: "$2",
    }
    .sql_with_finish_watched("tk.finish_watched");
    let rel = release_children_sql(
        "SELECT workflow_step_id FROM done",
        "$2",
        "s.workflow_step_id, s.task_id, s.pending_parents, s.ready_at",
    );
    let (nf, nf_row) = if notify {
        (
            format!(
                ", nf AS (SELECT pg_notify('{READY_CHANNEL}', '') FROM (SELECT 1 FROM rel \
                 WHERE rel.pending_parents = 0 AND rel.ready_at IS NOT NULL LIMIT 1) AS x)"
            ),
            " UNION ALL SELECT 3, 0, 0, 0, NULL, NULL FROM nf",
        )
    } else {
        (String::new(), "")
    };
    // Ids are given as ARRAY(...) (init plans), for two reasons: rows are found by primary key
    // (joined with `v`, estimated at 100 rows, the generic plan scanned the whole tasks table
    // for `lk`, a cost growing with every task ever run; docs/PERFORMANCE.md), and the `done`
    // update takes every task lock, in order, before its first step row lock: the lock order of
    // every other writer, task then its steps.
    Ok(format!(
        "WITH v AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS v(id bigint, token text, task bigint, results jsonb)), \
         lk AS (SELECT t.task_id, t.state FROM tasker_tasks t WHERE t.task_id = ANY(ARRAY(SELECT task FROM v)) \
         ORDER BY t.task_id FOR UPDATE), \
         done AS (UPDATE tasker_workflow_steps s SET state = 'complete', results = v.results, processed_at = $2, \
         claim_token = NULL, lease_expires_at = NULL, ready_at = NULL, updated_at = $2 FROM v \
         WHERE s.workflow_step_id = ANY(ARRAY(SELECT id FROM v)) \
         AND s.workflow_step_id = v.id AND s.claim_token = v.token AND s.state = 'in_progress' \
         AND s.task_id = ANY(ARRAY(SELECT task_id FROM lk WHERE state = 'in_progress')) \
         RETURNING s.workflow_step_id, s.task_id, s.name, s.attempts, s.last_attempted_at), \
         ins AS ({steps}), \
         rel AS ({rel}), \
         cnt AS (SELECT task_id, COUNT(*) AS n FROM done GROUP BY task_id), \
         tk AS (UPDATE tasker_tasks t SET unfinished_steps = t.unfinished_steps - cnt.n, \
         state = CASE WHEN t.unfinished_steps = cnt.n THEN 'complete' ELSE t.state END, \
         complete = (t.unfinished_steps = cnt.n), \
         completed_at = CASE WHEN t.unfinished_steps = cnt.n THEN $2 ELSE t.completed_at END, updated_at = $2 \
         FROM cnt WHERE t.task_id = cnt.task_id RETURNING t.task_id, t.unfinished_steps, t.finish_watched), \
         tins AS ({tasks}){nf} \
         SELECT 0 AS kind, workflow_step_id AS id, task_id, attempts AS n, last_attempted_at AS at, name FROM done \
         UNION ALL SELECT 1, workflow_step_id, task_id, pending_parents, ready_at, NULL FROM rel \
         UNION ALL SELECT 2, task_id, task_id, unfinished_steps, NULL, NULL FROM tk{nf_row}"
    ))
}

/// One step to complete, borrowed (its results are serialised once, straight into the
/// statement's `$1`, whose elements these are).
#[derive(serde::Serialize)]
pub(super) struct CompletionRow<'a> {
    /// The step id.
    pub(super) id: i64,
    pub(super) token: &'a str,
    /// The task id.
    pub(super) task: i64,
    pub(super) results: &'a Value,
}

impl<'a> From<&'a Completion> for CompletionRow<'a> {
    fn from(c: &'a Completion) -> CompletionRow<'a> {
        CompletionRow {
            id: c.step_id,
            token: &c.claim_token,
            task: c.task_id,
            results: &c.results,
        }
    }
}

impl Backend {
    /// Completes `items` in one autocommit statement (PostgreSQL only; see the module doc).
    /// One slot per item: `Some` when written here, `None` when the caller must complete the
    /// item through the transactional path (stale claim, or a task not in progress). Children
    /// released by the group are reported on the first completion of their task; a task's
    /// completion on its last completion in `items`.
    pub(super) async fn complete_autocommit(
        &self,
        items: &[CompletionRow<'_>],
        now: i64,
    ) -> Result<Vec<Option<StepSettled>>> {
        let mut conn = self.checkout().await?;
        let rows = sqlx::query(complete_sql(true)?)
            .bind(Json(items))
            .bind(now)
            .fetch_all(&mut *conn)
            .await?;
        conn.done();
        let rows = rows
            .iter()
            .map(|r| {
                Ok(SettledRow {
                    kind: r.try_get("kind")?,
                    id: r.try_get("id")?,
                    task_id: r.try_get("task_id")?,
                    n: r.try_get("n")?,
                    at: r.try_get("at")?,
                    name: r.try_get("name")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        settle_rows(items, now, &rows)
    }
}

/// One row of the statement: kind 0 = a completed step (`n` its attempts, `at` when it
/// started, `name`), 1 = a child (`n` its pending parents, `at` its ready_at), 2 = a task (`n`
/// its unfinished steps), 3 = the NOTIFY.
#[derive(serde::Deserialize)]
pub(super) struct SettledRow {
    kind: i32,
    id: i64,
    task_id: i64,
    n: i64,
    at: Option<i64>,
    name: Option<String>,
}

/// The settled items of the statement's `rows` (see [`Backend::complete_autocommit`]).
pub(super) fn settle_rows(
    items: &[CompletionRow<'_>],
    now: i64,
    rows: &[SettledRow],
) -> Result<Vec<Option<StepSettled>>> {
    let mut out: Vec<Option<StepSettled>> = (0..items.len()).map(|_| None).collect();
    let slot = |step_id: i64| items.iter().position(|i| i.id == step_id);
    let mut children: Vec<(i64, i64)> = Vec::new();
    let mut finished: Vec<i64> = Vec::new();
    for r in rows {
        let (kind, id, task_id, n, at) = (r.kind, r.id, r.task_id, r.n, r.at);
        match kind {
            0 => {
                let k =
                    slot(id).ok_or_else(|| Error::Internal("completed an unknown step".into()))?;
                out[k] = Some(StepSettled {
                    recorded: vec![Recorded {
                        entity: Entity::Step,
                        task_id,
                        step_id: Some(id),
                        step_name: r.name.clone(),
                        from: Some(State::InProgress),
                        to: State::Complete,
                        metadata: serde_json::json!({
                            "attempt": n,
                            "execution_duration_ms": now - at.unwrap_or(now),
                        }),
                    }],
                    ..Default::default()
                });
            }
            1 if n == 0 && at.is_some() => children.push((task_id, id)),
            2 if n == 0 => finished.push(task_id),
            _ => {}
        }
    }
    for (task_id, child) in children {
        let first = items
            .iter()
            .enumerate()
            .find(|(k, i)| i.task == task_id && out[*k].is_some())
            .map(|(k, _)| k);
        if let Some(s) = first.and_then(|k| out[k].as_mut()) {
            s.newly_ready.push(child);
        }
    }
    for task_id in finished {
        let last = items
            .iter()
            .enumerate()
            .rev()
            .find(|(k, i)| i.task == task_id && out[*k].is_some())
            .map(|(k, _)| k);
        if let Some(s) = last.and_then(|k| out[k].as_mut()) {
            s.task_finished = true;
            s.recorded.push(Recorded {
                entity: Entity::Task,
                task_id,
                step_id: None,
                step_name: None,
                from: Some(State::InProgress),
                to: State::Complete,
                metadata: serde_json::json!({}),
            });
        }
    }
    Ok(out)
}

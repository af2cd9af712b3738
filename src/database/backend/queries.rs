//! Listings: `list_tasks` and `list_steps`, newest first with keyset pagination on the id (a
//! page is `id < cursor ORDER BY id DESC LIMIT n+1`, walked down the primary key, so rows
//! inserted meanwhile, which get higher ids, never shift a later page).

use super::views::{step_count_columns, step_counts};
use super::*;
use sqlx::Row;

/// A step (alias `s`) in error with no retry left (blocks its task); `steps_exhausted_idx`.
const EXHAUSTED: &str = "s.state = 'error' AND s.ready_at IS NULL \
     AND COALESCE(s.batch_failure, '') <> 'continue_on_failure'";

/// A step of task `t` matching `cond` exists (through the (task_id, name) key).
fn step_exists(cond: &str) -> String {
    format!("EXISTS (SELECT 1 FROM tasker_workflow_steps s WHERE s.task_id = t.task_id AND {cond})")
}

/// The task's `execution_status`, as `ExecutionContext::from_counts` derives it, in SQL.
fn execution_status_sql(now: &str) -> String {
    format!(
        "CASE WHEN {} THEN 'blocked_by_failures' \
         WHEN t.state IN {STATES_ACTIVE} AND {} THEN 'has_ready_steps' \
         WHEN {} THEN 'processing' \
         WHEN {} AND NOT {} THEN 'all_complete' \
         ELSE 'waiting_for_dependencies' END",
        step_exists(EXHAUSTED),
        step_exists(&format!(
            "s.ready_at IS NOT NULL AND s.pending_parents = 0 AND s.ready_at <= {now}"
        )),
        step_exists("s.state = 'in_progress'"),
        step_exists("TRUE"),
        // A tolerated batch failure is finished, like a completed step.
        step_exists(
            "s.state NOT IN ('complete','resolved_manually') \
             AND NOT (s.state = 'error' AND s.ready_at IS NULL \
             AND COALESCE(s.batch_failure, '') = 'continue_on_failure')"
        ),
    )
}

/// `col IN (...)` of the given states (state names are the library's own words, not input).
fn states_in(col: &str, states: &[State]) -> String {
    let list: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
    format!("{col} IN ({})", list.join(","))
}

/// The status's name in SQL, as serde writes it.
fn status_name(s: ExecutionStatus) -> Result<String> {
    match serde_json::to_value(s)? {
        Value::String(name) => Ok(name),
        other => Err(Error::Internal(format!("execution status as {other}"))),
    }
}

/// ` WHERE a AND b ...`, or nothing without conditions.
fn where_clause(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

/// The page's next cursor: the last item's id when a further row was found.
fn next_cursor<T>(items: &mut Vec<T>, limit: u32, id: impl Fn(&T) -> i64) -> Option<String> {
    if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|i| id(i).to_string())
    } else {
        None
    }
}

impl Backend {
    pub async fn list_tasks(&self, f: &TaskFilter, now: i64) -> Result<TaskPage> {
        let limit = page_limit(f.limit)?;
        let mut a = NumberedArgs::default();
        let mut conds: Vec<String> = Vec::new();
        if let Some(c) = cursor_id(f.cursor.as_deref())? {
            conds.push(format!("t.task_id < {}", a.int(c)));
        }
        if !f.states.is_empty() {
            conds.push(states_in("t.state", &f.states));
        }
        for (col, v) in [
            ("ns.name", &f.namespace),
            ("nt.name", &f.name),
            ("nt.version", &f.version),
            ("t.initiator", &f.initiator),
            ("t.source_system", &f.source_system),
        ] {
            if let Some(v) = v {
                conds.push(format!("{col} = {}", a.text(v)));
            }
        }
        for tag in &f.tags {
            conds.push(sql::HAS_TAG.replace("{tag}", &a.text(tag)));
        }
        for (col, op, v) in [
            ("t.created_at", ">=", f.created_from),
            ("t.created_at", "<", f.created_to),
            ("t.updated_at", ">=", f.updated_from),
            ("t.updated_at", "<", f.updated_to),
        ] {
            if let Some(v) = v {
                conds.push(format!("{col} {op} {}", a.int(v)));
            }
        }
        match f.execution_status {
            // The CASE's first branch alone: a semi-join on the exhausted-steps index instead
            // of the whole CASE per task (1.2 s -> 39 ms for a page at 1M tasks).
            Some(ExecutionStatus::BlockedByFailures) => conds.push(step_exists(EXHAUSTED)),
            Some(status) => {
                let now = a.int(now);
                conds.push(format!(
                    "({}) = {}",
                    execution_status_sql(&now),
                    a.text(&status_name(status)?)
                ));
            }
            None => {}
        }
        let filter = where_clause(&conds);
        let sql = format!(
            "SELECT t.task_id, ns.name, nt.name, nt.version, t.state, t.initiator, t.source_system, \
             t.tags, t.created_at, t.updated_at \
             FROM tasker_tasks t JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id \
             JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id\
             {filter} ORDER BY t.task_id DESC LIMIT {}",
            i64::from(limit) + 1
        );
        let rows = a.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let task_id: i64 = r.try_get(0)?;
            let state = state_of(&r.try_get::<String, _>(4)?)?;
            let tags = view_json(r, "tags")?.unwrap_or_default();
            items.push(TaskSummary {
                task_id,
                namespace: r.try_get(1)?,
                name: r.try_get(2)?,
                version: r.try_get(3)?,
                state,
                initiator: r.try_get(5)?,
                source_system: r.try_get(6)?,
                tags,
                created_at: r.try_get(8)?,
                updated_at: r.try_get(9)?,
                execution: ExecutionContext::from_counts(task_id, state, Default::default()),
            });
        }
        let next_cursor = next_cursor(&mut items, limit, |t| t.task_id);
        self.fill_counts(&mut items, now).await?;
        Ok(Page { items, next_cursor })
    }

    /// The step counts of a page's tasks, in one grouped query.
    async fn fill_counts(&self, items: &mut [TaskSummary], now: i64) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        // Ids read from the database, not input: safe to inline.
        let ids: Vec<String> = items.iter().map(|t| t.task_id.to_string()).collect();
        let rows = sqlx::query(&format!(
            "SELECT task_id, {} FROM tasker_workflow_steps WHERE task_id IN ({}) GROUP BY task_id",
            step_count_columns("$1"),
            ids.join(",")
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let task_id: i64 = r.try_get(0)?;
            if let Some(t) = items.iter_mut().find(|t| t.task_id == task_id) {
                t.execution =
                    ExecutionContext::from_counts(task_id, t.state, step_counts(r, 1, t.state)?);
            }
        }
        Ok(())
    }

    pub async fn list_steps(&self, f: &StepFilter, now: i64) -> Result<StepPage> {
        let limit = page_limit(f.limit)?;
        let mut a = NumberedArgs::default();
        let mut conds: Vec<String> = Vec::new();
        if let Some(c) = cursor_id(f.cursor.as_deref())? {
            conds.push(format!("s.workflow_step_id < {}", a.int(c)));
        }
        if let Some(t) = f.task_id {
            conds.push(format!("s.task_id = {}", a.int(t)));
        }
        if !f.states.is_empty() {
            conds.push(states_in("s.state", &f.states));
        }
        if let Some(h) = &f.handler {
            conds.push(format!("s.handler_name = {}", a.text(h)));
        }
        if let Some(cond) = f.condition {
            let now = a.int(now);
            conds.push(match cond {
                StepCondition::InBackoff => format!("s.state = 'error' AND s.ready_at > {now}"),
                StepCondition::Exhausted => EXHAUSTED.into(),
                StepCondition::LeaseExpired => {
                    format!("s.state = 'in_progress' AND s.lease_expires_at < {now}")
                }
                StepCondition::LeaseActive => {
                    format!("s.state = 'in_progress' AND s.lease_expires_at >= {now}")
                }
            });
        }
        let filter = where_clause(&conds);
        let sql = format!(
            "SELECT s.workflow_step_id, s.task_id, s.name, s.handler_name, s.state, s.attempts, \
             s.retry_limit, s.ready_at, s.lease_expires_at, s.last_attempted_at, s.created_at, \
             s.updated_at FROM tasker_workflow_steps s{filter} \
             ORDER BY s.workflow_step_id DESC LIMIT {}",
            i64::from(limit) + 1
        );
        let rows = a.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            items.push(StepSummary {
                step_id: r.try_get(0)?,
                task_id: r.try_get(1)?,
                name: r.try_get(2)?,
                handler: r.try_get(3)?,
                state: state_of(&r.try_get::<String, _>(4)?)?,
                attempts: r.try_get(5)?,
                retry_limit: r.try_get(6)?,
                next_attempt_at: r.try_get(7)?,
                lease_expires_at: r.try_get(8)?,
                last_attempted_at: r.try_get(9)?,
                created_at: r.try_get(10)?,
                updated_at: r.try_get(11)?,
            });
        }
        let next_cursor = next_cursor(&mut items, limit, |s| s.step_id);
        Ok(Page { items, next_cursor })
    }
}

//! Read-only views: task view, execution context, health, counts, step lookups.

use super::*;
use sqlx::Row;
use std::collections::HashMap;

impl Backend {
    pub async fn step_task_id(&self, step_id: i64) -> Result<i64> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT task_id FROM tasker_workflow_steps WHERE workflow_step_id = $1",
        )
        .bind(step_id)
        .fetch_optional(&self.pool)
        .await?;
        id.ok_or(Error::StepNotFound(step_id))
    }

    pub async fn step_status(&self, step_id: i64) -> Result<(i64, State, Option<i64>, i64)> {
        let r = sqlx::query(
            "SELECT task_id, state, ready_at, pending_parents FROM tasker_workflow_steps WHERE workflow_step_id = $1",
        )
        .bind(step_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::StepNotFound(step_id))?;
        Ok((
            r.try_get(0)?,
            state_of(&r.try_get::<String, _>(1)?)?,
            r.try_get(2)?,
            r.try_get(3)?,
        ))
    }

    pub async fn ready_step_ids(&self, task_id: i64, now: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT ws.workflow_step_id FROM tasker_workflow_steps ws JOIN tasker_tasks t ON t.task_id = ws.task_id \
             WHERE ws.task_id = $1 AND ws.ready_at IS NOT NULL AND ws.pending_parents = 0 AND ws.ready_at <= $2 \
             AND t.state IN {STATES_ACTIVE} ORDER BY ws.workflow_step_id"
        ))
        .bind(task_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(super) async fn counts(&self, task_id: i64, now: i64) -> Result<(State, StepCounts)> {
        Self::counts_on(&self.pool, task_id, now).await
    }

    /// [`Backend::counts`] on any executor (a pool, or a view's read transaction).
    async fn counts_on<'c, E>(db: E, task_id: i64, now: i64) -> Result<(State, StepCounts)>
    where
        E: sqlx::Executor<'c, Database = Db>,
    {
        // The task's state rides along as a scalar subquery: one round trip (NULL = no such task).
        let r = sqlx::query(&format!(
            "SELECT {}, (SELECT state FROM tasker_tasks WHERE task_id = $1) \
             FROM tasker_workflow_steps WHERE task_id = $1",
            step_count_columns("$2")
        ))
        .bind(task_id)
        .bind(now)
        .fetch_one(db)
        .await?;
        let state: Option<String> = r.try_get(STEP_COUNT_COLUMNS)?;
        let state = state_of(&state.ok_or(Error::TaskNotFound(task_id))?)?;
        Ok((state, step_counts(&r, 0, state)?))
    }

    pub async fn execution_context(&self, task_id: i64, now: i64) -> Result<ExecutionContext> {
        let (state, c) = self.counts(task_id, now).await?;
        Ok(ExecutionContext::from_counts(task_id, state, c))
    }

    pub async fn task_view(&self, task_id: i64, now: i64) -> Result<TaskView> {
        // One snapshot for every read of the view: read one by one, a commit in between showed
        // a complete task beside the execution counts of before its last step.
        let mut tx = self.pool.begin_with(sql::BEGIN_SNAPSHOT).await?;
        let (state, counts) = Self::counts_on(&mut *tx, task_id, now).await?;
        let execution = ExecutionContext::from_counts(task_id, state, counts);
        let t = sqlx::query(
            "SELECT t.task_id, t.state, t.complete, t.context, t.initiator, t.source_system, t.reason, t.tags, \
             t.bypass_steps, t.identity_hash, t.requested_at, t.completed_at, t.deadline_at, nt.name, nt.version, ns.name AS namespace \
             FROM tasker_tasks t JOIN tasker_named_tasks nt ON nt.named_task_id = t.named_task_id \
             JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id WHERE t.task_id = $1",
        )
        .bind(task_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::TaskNotFound(task_id))?;
        let steps = sqlx::query(
            &format!(
                "SELECT workflow_step_id, name, handler_name, state, attempts, retry_limit, retryable, skippable, inputs, \
                 results, last_attempted_at, processed_at, ready_at, backoff_request_ms, priority, timeout_ms, \
                 concurrency_key, concurrency_limit, {} \
                 FROM tasker_workflow_steps s WHERE task_id = $1 ORDER BY workflow_step_id",
                checkpoint_column("s")
            ),
        )
        .bind(task_id)
        .fetch_all(&mut *tx)
        .await?;
        let edges = sqlx::query(
            "SELECT e.to_step_id, p.name FROM tasker_workflow_step_edges e \
             JOIN tasker_workflow_steps p ON p.workflow_step_id = e.from_step_id \
             WHERE p.task_id = $1 ORDER BY e.to_step_id, p.workflow_step_id",
        )
        .bind(task_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut parents: HashMap<i64, Vec<String>> = HashMap::new();
        for e in edges {
            parents
                .entry(e.try_get(0)?)
                .or_default()
                .push(e.try_get(1)?);
        }
        let step_transitions = sqlx::query(
            "SELECT tr.workflow_step_id, tr.from_state, tr.to_state, tr.metadata, tr.sort_key, tr.created_at \
             FROM tasker_workflow_step_transitions tr JOIN tasker_workflow_steps s ON s.workflow_step_id = tr.workflow_step_id \
             WHERE s.task_id = $1 ORDER BY tr.workflow_step_id, tr.sort_key",
        )
        .bind(task_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut st_by_step: HashMap<i64, Vec<TransitionView>> = HashMap::new();
        for r in &step_transitions {
            st_by_step
                .entry(r.try_get(0)?)
                .or_default()
                .push(transition_view(r, 1)?);
        }
        let task_transitions = sqlx::query(
            "SELECT task_id, from_state, to_state, metadata, sort_key, created_at \
             FROM tasker_task_transitions WHERE task_id = $1 ORDER BY sort_key",
        )
        .bind(task_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut step_views = Vec::with_capacity(steps.len());
        for s in steps {
            let id: i64 = s.try_get("workflow_step_id")?;
            let state = state_of(&s.try_get::<String, _>("state")?)?;
            let ready_at: Option<i64> = s.try_get("ready_at")?;
            let inputs = view_json(&s, "inputs")?.unwrap_or_default();
            let results = view_json(&s, "results")?;
            step_views.push(StepView {
                step_id: id,
                name: s.try_get("name")?,
                handler: s.try_get("handler_name")?,
                state,
                attempts: s.try_get("attempts")?,
                retry_limit: s.try_get("retry_limit")?,
                retryable: s.try_get("retryable")?,
                skippable: s.try_get("skippable")?,
                inputs,
                results,
                last_attempted_at: s.try_get("last_attempted_at")?,
                processed_at: s.try_get("processed_at")?,
                next_attempt_at: ready_at,
                backoff_request_ms: s.try_get("backoff_request_ms")?,
                priority: s.try_get("priority")?,
                timeout_ms: s.try_get("timeout_ms")?,
                concurrency_key: s.try_get("concurrency_key")?,
                concurrency_limit: s.try_get("concurrency_limit")?,
                checkpoint: view_json(&s, "checkpoint")?,
                parents: parents.remove(&id).unwrap_or_default(),
                transitions: mark_most_recent(st_by_step.remove(&id).unwrap_or_default()),
            });
        }
        let context = view_json(&t, "context")?.unwrap_or_default();
        let tags = view_json(&t, "tags")?.unwrap_or_default();
        let bypass = view_json(&t, "bypass_steps")?.unwrap_or_default();
        Ok(TaskView {
            task_id,
            namespace: t.try_get("namespace")?,
            name: t.try_get("name")?,
            version: t.try_get("version")?,
            state: state_of(&t.try_get::<String, _>("state")?)?,
            complete: t.try_get("complete")?,
            context,
            initiator: t.try_get("initiator")?,
            source_system: t.try_get("source_system")?,
            reason: t.try_get("reason")?,
            tags,
            bypass_steps: bypass,
            identity_hash: t.try_get("identity_hash")?,
            requested_at: t.try_get("requested_at")?,
            completed_at: t.try_get("completed_at")?,
            deadline_at: t.try_get("deadline_at")?,
            steps: step_views,
            transitions: mark_most_recent(
                task_transitions
                    .iter()
                    .map(|r| transition_view(r, 1))
                    .collect::<Result<_>>()?,
            ),
            execution,
        })
    }

    pub async fn health(&self, now: i64) -> Result<HealthCounts> {
        let t = sqlx::query(
            "SELECT COUNT(*), \
             COUNT(*) FILTER (WHERE state = 'pending'), COUNT(*) FILTER (WHERE state = 'in_progress'), \
             COUNT(*) FILTER (WHERE state = 'complete'), COUNT(*) FILTER (WHERE state = 'error'), \
             COUNT(*) FILTER (WHERE state = 'cancelled'), COUNT(*) FILTER (WHERE state = 'resolved_manually') \
             FROM tasker_tasks",
        )
        .fetch_one(&self.pool)
        .await?;
        let s = sqlx::query(&format!(
            "SELECT COUNT(*), \
             COUNT(*) FILTER (WHERE state = 'pending'), COUNT(*) FILTER (WHERE state = 'in_progress'), \
             COUNT(*) FILTER (WHERE state = 'complete'), COUNT(*) FILTER (WHERE state = 'error'), \
             COUNT(*) FILTER (WHERE state = 'cancelled'), COUNT(*) FILTER (WHERE state = 'resolved_manually'), \
             COUNT(*) FILTER (WHERE state = 'error' AND ready_at IS NOT NULL), \
             COUNT(*) FILTER (WHERE {EXHAUSTED_STEP}), \
             COUNT(*) FILTER (WHERE state = 'error' AND ready_at > $1), \
             COUNT(*) FILTER (WHERE state = 'in_progress' AND lease_expires_at < $1) \
             FROM tasker_workflow_steps"
        ))
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(HealthCounts {
            total_tasks: t.try_get(0)?,
            pending_tasks: t.try_get(1)?,
            in_progress_tasks: t.try_get(2)?,
            complete_tasks: t.try_get(3)?,
            error_tasks: t.try_get(4)?,
            cancelled_tasks: t.try_get(5)?,
            resolved_manually_tasks: t.try_get(6)?,
            total_steps: s.try_get(0)?,
            pending_steps: s.try_get(1)?,
            in_progress_steps: s.try_get(2)?,
            complete_steps: s.try_get(3)?,
            error_steps: s.try_get(4)?,
            cancelled_steps: s.try_get(5)?,
            resolved_manually_steps: s.try_get(6)?,
            retryable_error_steps: s.try_get(7)?,
            exhausted_retry_steps: s.try_get(8)?,
            in_backoff_steps: s.try_get(9)?,
            expired_lease_steps: s.try_get(10)?,
            // The client adds its workers' figures.
            ..HealthCounts::default()
        })
    }
}

/// The aggregates `step_counts` reads, over a task's step rows; `now` is the placeholder of
/// the time.
pub(super) fn step_count_columns(now: &str) -> String {
    format!(
        "COUNT(*), \
         COUNT(*) FILTER (WHERE state = 'pending'), \
         COUNT(*) FILTER (WHERE state = 'in_progress'), \
         COUNT(*) FILTER (WHERE state IN ('complete','resolved_manually')), \
         COUNT(*) FILTER (WHERE state = 'error'), \
         COUNT(*) FILTER (WHERE state = 'cancelled'), \
         COUNT(*) FILTER (WHERE ready_at IS NOT NULL AND pending_parents = 0 AND ready_at <= {now}), \
         COUNT(*) FILTER (WHERE {EXHAUSTED_STEP}), \
         MIN(ready_at) FILTER (WHERE state = 'error' AND ready_at > {now}), \
         MAX(ready_at) FILTER (WHERE state = 'error' AND ready_at > {now}), \
         COUNT(*) FILTER (WHERE {TOLERATED})"
    )
}

/// How many columns `step_count_columns` yields.
pub(super) const STEP_COUNT_COLUMNS: usize = 11;

/// The aggregates of `step_count_columns` over task `task`'s steps as ONE array value (all
/// are bigint), for statements that return them beside other columns (complete_and_claim_fn.rs).
pub(super) fn step_counts_array_sql(task: &str, now: &str) -> String {
    format!(
        "SELECT ARRAY[{}] FROM tasker_workflow_steps WHERE task_id = {task}",
        step_count_columns(now)
    )
}

/// The counts of `step_count_columns` starting at column `at`, for a task in `state`.
pub(super) fn step_counts(
    r: &<Db as sqlx::Database>::Row,
    at: usize,
    state: State,
) -> Result<StepCounts> {
    step_counts_from(|i| Ok(r.try_get(at + i)?), state)
}

/// The counts of `step_counts_array_sql`'s array, for a task in `state`.
pub(super) fn step_counts_of_array(values: &[Option<i64>], state: State) -> Result<StepCounts> {
    if values.len() != STEP_COUNT_COLUMNS {
        return Err(Error::Internal(format!(
            "{} step counts instead of {STEP_COUNT_COLUMNS}",
            values.len()
        )));
    }
    step_counts_from(|i| Ok(values[i]), state)
}

/// The counts from `get(i)`, the `i`th aggregate of `step_count_columns`.
fn step_counts_from(
    get: impl Fn(usize) -> Result<Option<i64>>,
    state: State,
) -> Result<StepCounts> {
    let count = |i: usize| -> Result<i64> {
        get(i)?.ok_or_else(|| Error::Internal(format!("step count {i} is NULL")))
    };
    let ready = count(6)?;
    Ok(StepCounts {
        total: count(0)?,
        pending: count(1)?,
        in_progress: count(2)?,
        completed: count(3)?,
        failed: count(4)?,
        cancelled: count(5)?,
        // Steps of a task that is not active are not claimable.
        ready: if matches!(state, State::Pending | State::InProgress) {
            ready
        } else {
            0
        },
        exhausted: count(7)?,
        next_retry_at: get(8)?,
        last_retry_at: get(9)?,
        tolerated: count(10)?,
    })
}

/// Transitions are insert-only: the current one of an entity is its last by sort key.
fn mark_most_recent(mut history: Vec<TransitionView>) -> Vec<TransitionView> {
    if let Some(last) = history.last_mut() {
        last.most_recent = true;
    }
    history
}

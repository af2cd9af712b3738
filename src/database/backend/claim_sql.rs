//! The claim's SQL text: what a claim sets on a step, the claimable candidates in claim order,
//! and PostgreSQL's one-statement claim (ViableStepDiscovery's statements; claim.rs runs them).

use super::*;
use crate::state_machine::Entity;

/// What a claim sets on each claimed step row (`$1` the time, `$2` the claim token). The lease
/// is chosen now: the step template's (`lease_ms` > 0), else the claiming client's (a validated
/// 1 ms..24 h, written as a literal).
pub(super) fn claim_set(claim_lease_ms: i64) -> String {
    format!(
        "state = 'in_progress', attempts = s.attempts + 1, last_attempted_at = $1, \
         claim_token = $2, lease_expires_at = $1 + COALESCE(NULLIF(s.lease_ms, 0), {claim_lease_ms}), \
         ready_at = NULL, backoff_request_ms = NULL, updated_at = $1"
    )
}

/// The claimable steps of `scope` in claim order (`$1` now; `limit` and `scope_id` are the
/// SQL of the limit and of the scope's id): the unlimited ones (`key` None), or those of the
/// concurrency key `key` (SQL of the key; claim_keyed.rs).
pub(super) fn candidates_sql(
    scope: ClaimScope,
    limit: &str,
    scope_id: &str,
    key: Option<&str>,
) -> String {
    let mut filter = match scope {
        ClaimScope::Any => String::new(),
        ClaimScope::Task(_) => format!(" AND ws.task_id = {scope_id}"),
        ClaimScope::Step(_) => format!(" AND ws.workflow_step_id = {scope_id}"),
    };
    // The partial ready indexes hold only unlimited steps (NULL key): written as their
    // condition so the planners keep using them.
    match key {
        None => filter.push_str(" AND ws.concurrency_key IS NULL"),
        Some(k) => filter.push_str(&format!(" AND ws.concurrency_key = {k}")),
    }
    // The claim order folds priority in (aging, docs/SCHEDULING.md); written exactly as in the
    // steps_ready_idx / steps_task_ready_idx expression so the planners scan the index in order.
    // ready_at <= now still decides claimability; the bound on the key (implied by it, as
    // priority >= MIN_PRIORITY) lets the index scan stop instead of visiting delayed steps.
    let key = format!(
        "(ws.ready_at - ws.priority * {})",
        crate::models::AGING_STEP_MS
    );
    let key_bound = crate::models::AGING_STEP_MS.saturating_mul(-crate::models::MIN_PRIORITY);
    // The states are read as their base type: on PostgreSQL the columns are a domain (0022), and
    // the complete-and-claim function's RETURN QUERY wants the exact types it declares.
    format!(
        "SELECT ws.workflow_step_id, CAST(ws.state AS VARCHAR) AS old_state, \
         CAST(t.state AS VARCHAR) AS task_state, ws.task_id, ws.name, \
         ws.attempts, {key} AS claim_order, \
         CASE WHEN ws.updated_at > ws.ready_at THEN ws.updated_at ELSE ws.ready_at END AS ready_since \
         FROM tasker_workflow_steps ws JOIN tasker_tasks t ON t.task_id = ws.task_id \
         WHERE ws.ready_at IS NOT NULL AND ws.pending_parents = 0 AND ws.ready_at <= $1 \
         AND {key} <= $1 + {key_bound} \
         AND t.state IN {STATES_ACTIVE}{filter} \
         ORDER BY {key}, ws.workflow_step_id LIMIT {limit}"
    )
}

/// The PostgreSQL claim as one data-modifying CTE: lock (SKIP LOCKED) and update the
/// candidates, append their transitions (a retried step, old state error, gets the error ->
/// pending hop, then pending -> in_progress), and return the claimed rows (with `load`, their
/// run contexts). With `start_tasks`, it also starts the claimed steps' pending tasks whose row
/// is free (SKIP LOCKED) with their transitions, and says per row whether its task was started
/// (`started`).
///
/// The limit is written into the statement, not bound (`$1` now, `$2` the token, `$3` the scope
/// id): with a bound LIMIT PostgreSQL cannot cost a generic plan and re-plans the statement on
/// every execution (~0.5 ms of planning per claim here); with a literal one it switches to the
/// cached generic plan after five executions. Each limit is then its own prepared statement,
/// at most `claim_batch` of them per connection.
pub(super) fn pg_claim_sql(
    scope: ClaimScope,
    limit: i64,
    load: bool,
    start_tasks: bool,
    lease_ms: i64,
    keyed: bool,
) -> Result<String> {
    let claim_set = claim_set(lease_ms);
    ensure_allowed(Entity::Step, State::Error, State::Pending)?;
    ensure_allowed(Entity::Step, State::Pending, State::InProgress)?;
    let limit = limit.max(0);
    // Limited steps: `$3` the keys with their limits (JSON records), `$4` the scope id. Each
    // key's room is counted here, after its lock was taken (claim_keyed.rs), so no claim of
    // another process can slip between the count and this claim. One step per key with room
    // (claim_keyed.rs says why).
    let locked = if keyed {
        let per_key = candidates_sql(scope, "1", "$4", Some("kr.key"));
        format!(
            "(SELECT c.* FROM (SELECT k.key, k.lim - (SELECT count(*) FROM \
             tasker_workflow_steps r WHERE r.concurrency_key = k.key AND r.state = 'in_progress') AS room \
             FROM jsonb_to_recordset($3::jsonb) AS k(key text, lim bigint)) kr \
             CROSS JOIN LATERAL ({per_key} FOR UPDATE OF ws SKIP LOCKED) c WHERE kr.room > 0 LIMIT {limit}) c"
        )
    } else {
        let candidates = candidates_sql(scope, &limit.to_string(), "$3", None);
        format!("({candidates} FOR UPDATE OF ws SKIP LOCKED) c")
    };
    let (load_cols, load_join) = if load {
        (
            format!(
                ", {LOAD_TASK_COLUMNS}, {}, {}",
                deps_column("cl"),
                checkpoint_column("cl")
            ),
            LOAD_TASK_JOINS.replace("{step}", "cl"),
        )
    } else {
        (String::new(), String::new())
    };
    let steps = Append {
        entity: Entity::Step,
        src: "cl",
        id: "cl.workflow_step_id",
        from: "x.from_state",
        to: "x.to_state",
        metadata: "x.metadata",
        step: "x.k",
        tail: " CROSS JOIN LATERAL (VALUES \
               ('error', 'pending', jsonb_build_object('retry_attempt', cl.attempts), 10), \
               ('pending', 'in_progress', jsonb_build_object('attempt', cl.attempts), \
               CASE WHEN cl.old_state = 'error' THEN 20 ELSE 10 END)) \
               AS x(from_state, to_state, metadata, k) \
               WHERE x.to_state = 'in_progress' OR cl.old_state = 'error'",
        now: "$1",
    }
    .sql();
    let (start, started_col, started_join) = if start_tasks {
        ensure_allowed(Entity::Task, State::Pending, State::InProgress)?;
        let tasks = Append {
            entity: Entity::Task,
            src: "st",
            id: "st.task_id",
            from: "'pending'",
            to: "'in_progress'",
            metadata: "'{}'::jsonb",
            step: "10",
            tail: "",
            now: "$1",
        }
        .sql();
        (
            format!(
                ", st AS (UPDATE tasker_tasks t SET state = 'in_progress', updated_at = $1 \
                 WHERE t.task_id IN (SELECT f.task_id FROM tasker_tasks f WHERE f.task_id IN \
                 (SELECT task_id FROM cl WHERE task_state = 'pending') AND f.state = 'pending' \
                 ORDER BY f.task_id FOR UPDATE SKIP LOCKED) RETURNING t.task_id), \
                 tins AS ({tasks})"
            ),
            ", st.task_id IS NOT NULL AS started",
            " LEFT JOIN st ON st.task_id = cl.task_id",
        )
    } else {
        (String::new(), "", "")
    };
    Ok(format!(
        "WITH cl AS (UPDATE tasker_workflow_steps s SET {claim_set} \
         FROM {locked} \
         WHERE s.workflow_step_id = c.workflow_step_id \
         RETURNING s.workflow_step_id, s.task_id, s.name, s.attempts, c.old_state, c.task_state, \
         c.claim_order, c.ready_since, {LOAD_STEP_COLUMNS}), \
         ins AS ({steps}){start} \
         SELECT cl.*{started_col}{load_cols} FROM cl{started_join}{load_join} \
         ORDER BY cl.claim_order, cl.workflow_step_id"
    ))
}

//! PostgreSQL: an inline run's complete-and-claim in ONE round trip and ONE commit. A PL/pgSQL
//! function runs the one-statement completion (complete_autocommit.rs, without its NOTIFY),
//! then the claim of the task's ready steps (claim_sql.rs), then the NOTIFY for released
//! children it did not claim. A data-modifying CTE cannot do this in one statement: its claim
//! would not see the children its completion released (one snapshot); each statement of a
//! VOLATILE function takes a fresh one.
//!
//! The SQL texts stay defined once, in Rust: the function is generated from them, named after
//! the hash of its text (so builds with different texts never replace each other's), and
//! created on first use under an advisory lock (CREATE FUNCTION races itself). The claim's
//! limit and lease are literals in its text (claim_sql.rs says why), so each (limit, lease)
//! has its own function. What the completion leaves (stale claim, task not in progress) comes
//! back as `None` and the caller takes the transactional path, which knows every case.

use super::claim::{claimed_columns, finish_claim};
use super::claim_sql::pg_claim_sql;
use super::complete_autocommit::{complete_sql, settle_rows, CompletionRow, SettledRow};
use super::views::{step_counts_array_sql, step_counts_of_array};
use super::*;
use sqlx::types::Json;
use sqlx::{Column, Executor, Row, TypeInfo};
use std::collections::HashMap;
use std::sync::Mutex;

/// The functions this backend has seen installed: (claim limit, lease) -> name.
#[derive(Default)]
pub(super) struct StepFns(Mutex<HashMap<(i64, i64), String>>);

/// SQLSTATE `undefined_function`.
const UNDEFINED_FUNCTION: &str = "42883";

/// Advisory lock key serialising the installs of every process ("tasker" + 1).
const INSTALL_LOCK: i64 = 0x7461_736b_6572_0001;

/// The function's settings. Its statements' plans are cached per session, and the generic plan
/// is made after a few calls: in a database whose tables were small then (a new one, before
/// autovacuum first analyses them) it scans whole tables with hash joins, a cost that grows
/// with every row the tables gain until the next ANALYZE. Every statement of the function has
/// an index path (primary keys, edges, the claim indexes), so sequential scans are priced out.
/// Its statements are planned generically from the first call by the session's
/// `plan_cache_mode`, which every pooled connection sets (`database/pg.rs`).
const SETTINGS: &str = "SET enable_seqscan = off";

/// `$1`, `$2`, ... of `sql` renamed to the function's parameters (highest first, so `$1` does
/// not eat the start of `$10`).
fn named_params(sql: &str, names: &[&str]) -> String {
    let mut s = sql.to_string();
    for (i, name) in names.iter().enumerate().rev() {
        s = s.replace(&format!("${}", i + 1), name);
    }
    s
}

/// The claim statement of the function (`$1` now, `$2` token, `$3` task id; run contexts
/// loaded; the task is already in progress).
fn claim_sql(limit: i64, lease_ms: i64) -> Result<String> {
    pg_claim_sql(ClaimScope::Task(0), limit, true, false, lease_ms, false)
}

/// The function's body (what `pg_proc.prosrc` holds once installed). Its result columns are
/// the claim's, then `completion` (the completion's rows as a JSON array), then `counts` (the
/// task's step counts as a JSON array when the call finished it, else NULL). Claimed steps are
/// the rows whose `workflow_step_id` is not NULL; when nothing is claimed, one row carries only
/// `completion`.
fn body(limit: i64, lease_ms: i64) -> Result<String> {
    let complete = named_params(complete_sql(false)?, &["p_items", "p_now"]);
    let claim = named_params(
        &claim_sql(limit, lease_ms)?,
        &["p_now", "p_token", "p_task"],
    );
    // The completion rows ride on every claimed row: a column before the final FROM. They are
    // gathered in an array (appended in place) and turned into JSON once: appending to a jsonb
    // copies it, which made a completion releasing 10,000 children quadratic.
    let at = claim
        .rfind(" FROM cl ")
        .ok_or_else(|| Error::Internal("claim statement without its final FROM".into()))?;
    let claim = format!(
        "{}, v_comp AS completion, NULL::jsonb AS counts{}",
        &claim[..at],
        &claim[at..]
    );
    // A call that finished the task reads its execution counts too (`run_task` returns them:
    // no read after the commit).
    let counts = step_counts_array_sql("p_task", "p_now");
    // What the completion did is read once, in its loop, with simple expressions: whether it
    // completed a step of the task, whether it finished the task, and the released children
    // (no pending parent, ready). A SELECT over the completion's JSON was a statement (plan
    // start, and a custom plan per call) for a few rows.
    Ok(format!(
        "\n#variable_conflict use_column\n\
         DECLARE v_row record; v_rows jsonb[] := '{{}}'; v_comp jsonb; v_claimed boolean := false; v_released bigint[]; v_counts jsonb; \
         v_stepped boolean := false; v_finished boolean := false;\n\
         BEGIN\n\
         FOR v_row IN {complete} LOOP v_rows := array_append(v_rows, to_jsonb(v_row)); \
         IF v_row.kind = 0 AND v_row.task_id = p_task THEN v_stepped := true; END IF; \
         IF v_row.kind = 2 AND v_row.task_id = p_task AND v_row.n = 0 THEN v_finished := true; END IF; \
         IF v_row.kind = 1 AND v_row.n = 0 AND v_row.at IS NOT NULL THEN \
         v_released := array_append(v_released, v_row.id); END IF; END LOOP;\n\
         v_comp := to_jsonb(v_rows);\n\
         IF v_finished THEN v_counts := to_jsonb(({counts})); END IF;\n\
         -- Claim only for a task this call completed a step of and did not finish.\n\
         IF v_stepped AND NOT v_finished THEN\n\
         RETURN QUERY {claim};\n\
         v_claimed := FOUND;\n\
         END IF;\n\
         IF NOT v_claimed THEN completion := v_comp; counts := v_counts; RETURN NEXT; END IF;\n\
         -- Wake idle workers for released children this claim did not take (still ready).\n\
         IF v_released IS NOT NULL AND EXISTS (SELECT 1 FROM tasker_workflow_steps w \
         WHERE w.workflow_step_id = ANY(v_released) AND w.ready_at IS NOT NULL) THEN \
         PERFORM pg_notify('{READY_CHANNEL}', ''); END IF;\n\
         RETURN;\n\
         END\n"
    ))
}

/// The function's name: its body's and settings' hash and the schema version (its result columns follow
/// the schema).
fn name(body: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(body.as_bytes());
    h.update(SETTINGS.as_bytes());
    if let Some((version, _, _)) = crate::database::PG_MIGRATIONS.last() {
        h.update(version.to_le_bytes());
    }
    let hex: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("tasker_complete_claim_{hex}")
}

/// The (name, body) of the function claiming up to `limit` steps under `lease_ms` (a test
/// checks the installed body against it).
pub fn source(limit: i64, lease_ms: i64) -> Result<(String, String)> {
    let body = body(limit, lease_ms)?;
    Ok((name(&body), body))
}

/// Completions and claims of one call: one slot per item (`None`: left to the transactional
/// path), the claimed steps with their run contexts, and the claims' transition records.
pub(super) type Settled = (Vec<Option<StepSettled>>, Vec<ClaimedStep>, Vec<Recorded>);

impl Backend {
    /// Completes `items` and, if a step of `task_id` completed and the task is not finished,
    /// claims up to `limit` (> 0) of its ready steps, in one call of the function (see the
    /// module doc). PostgreSQL only.
    pub(super) async fn complete_and_claim_fn(
        &self,
        items: &[CompletionRow<'_>],
        now: i64,
        task_id: i64,
        limit: i64,
    ) -> Result<Settled> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let tok = token.as_str();
        let call = |name: String| async move {
            let mut conn = self.checkout().await?;
            let rows = sqlx::query(&format!("SELECT * FROM {name}($1, $2, $3, $4)"))
                .bind(Json(items))
                .bind(now)
                .bind(tok)
                .bind(task_id)
                .fetch_all(&mut *conn)
                .await;
            if rows.is_ok() {
                conn.done();
            }
            Ok::<_, Error>(rows)
        };
        let rows = match call(self.step_fn(limit).await?).await? {
            // Dropped behind our back (a schema reset, a restore): forget it, install it again.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(UNDEFINED_FUNCTION) => {
                self.forget_step_fn(limit)?;
                call(self.step_fn(limit).await?).await??
            }
            r => r?,
        };
        let first = rows
            .first()
            .ok_or_else(|| Error::Internal("complete-and-claim returned no row".into()))?;
        let Json(comp): Json<Vec<SettledRow>> = first.try_get("completion")?;
        let mut settled = settle_rows(items, now, &comp)?;
        // The task finished in this call: its execution context as the call left it.
        let counts: Option<Json<Vec<Option<i64>>>> = first.try_get("counts")?;
        if let Some(Json(values)) = counts {
            let ctx = ExecutionContext::from_counts(
                task_id,
                State::Complete,
                step_counts_of_array(&values, State::Complete)?,
            );
            let finisher = items
                .iter()
                .zip(settled.iter_mut())
                .find_map(|(i, s)| s.as_mut().filter(|s| i.task == task_id && s.task_finished));
            if let Some(s) = finisher {
                s.finished = Some(ctx);
            }
        }
        let claim_rows: &[<Db as sqlx::Database>::Row] =
            if first.try_get::<Option<i64>, _>(0)?.is_some() {
                &rows[..]
            } else {
                &[]
            };
        let claimed = claim_rows
            .iter()
            .map(claimed_columns)
            .collect::<Result<Vec<_>>>()?;
        let mut rec = Vec::new();
        let (claimed, loaded) = finish_claim(claimed, claim_rows, &token, &mut rec)?;
        Ok((settled, claimed.into_iter().zip(loaded).collect(), rec))
    }

    /// Forgets that the function claiming `limit` steps is installed.
    fn forget_step_fn(&self, limit: i64) -> Result<()> {
        self.step_fns
            .0
            .lock()
            .map_err(|_| Error::Internal("step function cache poisoned".into()))?
            .remove(&(limit, self.claim_lease_ms));
        Ok(())
    }

    /// The name of the function claiming `limit` steps, created if missing.
    async fn step_fn(&self, limit: i64) -> Result<String> {
        let key = (limit, self.claim_lease_ms);
        let known = |fns: &StepFns| -> Result<Option<String>> {
            let map = fns
                .0
                .lock()
                .map_err(|_| Error::Internal("step function cache poisoned".into()))?;
            Ok(map.get(&key).cloned())
        };
        if let Some(name) = known(&self.step_fns)? {
            return Ok(name);
        }
        let (name, body) = source(limit, self.claim_lease_ms)?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(INSTALL_LOCK)
            .execute(&mut *tx)
            .await?;
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = $1 \
             AND pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()))",
        )
        .bind(name.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if !exists {
            // The result columns are the claim's, typed by the server (no second list to keep).
            let described = (&mut *tx)
                .describe(&claim_sql(limit, self.claim_lease_ms)?)
                .await?;
            let mut columns: Vec<String> = described
                .columns()
                .iter()
                .map(|c| format!("\"{}\" {}", c.name(), c.type_info().name()))
                .collect();
            columns.push("completion jsonb".into());
            columns.push("counts jsonb".into());
            let ddl = format!(
                "CREATE FUNCTION {name}(p_items jsonb, p_now bigint, p_token text, p_task bigint) \
                 RETURNS TABLE ({}) LANGUAGE plpgsql VOLATILE {SETTINGS} AS $tasker_fn${body}$tasker_fn$",
                columns.join(", ")
            );
            sqlx::raw_sql(&ddl).execute(&mut *tx).await?;
            tracing::info!(function = %name, "installed the complete-and-claim function");
        }
        tx.commit().await?;
        self.step_fns
            .0
            .lock()
            .map_err(|_| Error::Internal("step function cache poisoned".into()))?
            .insert(key, name.clone());
        Ok(name)
    }
}

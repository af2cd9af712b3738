//! The claim of steps under a concurrency limit (docs/FLOW_CONTROL.md): at most `limit` steps
//! of one key in progress at once, across every process and host.
//!
//! Atomicity without a counter: the claim holds a per-key mutex while it counts the key's
//! in-progress steps and claims at most the difference. PostgreSQL: a transaction-scoped
//! advisory lock per key, taken in a statement BEFORE the claim statement, so the claim's
//! snapshot (READ COMMITTED: one per statement) sees every claim committed by the lock's
//! previous holder. SQLite: the write transaction already excludes every other writer. Any
//! move out of `in_progress` (completion, failure, the lease reaper, cancellation) frees a slot
//! with no bookkeeping.

use super::claim_sql::candidates_sql;
use super::*;
use sqlx::Row;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

// A claim takes at most ONE step of each key with room: a worker runs the steps of its batch
// one after another, so slots it took for the later ones would sit idle while other workers
// wait (with 4 processes x 3 threads, one batch could hold a key's whole limit). The claim
// SQL (claim.rs, and `sqlite_keyed_candidates` here) is written for one.

/// How often a client that has seen no ready limited step looks again.
const KEYED_PROBE: Duration = Duration::from_millis(1000);
/// The most keys one claim considers (those with room first, then the lowest).
const MAX_KEYS_PER_CLAIM: i64 = 64;
/// The first half of every advisory lock key of this library ("tskr"), so its locks do not
/// collide with an application's single-key advisory locks.
const ADVISORY_CLASS: i32 = 0x7473_6b72;

/// Whether a claim should look for limited steps: always after it saw some, else at most once
/// per `KEYED_PROBE` (another process may create limited steps at any time). Keeps the claim of
/// a deployment without limits at one statement.
#[derive(Debug)]
pub struct KeyedGate {
    seen: AtomicBool,
    next_probe: parking_lot::Mutex<Instant>,
}

impl Default for KeyedGate {
    fn default() -> KeyedGate {
        KeyedGate {
            seen: AtomicBool::new(true),
            next_probe: parking_lot::Mutex::new(Instant::now()),
        }
    }
}

impl KeyedGate {
    fn due(&self) -> bool {
        self.seen.load(Ordering::Relaxed) || Instant::now() >= *self.next_probe.lock()
    }

    /// This client created limited steps: look at once.
    pub(super) fn open(&self) {
        self.seen.store(true, Ordering::Relaxed);
    }

    fn observe(&self, any_ready: bool) {
        self.seen.store(any_ready, Ordering::Relaxed);
        if !any_ready {
            *self.next_probe.lock() = Instant::now() + KEYED_PROBE;
        }
    }
}

/// The keys with ready limited steps in `scope` (`$1` now, `$2` the scope id), those with room
/// first, then the lowest, each with its limit (that of its next step in claim order) and its room (the limit
/// minus its steps in progress). Any task: a skip scan of steps_keyed_ready_idx (one probe per
/// key, however long its backlog); one task or step: its own rows.
fn keys_sql(scope: ClaimScope) -> String {
    let order = format!(
        "(ws.ready_at - ws.priority * {})",
        crate::models::AGING_STEP_MS
    );
    let ready = "ws.ready_at IS NOT NULL AND ws.pending_parents = 0 \
                 AND ws.concurrency_key IS NOT NULL AND ws.ready_at <= $1";
    let keys = match scope {
        ClaimScope::Any => format!(
            "WITH RECURSIVE k(key) AS (SELECT min(ws.concurrency_key) FROM tasker_workflow_steps ws WHERE {ready} \
             UNION ALL SELECT (SELECT min(ws.concurrency_key) FROM tasker_workflow_steps ws WHERE {ready} \
             AND ws.concurrency_key > k.key) FROM k WHERE k.key IS NOT NULL)"
        ),
        ClaimScope::Task(_) => format!(
            "WITH k(key) AS (SELECT DISTINCT ws.concurrency_key FROM tasker_workflow_steps ws \
             WHERE {ready} AND ws.task_id = $2)"
        ),
        ClaimScope::Step(_) => format!(
            "WITH k(key) AS (SELECT ws.concurrency_key FROM tasker_workflow_steps ws \
             WHERE {ready} AND ws.workflow_step_id = $2)"
        ),
    };
    // Every key's room is counted BEFORE the limit, keys with room first: keys past the first
    // MAX_KEYS_PER_CLAIM must not starve while the lower ones sit at their limits. Keys
    // without room still come back (after those with room) so the gate knows some are ready.
    format!(
        "{keys}, kl AS (SELECT k.key, (SELECT ws.workflow_step_id FROM tasker_workflow_steps ws \
         WHERE ws.concurrency_key = k.key AND ws.ready_at IS NOT NULL AND ws.pending_parents = 0 \
         ORDER BY {order}, ws.workflow_step_id LIMIT 1) AS nid FROM k WHERE k.key IS NOT NULL), \
         kr AS (SELECT kl.key, n.concurrency_limit AS lim, n.concurrency_limit - (SELECT count(*) \
         FROM tasker_workflow_steps r WHERE r.concurrency_key = kl.key AND r.state = 'in_progress') AS room \
         FROM kl JOIN tasker_workflow_steps n ON n.workflow_step_id = kl.nid) \
         SELECT kr.key, kr.lim, kr.room FROM kr ORDER BY (kr.room > 0) DESC, kr.key LIMIT {MAX_KEYS_PER_CLAIM}"
    )
}

/// Keys with their limits as the JSON records the PostgreSQL claim reads (`jsonb_to_recordset`).
pub(super) fn keys_json(keys: &[(String, i64)]) -> Value {
    Value::Array(
        keys.iter()
            .map(|(key, lim)| serde_json::json!({"key": key, "lim": lim}))
            .collect(),
    )
}

impl Backend {
    /// Whether a claim that left room (`claimed` steps taken) looks at limited steps.
    pub(super) fn keyed_due(&self, scope: ClaimScope, claimed: usize) -> bool {
        match scope {
            // One step asked for by id: cheap to check, and the host queue asks for ready ones.
            ClaimScope::Step(_) => true,
            // An inline run with nothing else to claim must not wait for the probe interval.
            ClaimScope::Task(_) => claimed == 0 || self.keyed.due(),
            ClaimScope::Any => self.keyed.due(),
        }
    }

    /// (key, limit, room) of the keys with ready limited steps in `scope`.
    async fn keys_with_room<'e, E>(
        exec: E,
        scope: ClaimScope,
        now: i64,
    ) -> Result<Vec<(String, i64, i64)>>
    where
        E: sqlx::Executor<'e, Database = Db>,
    {
        let sql = keys_sql(scope);
        let mut q = sqlx::query(&sql).bind(now);
        if let ClaimScope::Task(id) | ClaimScope::Step(id) = scope {
            q = q.bind(id);
        }
        let mut out = Vec::new();
        for r in q.fetch_all(exec).await? {
            let lim: Option<i64> = r.try_get(1)?;
            let room: Option<i64> = r.try_get(2)?;
            out.push((r.try_get(0)?, lim.unwrap_or(0), room.unwrap_or(0)));
        }
        Ok(out)
    }

    /// Claims up to `limit` limited steps of `scope`: a read of the keys with room (no lock,
    /// no transaction: with every key at its limit that is all a claim costs), then one
    /// transaction that locks those keys, recounts and claims.
    pub(super) async fn claim_keyed(
        &self,
        scope: ClaimScope,
        limit: i64,
        now: i64,
        load: bool,
    ) -> Result<(Vec<Claimed>, Vec<LoadedStep>, Vec<Recorded>)> {
        let found = Self::keys_with_room(&self.pool, scope, now).await?;
        self.keyed.observe(!found.is_empty());
        let mut keys: Vec<(String, i64)> = found
            .into_iter()
            .filter(|k| k.2 > 0)
            .map(|(key, lim, _)| (key, lim))
            .collect();
        if keys.is_empty() {
            return Ok((Vec::new(), Vec::new(), Vec::new()));
        }
        let mut w = self.begin().await?;
        if PG {
            // One advisory lock per key, in hash order (the lock's identity) so two claims
            // never wait on each other in a cycle; held until commit.
            sqlx::query(&format!(
                "SELECT pg_advisory_xact_lock({ADVISORY_CLASS}, s.h) FROM (SELECT DISTINCT hashtext(k.key) AS h \
                 FROM jsonb_to_recordset($1::jsonb) AS k(key text, lim bigint) ORDER BY 1) s"
            ))
            .bind(sqlx::types::Json(keys_json(&keys)))
            .execute(&mut *w.tx)
            .await?;
        } else {
            // The write transaction excludes other writers: the room read now stays true.
            keys = Self::keys_with_room(&mut *w.tx, scope, now)
                .await?
                .into_iter()
                .filter(|k| k.2 > 0)
                .map(|(key, _, room)| (key, room))
                .collect();
        }
        self.claim_committed(w, scope, limit, now, load, Some(&keys))
            .await
    }

    /// SQLite, inside the write transaction: the next candidate of each key (`keys` are those
    /// with room, counted in this transaction), in key order, `limit` in all.
    pub(super) async fn sqlite_keyed_candidates(
        tx: &mut Tx,
        keys: &[(String, i64)],
        scope: ClaimScope,
        limit: i64,
        now: i64,
        token: &str,
    ) -> Result<Vec<<Db as sqlx::Database>::Row>> {
        let sql = candidates_sql(scope, "$3", "$5", Some("$4"));
        let mut rows = Vec::new();
        let limit = usize::try_from(limit).unwrap_or(0);
        for (key, _room) in keys {
            if rows.len() >= limit {
                break;
            }
            let mut q = sqlx::query(&sql)
                .bind(now)
                .bind(token)
                .bind(1i64)
                .bind(key.as_str());
            if let ClaimScope::Task(id) | ClaimScope::Step(id) = scope {
                q = q.bind(id);
            }
            rows.extend(q.fetch_all(&mut **tx).await?);
        }
        Ok(rows)
    }
}

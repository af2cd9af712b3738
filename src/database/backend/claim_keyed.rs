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
use std::collections::HashMap;
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
/// The room of a key without a concurrency limit (a rate-limited one): more than any count.
const NO_CONCURRENCY_LIMIT: i64 = 1 << 40;
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
    // Every key's room (and rate) is checked BEFORE the limit, keys that may start a step
    // first: keys past the first MAX_KEYS_PER_CLAIM must not starve while the lower ones sit at
    // their limits. Keys that may not still come back (after the others) so the gate knows
    // some are ready. A key without a concurrency limit (rate limit only) has unbounded room.
    format!(
        "{keys}, kl AS (SELECT k.key, (SELECT ws.workflow_step_id FROM tasker_workflow_steps ws \
         WHERE ws.concurrency_key = k.key AND ws.ready_at IS NOT NULL AND ws.pending_parents = 0 \
         ORDER BY {order}, ws.workflow_step_id LIMIT 1) AS nid FROM k WHERE k.key IS NOT NULL), \
         kr AS (SELECT kl.key, COALESCE(n.concurrency_limit, {NO_CONCURRENCY_LIMIT}) AS lim, \
         n.rate_limit AS rate, n.rate_per_ms AS per, \
         COALESCE(n.concurrency_limit, {NO_CONCURRENCY_LIMIT}) - (SELECT count(*) \
         FROM tasker_workflow_steps r WHERE r.concurrency_key = kl.key AND r.state = 'in_progress') AS room \
         FROM kl JOIN tasker_workflow_steps n ON n.workflow_step_id = kl.nid) \
         SELECT kr.key, kr.lim, kr.room, kr.rate, kr.per, (kr.room > 0 AND (kr.rate IS NULL OR \
         (SELECT count(*) FROM tasker_rate_starts rs WHERE rs.rate_key = kr.key \
         AND rs.started_at > $1 - kr.per) < kr.rate)) AS ok \
         FROM kr ORDER BY ok DESC, kr.key LIMIT {MAX_KEYS_PER_CLAIM}"
    )
}

/// A key with ready limited steps, as the claim sees it.
#[derive(Debug, Clone)]
struct FlowKey {
    key: String,
    /// Its concurrency limit (`NO_CONCURRENCY_LIMIT` without one).
    lim: i64,
    /// Its limit minus its steps in progress.
    room: i64,
    /// (starts, per_ms) of its rate limit.
    rate: Option<(i64, i64)>,
    /// Whether it may start a step now (room, and the rate window).
    ok: bool,
}

/// The exact rate rule: a key may start a step at `now` when fewer than `limit` of its starts
/// (`starts`, any order) lie after `now - per_ms`. Counting every later start too (not only
/// those up to `now`) keeps "at most `limit` in any window of `per_ms`" true even when claims
/// commit out of clock order.
pub(crate) fn rate_allows(starts: &[i64], limit: i64, per_ms: i64, now: i64) -> bool {
    let since = now.saturating_sub(per_ms);
    let recent = starts.iter().filter(|s| **s > since).count();
    i64::try_from(recent).unwrap_or(i64::MAX) < limit
}

/// Below which start time a key's starts (newest first) can be dropped: the rule needs only
/// the newest `limit` (a start is admitted only when it is newer than all but `limit - 1`).
fn prune_below(starts_desc: &[i64], limit: i64) -> Option<i64> {
    let keep = usize::try_from(limit).ok()?;
    if starts_desc.len() > keep && keep > 0 {
        starts_desc.get(keep - 1).copied()
    } else {
        None
    }
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

    /// The keys with ready limited steps in `scope`.
    async fn keys_with_room<'e, E>(exec: E, scope: ClaimScope, now: i64) -> Result<Vec<FlowKey>>
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
            let rate: Option<i64> = r.try_get(3)?;
            let per: Option<i64> = r.try_get(4)?;
            let ok: Option<bool> = r.try_get(5)?;
            out.push(FlowKey {
                key: r.try_get(0)?,
                lim: lim.unwrap_or(0),
                room: room.unwrap_or(0),
                rate: rate.zip(per),
                ok: ok.unwrap_or(false),
            });
        }
        Ok(out)
    }

    /// Claims up to `limit` limited steps of `scope`: a read of the keys that may start a step
    /// (no lock, no transaction: with every key at its limit that is all a claim costs), then
    /// one transaction that locks those keys, rechecks room and rate, claims and records the
    /// starts of rate-limited keys.
    pub(super) async fn claim_keyed(
        &self,
        scope: ClaimScope,
        limit: i64,
        now: i64,
        load: bool,
    ) -> Result<(Vec<Claimed>, Vec<LoadedStep>, Vec<Recorded>)> {
        let found = Self::keys_with_room(&self.pool, scope, now).await?;
        self.keyed.observe(!found.is_empty());
        let mut keys: Vec<FlowKey> = found.into_iter().filter(|k| k.ok).collect();
        if keys.is_empty() {
            return Ok((Vec::new(), Vec::new(), Vec::new()));
        }
        let mut w = self.begin().await?;
        if PG {
            // One advisory lock per key, in hash order (the lock's identity) so two claims
            // never wait on each other in a cycle; held until commit.
            let pairs: Vec<(String, i64)> = keys.iter().map(|k| (k.key.clone(), k.lim)).collect();
            sqlx::query(&format!(
                "SELECT pg_advisory_xact_lock({ADVISORY_CLASS}, s.h) FROM (SELECT DISTINCT hashtext(k.key) AS h \
                 FROM jsonb_to_recordset($1::jsonb) AS k(key text, lim bigint) ORDER BY 1) s"
            ))
            .bind(sqlx::types::Json(keys_json(&pairs)))
            .execute(&mut *w.tx)
            .await?;
        } else {
            // The write transaction excludes other writers: the room read now stays true.
            keys = Self::keys_with_room(&mut *w.tx, scope, now)
                .await?
                .into_iter()
                .filter(|k| k.ok)
                .collect();
        }
        // Under the lock (PostgreSQL: this statement's snapshot sees every start committed by
        // the lock's previous holder), the exact rate rule.
        let keys = Self::rate_check(&mut w.tx, keys, now).await?;
        if keys.is_empty() {
            w.tx.commit().await?;
            return Ok((Vec::new(), Vec::new(), Vec::new()));
        }
        // PostgreSQL recounts each key's room from its limit in the claim statement; SQLite
        // counted it in this transaction.
        let pairs: Vec<(String, i64)> = keys
            .iter()
            .map(|k| (k.key.clone(), if PG { k.lim } else { k.room }))
            .collect();
        let mut rec = Vec::new();
        let (claimed, loaded) = Self::claim_scoped(
            &mut w.tx,
            &mut rec,
            scope,
            limit,
            now,
            load,
            self.claim_lease_ms,
            Some(&pairs),
        )
        .await?;
        let rated: Vec<&str> = keys
            .iter()
            .filter(|k| k.rate.is_some())
            .map(|k| k.key.as_str())
            .collect();
        Self::record_starts(&mut w.tx, &rated, &claimed, now).await?;
        w.tx.commit().await?;
        Ok((claimed, loaded, rec))
    }

    /// `keys` without the rate-limited ones whose window is full at `now`; drops the starts
    /// the rule no longer needs.
    async fn rate_check(tx: &mut Tx, keys: Vec<FlowKey>, now: i64) -> Result<Vec<FlowKey>> {
        let rated: Vec<&str> = keys
            .iter()
            .filter(|k| k.rate.is_some())
            .map(|k| k.key.as_str())
            .collect();
        if rated.is_empty() {
            return Ok(keys);
        }
        let list = (1..=rated.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT rate_key, started_at FROM tasker_rate_starts WHERE rate_key IN ({list}) \
             ORDER BY rate_key, started_at DESC"
        );
        let mut q = sqlx::query(&sql);
        for k in &rated {
            q = q.bind(*k);
        }
        let mut starts: HashMap<String, Vec<i64>> = HashMap::new();
        for r in q.fetch_all(&mut **tx).await? {
            starts.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
        }
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let Some((limit, per_ms)) = k.rate else {
                out.push(k);
                continue;
            };
            let s = starts.get(&k.key).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(below) = prune_below(s, limit) {
                sqlx::query(
                    "DELETE FROM tasker_rate_starts WHERE rate_key = $1 AND started_at < $2",
                )
                .bind(k.key.as_str())
                .bind(below)
                .execute(&mut **tx)
                .await?;
            }
            if rate_allows(s, limit, per_ms, now) {
                out.push(k);
            } else {
                tracing::trace!(key = %k.key, "rate limit: window full");
            }
        }
        Ok(out)
    }

    /// Deletes the recorded starts before `before` (of every key). The claim keeps only each
    /// key's newest N starts, but only for keys still claimed: a key no longer used would keep
    /// its last N rows for ever without this.
    pub async fn prune_rate_starts(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM tasker_rate_starts WHERE started_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Records a start at `now` for each claimed step of a rate-limited key (`rated`).
    async fn record_starts(
        tx: &mut Tx,
        rated: &[&str],
        claimed: &[Claimed],
        now: i64,
    ) -> Result<()> {
        if rated.is_empty() || claimed.is_empty() {
            return Ok(());
        }
        let mut n = 1;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        let ids = claimed
            .iter()
            .map(|_| next())
            .collect::<Vec<_>>()
            .join(", ");
        let keys = rated.iter().map(|_| next()).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "INSERT INTO tasker_rate_starts (rate_key, started_at) SELECT concurrency_key, $1 \
             FROM tasker_workflow_steps WHERE workflow_step_id IN ({ids}) AND concurrency_key IN ({keys})"
        );
        let mut q = sqlx::query(&sql).bind(now);
        for c in claimed {
            q = q.bind(c.step_id);
        }
        for k in rated {
            q = q.bind(*k);
        }
        q.execute(&mut **tx).await?;
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_admits_fewer_than_limit_recent_starts() {
        // limit 2 per 1000 ms at now = 5000: starts after 4000 count.
        assert!(rate_allows(&[], 2, 1000, 5000));
        assert!(rate_allows(&[4001], 2, 1000, 5000));
        assert!(!rate_allows(&[4001, 4500], 2, 1000, 5000));
        // A start exactly per_ms ago has left the window.
        assert!(rate_allows(&[4000, 4500], 2, 1000, 5000));
        // A start committed with a later clock still counts.
        assert!(!rate_allows(&[4500, 5200], 2, 1000, 5000));
    }

    #[test]
    fn only_the_newest_limit_starts_are_kept() {
        assert_eq!(prune_below(&[9, 8, 7], 3), None);
        assert_eq!(prune_below(&[9, 8, 7, 6], 3), Some(7));
        assert_eq!(prune_below(&[9, 8, 7, 6], 1), Some(9));
    }
}

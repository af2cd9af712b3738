//! The SQLite write transaction on the writer connection's raw handle (`sqlite_raw.rs`) and
//! what its bodies share: the row decoder of run contexts, hand-numbered arguments, the task
//! hop. Its bodies: `sqlite_raw_create.rs` (a task's creation), `sqlite_raw_claim.rs` (an
//! inline run's first claim) and `sqlite_raw_complete.rs` (complete-and-claim, every later
//! step).

use super::*;
use crate::database::sqlite_raw::{RawArg, RawRow, RawTx};
use crate::state_machine::Entity;

impl LoadRow for RawRow {
    fn int(&self, col: &str) -> Result<i64> {
        self.get(col)?.int()
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        self.get(col)?.opt_int()
    }
    fn opt_real(&self, col: &str) -> Result<Option<f64>> {
        self.get(col)?.opt_real()
    }
    fn string(&self, col: &str) -> Result<String> {
        self.get(col)?.text()
    }
    fn boolean(&self, col: &str) -> Result<bool> {
        Ok(self.get(col)?.int()? != 0)
    }
    fn json(&self, col: &str) -> Result<Value> {
        Ok(serde_json::from_str(&self.get(col)?.text()?)?)
    }
    fn opt_json(&self, col: &str) -> Result<Option<Value>> {
        match self.get(col)?.opt_text()? {
            Some(t) => Ok(Some(serde_json::from_str(&t)?)),
            None => Ok(None),
        }
    }
}

/// Hand-numbered arguments as the raw path binds them (JSON as text, as sqlx binds `Json`).
pub(super) fn raw_args(args: NumberedArgs) -> Result<Vec<RawArg>> {
    args.into_vec()
        .into_iter()
        .map(|a| {
            Ok(match a {
                Arg::Int(v) => RawArg::Int(v),
                Arg::Text(v) => RawArg::Text(v),
                Arg::OptText(v) => v.map_or(RawArg::Null, RawArg::Text),
                Arg::Json(v) => RawArg::Text(serde_json::to_string(&v)?),
            })
        })
        .collect()
}

/// `Backend::drive_task` on the raw handle: the task (locked: the write transaction) from
/// `current` to `target` along legal transitions, with `{}` as metadata.
pub(super) fn drive_task_raw(
    tx: &mut RawTx<'_>,
    rec: &mut Vec<Recorded>,
    task_id: i64,
    current: State,
    target: State,
    now: i64,
) -> Result<()> {
    let metadata = serde_json::json!({});
    let sql = task_hop_sql();
    let mut from = current;
    for to in task_path(current, target) {
        ensure_allowed(Entity::Task, from, to)?;
        tx.exec(
            sql,
            &[
                RawArg::Int(task_id),
                RawArg::Text(to.as_str().to_string()),
                RawArg::Int(i64::from(to == State::Complete)),
                RawArg::Int(now),
                RawArg::Text(from.as_str().to_string()),
                RawArg::Text(metadata.to_string()),
            ],
        )?;
        rec.push(task_record(task_id, from, to, &metadata));
        from = to;
    }
    Ok(())
}

impl Backend {
    /// Runs `body` in ONE write transaction (BEGIN IMMEDIATE .. COMMIT) on the raw handle of
    /// this SQLite file's writer connection, locked out of sqlx's connection thread and kept
    /// so between raw transactions (`HeldWriter`): no hand-off to that thread per statement,
    /// nor per transaction. `body` returning `None`, or an error, rolls back. `Ok(None)`: not
    /// run, or handed back (nothing written): an in-memory database (no writer connection), the
    /// file's write lock held by another process, or `body`'s `None`; the caller then takes the
    /// sqlx path.
    pub(super) async fn raw_write<T>(
        &self,
        body: impl FnOnce(&mut RawTx<'_>) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        let (Some(lock), Some(pool)) = (&self.write_lock, &self.write_pool) else {
            return Ok(None);
        };
        let mut parked = lock.lock().await;
        let mut held = match parked.take() {
            Some(held) => held,
            None => crate::database::HeldWriter::lock(pool.acquire().await?).await?,
        };
        // From here on synchronous, on the caller's (runtime) thread: acceptable only because
        // the writer lock serialises it (no writer of this process waits on the handle) and the
        // transaction is short — what sqlx's connection thread ran before, minus the hand-offs.
        // It never waits for another process: `RawTx::begin` hands back when the file is locked.
        let out = held.with_raw(|db| {
            let mut cache = self.raw.lock();
            let done = match RawTx::begin(db, &mut cache)? {
                None => None,
                Some(mut tx) => match body(&mut tx)? {
                    Some(v) => {
                        tx.commit()?;
                        Some(v)
                    }
                    // Dropped: rolled back.
                    None => None,
                },
            };
            Ok(done)
        });
        // Kept, handle locked, for the next raw transaction (`HeldWriter`); after an error the
        // connection goes back to the pool instead.
        if out.is_ok() {
            *parked = Some(held);
        }
        out
    }
}

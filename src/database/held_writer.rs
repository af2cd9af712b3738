//! SQLite files: the writer connection kept checked out of its pool together with its raw
//! handle locked out of sqlx's connection thread, between the raw write transactions
//! (`sqlite_raw_tx.rs`).
//!
//! sqlx-sqlite 0.8 hands a connection's raw handle over with a message to the connection's
//! thread (`UnlockDb`), which releases its lock on the handle and waits to take it back. The
//! caller joins the lock's queue and sends the message together; if the lock is free at that
//! moment (the thread is between releasing it for an earlier message and waiting again), the
//! caller takes it at once and its own message stays queued. Under load such messages piled up
//! one per lost race and were never drained (each one queued was consumed serving the next
//! caller), until the thread's command channel (50 messages) was full: the next caller then
//! held the lock while waiting for room in the channel, and the thread waited for the lock —
//! creation stopped for good (`make bench`, docs/PERFORMANCE.md round 14). Keeping the handle
//! locked between raw transactions makes one hand-off per stretch of raw writes instead of one
//! per write: the hand-offs are then separated by sqlx's own round trips to the thread (a
//! transaction's BEGIN, the ping when the connection goes back to the pool), each of which
//! drains the messages queued before it. It also saves the thread's two wake-ups per write.

use sqlx::pool::PoolConnection;
use sqlx::sqlite::LockedSqliteHandle;
use sqlx::Sqlite;

/// The writer connection and its locked raw handle. Dropping it unlocks the handle (sqlx's
/// thread takes it back) before the connection goes back to its pool.
#[ouroboros::self_referencing]
pub struct HeldWriter {
    conn: PoolConnection<Sqlite>,
    #[borrows(mut conn)]
    #[not_covariant]
    handle: LockedSqliteHandle<'this>,
}

impl HeldWriter {
    /// Locks `conn`'s raw handle out of its thread and keeps both.
    pub async fn lock(conn: PoolConnection<Sqlite>) -> Result<HeldWriter, sqlx::Error> {
        HeldWriter::try_new_async_send(conn, |conn| Box::pin(conn.lock_handle())).await
    }

    /// Runs `f` on the raw `sqlite3*` handle.
    pub fn with_raw<T>(
        &mut self,
        f: impl FnOnce(std::ptr::NonNull<libsqlite3_sys::sqlite3>) -> T,
    ) -> T {
        self.with_handle_mut(|h| f(h.as_raw_handle()))
    }

    /// Unlocks the handle and gives the connection back (to close or detach it).
    pub fn into_connection(self) -> PoolConnection<Sqlite> {
        self.into_heads().conn
    }
}

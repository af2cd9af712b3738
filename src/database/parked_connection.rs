//! PostgreSQL: one connection parked beside the pool for the hot single-statement calls —
//! create, claim, complete, complete-and-claim, the deadline read.
//!
//! sqlx tests every connection given back to its pool with a round trip (a `Sync` and its
//! `ReadyForQuery`, from a spawned task), whatever the statement did, and there is no option to
//! skip it. On an inline run that was one extra round trip per statement: more thread wake-ups
//! in the client and the server on a 2-core machine, and the next statement took another
//! connection because this one was still being tested (docs/PERFORMANCE.md, round 12: inline
//! 4-step P50 0.85x parked). The parked connection is taken out of the pool (`detach`), so it
//! never holds a pool slot that a transaction or a LISTEN could be waiting for: a client has at
//! most `max_connections` pooled connections plus this one. At most one exists at a time; a
//! call that finds it taken uses the pool as before. It is closed when a call on it does not
//! end cleanly (an error, or the call dropped midway), when it idled long or the pool is
//! suspect after a dead connection (`StaleConnections`), and when the client closes. SQLite
//! parks its writer connection for the same reason (`ParkedWriter`).

use super::StaleConnections;
use sqlx::pool::PoolConnection;
use std::ops::{Deref, DerefMut};
use std::time::Instant;

struct Slot<C> {
    /// The parked connection while no call holds it, with the time it was parked.
    idle: Option<(C, Instant)>,
    /// Whether the parked connection exists (idle here, or held by a call).
    exists: bool,
}

/// The parking place of one connection.
pub struct ParkedConnection<DB: sqlx::Database> {
    slot: parking_lot::Mutex<Slot<DB::Connection>>,
    /// False on SQLite.
    enabled: bool,
}

enum Conn<DB: sqlx::Database> {
    Parked(DB::Connection),
    Pooled(PoolConnection<DB>),
}

impl<DB: sqlx::Database> ParkedConnection<DB> {
    pub fn new(enabled: bool) -> Self {
        ParkedConnection {
            slot: parking_lot::Mutex::new(Slot {
                idle: None,
                exists: false,
            }),
            enabled,
        }
    }

    /// The parked connection when it is free and fresh, else one from `pool`.
    pub async fn checkout<'a>(
        &'a self,
        pool: &sqlx::Pool<DB>,
        stale: &StaleConnections,
    ) -> Result<Checkout<'a, DB>, sqlx::Error> {
        if self.enabled {
            let idle = self.slot.lock().idle.take();
            if let Some((conn, since)) = idle {
                if !stale.should_ping(since.elapsed()) {
                    return Ok(self.out(Conn::Parked(conn)));
                }
                // Possibly dead: closed, not tested (a pooled connection will replace it).
                self.slot.lock().exists = false;
                drop(conn);
            }
        }
        Ok(self.out(Conn::Pooled(pool.acquire().await?)))
    }

    fn out(&self, conn: Conn<DB>) -> Checkout<'_, DB> {
        Checkout {
            conn: Some(conn),
            home: self,
            done: false,
        }
    }

    /// Closes the parked connection when idle (the client is closing).
    pub fn release(&self) {
        let idle = {
            let mut slot = self.slot.lock();
            let idle = slot.idle.take();
            if idle.is_some() {
                slot.exists = false;
            }
            idle
        };
        drop(idle);
    }

    /// Takes back a connection whose call ended: the parked one returns to its place; a pooled
    /// one becomes the parked one when there is none, else returns to the pool.
    fn put_back(&self, conn: Conn<DB>, clean: bool) {
        if !self.enabled {
            return;
        }
        let mut slot = self.slot.lock();
        match conn {
            Conn::Parked(c) if clean => slot.idle = Some((c, Instant::now())),
            Conn::Parked(c) => {
                slot.exists = false;
                drop(slot);
                drop(c);
            }
            Conn::Pooled(c) if clean && !slot.exists => {
                slot.exists = true;
                slot.idle = Some((c.detach(), Instant::now()));
            }
            Conn::Pooled(c) => {
                drop(slot);
                drop(c);
            }
        }
    }
}

/// A connection for one statement. Kept for the next one only after `done` (the statement ran
/// to its end); otherwise it is closed (the parked one) or given back to the pool, which tests
/// it and drops it when dead.
pub struct Checkout<'a, DB: sqlx::Database> {
    conn: Option<Conn<DB>>,
    home: &'a ParkedConnection<DB>,
    done: bool,
}

impl<DB: sqlx::Database> Checkout<'_, DB> {
    /// The statement ran to its end: the connection may serve the next one.
    pub fn done(&mut self) {
        self.done = true;
    }
}

impl<DB: sqlx::Database> Deref for Checkout<'_, DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        match &self.conn {
            Some(Conn::Parked(c)) => c,
            Some(Conn::Pooled(c)) => c,
            None => unreachable!("a checkout holds its connection until dropped"),
        }
    }
}

impl<DB: sqlx::Database> DerefMut for Checkout<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match &mut self.conn {
            Some(Conn::Parked(c)) => c,
            Some(Conn::Pooled(c)) => c,
            None => unreachable!("a checkout holds its connection until dropped"),
        }
    }
}

impl<DB: sqlx::Database> Drop for Checkout<'_, DB> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.home.put_back(conn, self.done);
        }
    }
}

impl super::Store {
    /// PostgreSQL: the first row of `sql` (text columns) on the connection the hot single
    /// statements use (`parked_connection.rs`): tests read that session's state with it.
    pub async fn pg_hot_session_row(&self, sql: &str) -> crate::Result<Vec<Option<String>>> {
        use sqlx::Row;
        let super::Store::Postgres(b) = self else {
            return Err(crate::Error::Internal("no PostgreSQL session".into()));
        };
        let mut conn = b.checkout().await?;
        let row = sqlx::query(sql).fetch_one(&mut *conn).await?;
        conn.done();
        (0..row.len())
            .map(|i| Ok(row.try_get::<Option<String>, _>(i)?))
            .collect()
    }
}

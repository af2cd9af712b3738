//! The SQLite instantiation of the storage backend. The concept files under `backend/` are
//! written once against `Db` and `PG`; each dialect file compiles them as its own child modules
//! (`#[path]` is relative to this file's directory), and the statements that differ per dialect
//! are named constants in `sqlite_sql.rs` (same names in both dialects).
// Both dialects load the same concept files on purpose (one source, two drivers).
#![allow(clippy::too_many_arguments, clippy::duplicate_mod)]

use super::*;
use common::*;
use counters::*;
use transitions::*;

type Db = sqlx::Sqlite;
const PG: bool = false;

#[path = "backend/claim.rs"]
mod claim;
#[path = "backend/common.rs"]
mod common;
#[path = "backend/complete.rs"]
mod complete;
#[path = "backend/complete_autocommit.rs"]
mod complete_autocommit;
#[path = "backend/counters.rs"]
mod counters;
#[path = "backend/create_autocommit.rs"]
mod create_autocommit;
#[path = "backend/fail.rs"]
mod fail;
#[path = "backend/leases.rs"]
mod leases;
#[path = "backend/operations.rs"]
mod operations;
#[path = "sqlite_sql.rs"]
mod sql;
#[path = "backend/tasks.rs"]
mod tasks;
#[path = "backend/templates.rs"]
mod templates;
#[path = "backend/transitions.rs"]
mod transitions;
#[path = "backend/views.rs"]
mod views;

pub use common::Backend;

impl Backend {
    pub async fn connect_sqlite(url: &str, max_connections: u32) -> Result<Backend> {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
        use std::str::FromStr;
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(60));
        // WAL lets readers proceed during a write and lets processes on one host share the file.
        let opts = if memory {
            opts
        } else {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
        };
        let pool_opts = sqlx::sqlite::SqlitePoolOptions::new()
            .acquire_timeout(std::time::Duration::from_secs(60))
            // No ping per checkout (a message to the connection's thread and back): a local
            // file does not go away behind our back.
            .test_before_acquire(false);
        // An in-memory database lives in its one connection: never let the pool drop it.
        let pool_opts = if memory {
            pool_opts
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            pool_opts.max_connections(max_connections)
        };
        let pool = pool_opts.connect_with(opts).await?;
        migrator(SQLITE_MIGRATIONS).await?.run(&pool).await?;
        Ok(Backend::new(pool))
    }
}

//! The SQLite instantiation of the storage backend. The concept files under `backend/` are
//! written once against `Db` and `PG`; each dialect file compiles them as its own child modules
//! (`#[path]` is relative to this file's directory), and the statements that differ per dialect
//! are named constants in `sqlite_sql.rs` (same names in both dialects).
// Both dialects load the same concept files on purpose (one source, two drivers).
#![allow(clippy::too_many_arguments, clippy::duplicate_mod)]

use super::*;
use checkpoints::*;
use common::*;
use counters::*;
use transitions::*;

type Db = sqlx::Sqlite;
const PG: bool = false;

#[path = "backend/checkpoints.rs"]
mod checkpoints;
#[path = "backend/claim.rs"]
mod claim;
#[path = "backend/claim_keyed.rs"]
mod claim_keyed;
#[path = "backend/claim_sql.rs"]
mod claim_sql;
#[path = "backend/common.rs"]
mod common;
#[path = "backend/complete.rs"]
mod complete;
#[path = "backend/complete_and_claim_fn.rs"]
mod complete_and_claim_fn;
#[path = "backend/complete_autocommit.rs"]
mod complete_autocommit;
#[path = "backend/complete_one.rs"]
mod complete_one;
#[path = "backend/counters.rs"]
mod counters;
#[path = "backend/deadlines.rs"]
mod deadlines;
#[path = "backend/decision.rs"]
mod decision;
#[path = "backend/fail.rs"]
mod fail;
#[path = "backend/failing_handlers.rs"]
mod failing_handlers;
#[path = "backend/leases.rs"]
mod leases;
#[path = "backend/metrics.rs"]
mod metrics;
#[path = "backend/operations.rs"]
mod operations;
#[path = "backend/purge.rs"]
mod purge;
#[path = "backend/queries.rs"]
mod queries;
#[path = "backend/release.rs"]
mod release;
#[path = "backend/schedules.rs"]
mod schedules;
#[path = "sqlite_sql.rs"]
mod sql;
#[path = "sqlite_raw_claim.rs"]
mod sqlite_raw_claim;
#[path = "sqlite_raw_complete.rs"]
mod sqlite_raw_complete;
#[path = "sqlite_raw_create.rs"]
mod sqlite_raw_create;
#[path = "sqlite_raw_tx.rs"]
mod sqlite_raw_tx;
#[path = "backend/step_columns.rs"]
mod step_columns;
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
            .busy_timeout(crate::database::sqlite_raw::BUSY_TIMEOUT);
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
        let lock_path = if memory {
            None
        } else {
            check_directory(opts.get_filename())?;
            Some(migration_lock_path(opts.get_filename()))
        };
        // Held from before the first connection (which creates the file and switches it to WAL,
        // a step that fails at once with "database is locked" when processes race on a new
        // file) until the migrations are applied.
        let lock = match &lock_path {
            Some(p) => Some(MigrationLock::acquire(p.clone()).await?),
            None => None,
        };
        let pool = pool_opts.connect_with(opts.clone()).await?;
        migrator(SQLITE_MIGRATIONS).await?.run(&pool).await?;
        drop(lock);
        let mut backend = Backend::new(pool);
        // A file's write transactions all run on ONE connection of their own. They take turns
        // anyway (the in-process writer lock), and on a connection that saw every write its
        // page cache stays valid: with the pool's connections in turn, each transaction began
        // on a connection that another one had written behind, SQLite dropped its page cache
        // and re-read the pages (pread: 125 → 11 per 4-step task, P50 −18 %; PERFORMANCE.md).
        if !memory {
            backend.write_pool = Some(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(std::time::Duration::from_secs(60))
                    .test_before_acquire(false)
                    .connect_with(opts)
                    .await?,
            );
        }
        backend.migration_lock = lock_path;
        Ok(backend)
    }

    /// Applies the embedded migrations, holding the migration lock of the file (when given).
    /// sqlx's migrator takes no lock on SQLite, so processes opening a new file at once would
    /// each create the tables ("table ... already exists").
    pub async fn migrate(&self, lock_path: Option<&std::path::Path>) -> Result<()> {
        let _lock = match lock_path {
            Some(p) => Some(MigrationLock::acquire(p.to_path_buf()).await?),
            None => None,
        };
        migrator(SQLITE_MIGRATIONS).await?.run(&self.pool).await?;
        Ok(())
    }
}

/// SQLite creates a missing database file but not its directory: say which path is wrong
/// (instead of an error about a file the user never named).
fn check_directory(db: &std::path::Path) -> Result<()> {
    let dir = match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => return Ok(()),
    };
    if dir.is_dir() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "cannot open the SQLite database {}: its directory {} does not exist (create it, or \
         set TASKER_DATABASE_URL / the client's URL to sqlite://PATH in an existing directory)",
        db.display(),
        dir.display()
    )))
}

/// The lock file beside the database (`tasker.db` → `tasker.db-migrate.lock`, like SQLite's own
/// `-wal` and `-shm`). Not the database file itself: closing any descriptor of that file drops
/// every POSIX lock SQLite holds on it in this process.
pub(crate) fn migration_lock_path(db: &std::path::Path) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-migrate.lock");
    std::path::PathBuf::from(name)
}

/// An exclusive `flock` on the migration lock file, released when dropped (the descriptor
/// closes; the kernel also releases it if the process dies, so a crash cannot leave it held).
/// Chosen over retrying on "already exists": a retry cannot tell a half-applied migration of
/// another process from a finished one, the lock simply makes them take turns.
struct MigrationLock(#[allow(dead_code)] std::fs::File);

impl MigrationLock {
    async fn acquire(path: std::path::PathBuf) -> Result<MigrationLock> {
        // flock blocks while another process migrates: off the async threads.
        tokio::task::spawn_blocking(move || {
            use std::os::fd::AsRawFd;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| {
                    Error::Config(format!(
                        "cannot open the migration lock file {}: {e}",
                        path.display()
                    ))
                })?;
            loop {
                // SAFETY: flock on a descriptor this function owns for the call's duration.
                let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
                if rc == 0 {
                    return Ok(MigrationLock(file));
                }
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(Error::Config(format!(
                        "cannot lock the migration lock file {}: {err}",
                        path.display()
                    )));
                }
            }
        })
        .await
        .map_err(|e| Error::Internal(format!("migration lock task: {e}")))?
    }
}

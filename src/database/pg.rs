//! The PostgreSQL instantiation of the storage backend. The concept files under `backend/` are
//! written once against `Db` and `PG`; each dialect file compiles them as its own child modules
//! (`#[path]` is relative to this file's directory), and the statements that differ per dialect
//! are named constants in `pg_sql.rs` (same names in both dialects).
// Both dialects load the same concept files on purpose (one source, two drivers).
#![allow(clippy::too_many_arguments, clippy::duplicate_mod)]

use super::*;
use common::*;
use counters::*;
use transitions::*;

type Db = sqlx::Postgres;
const PG: bool = true;

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
#[path = "pg_sql.rs"]
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
    pub async fn connect_pg(url: &str, max_connections: u32) -> Result<Backend> {
        use std::str::FromStr;
        let opts = sqlx::postgres::PgConnectOptions::from_str(url)?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(60))
            // sqlx pings every idle connection before handing it out by default: one extra
            // round trip per checkout, and a step used several checkouts. A broken connection
            // now surfaces as an error of the statement itself (the worker retries after its
            // poll interval) and is then dropped by the pool.
            .test_before_acquire(false)
            .connect_with(opts)
            .await?;
        migrator(PG_MIGRATIONS).await?.run(&pool).await?;
        Ok(Backend::new(pool))
    }
}

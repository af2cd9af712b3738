//! The PostgreSQL instantiation of the storage backend. The concept files under `backend/` are
//! written once against `Db` and `PG`; each dialect file compiles them as its own child modules
//! (`#[path]` is relative to this file's directory), and the statements that differ per dialect
//! are named constants in `pg_sql.rs` (same names in both dialects).
// Both dialects load the same concept files on purpose (one source, two drivers).
#![allow(clippy::too_many_arguments, clippy::duplicate_mod)]

use super::*;
use checkpoints::*;
use common::*;
use counters::*;
use transitions::*;

type Db = sqlx::Postgres;
const PG: bool = true;

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
#[path = "backend/create_autocommit.rs"]
mod create_autocommit;
#[path = "backend/deadlines.rs"]
mod deadlines;
#[path = "backend/decision.rs"]
mod decision;
#[path = "backend/fail.rs"]
mod fail;
#[path = "backend/failing_handlers.rs"]
mod failing_handlers;
#[path = "pg_fast_path.rs"]
mod fast_path;
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
#[path = "pg_sql.rs"]
mod sql;
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
pub use complete_and_claim_fn::source as complete_claim_fn_source;

impl Backend {
    pub async fn connect_pg(
        url: &str,
        max_connections: u32,
        connect_timeout: std::time::Duration,
    ) -> Result<Backend> {
        use sqlx::ConnectOptions;
        use std::str::FromStr;
        let opts = sqlx::postgres::PgConnectOptions::from_str(url)?;
        // One direct connection first, bounded by connect_timeout: the pool retries a failing
        // connect until its acquire timeout and then reports only "pool timed out", without
        // the server's address or the cause.
        let failure = match tokio::time::timeout(connect_timeout, opts.connect()).await {
            Ok(Ok(conn)) => {
                // A polite goodbye; the pool below makes its own connections.
                let _ = sqlx::Connection::close(conn).await;
                None
            }
            Ok(Err(e)) => Some(match &e {
                sqlx::Error::Io(io) => io.to_string(),
                other => other.to_string(),
            }),
            Err(_) => Some(format!(
                "no answer within {} ms (client option connect_timeout_ms)",
                connect_timeout.as_millis()
            )),
        };
        if let Some(cause) = failure {
            return Err(Error::Connect(format!(
                "cannot connect to PostgreSQL at {}:{} ({}): {cause}; check that the server is \
                 running and accepts connections there, and that TASKER_DATABASE_URL (or the URL \
                 given to the client) names it",
                opts.get_host(),
                opts.get_port(),
                crate::config::redact_url(url)
            )));
        }
        let stale = StaleConnections::default();
        // Generic plans from the first execution on every pooled connection. Under the default
        // (`auto`) the server compares a statement's generic plan with its custom ones, and for
        // the claim the generic estimate is a little higher (an unknown `ready_at <= $1` looks
        // more selective), so it re-planned the claim at most executions: 3.5-12 ms of planning
        // for a 50-step claim, 5-10 % of the server's time in a batching run. The plans are the
        // same shape either way: every hot statement names its states as literals, so no
        // partial index depends on a parameter's value (docs/ARCHITECTURE.md, Decisions).
        // Set by a statement, not the startup packet's `options`: poolers such as PgBouncer
        // refuse unknown startup parameters.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(&mut *conn, "SET plan_cache_mode = force_generic_plan")
                        .await
                        .map(|_| ())
                })
            })
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(60))
            // sqlx pings every idle connection before handing it out by default: one extra
            // round trip per checkout, and a step used several checkouts. A broken connection
            // now surfaces as an error of the statement itself (the worker retries after its
            // poll interval) and is then dropped by the pool.
            .test_before_acquire(false)
            // ...except after a connection error or a long idle time: then dead connections
            // are found by a ping and dropped here, not by a statement of the caller.
            .before_acquire({
                let stale = stale.clone();
                move |conn, meta| {
                    let ping = stale.should_ping(meta.idle_for);
                    Box::pin(async move { Ok(!ping || sqlx::Connection::ping(conn).await.is_ok()) })
                }
            })
            .connect_with(opts)
            .await?;
        migrator(PG_MIGRATIONS).await?.run(&pool).await?;
        let mut backend = Backend::new(pool);
        backend.stale = stale;
        Ok(backend)
    }
}

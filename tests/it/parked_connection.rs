//! PostgreSQL's parked connection (src/database/parked_connection.rs): the hot single
//! statements of one thread run on one connection instead of a new one each (sqlx tests every
//! connection given back to its pool with a round trip); it holds no slot of the pool (a pool of
//! one still serves transactions); a dead parked connection is replaced without the caller
//! seeing it; closing the client closes it. SQLite parks its writer instead (`sqlite_writer.rs`).

use crate::common::*;
use serde_json::json;
use std::time::{Duration, Instant};
use tasker::{Config, State};

const CHAIN: &str = r#"
name: chain
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: a, handler: ok}
  - {name: b, handler: ok, depends_on_step: a}
  - {name: c, handler: ok, depends_on_step: b}
  - {name: d, handler: ok, depends_on_step: c}
"#;

fn chain_client(max_connections: u32) -> (tasker::Client, TestDb) {
    let cfg = Config {
        max_connections,
        ..fast_config()
    };
    let (c, db) = client_with(Backend::Postgres, cfg, None);
    c.register_template_yaml(CHAIN).unwrap();
    c.register_fn("ok", |_| Ok(json!({"ok": true}))).unwrap();
    (c, db)
}

/// Creates a chain task and runs it inline to the end; returns its id.
fn run_chain(c: &tasker::Client, i: usize) -> i64 {
    let t = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("chain", json!({"i": i}))
        })
        .unwrap();
    let ctx = c.run_task(t.task_id).unwrap();
    assert_eq!(ctx.task_state, State::Complete);
    t.task_id
}

/// Connections of the database of `url`, other than the one asking, whose last statement was
/// one of the hot single statements (creation, claim, complete-and-claim, deadline read).
fn backends_that_ran_hot_statements(url: &str) -> i64 {
    pg_scalar(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND (query LIKE 'SELECT * FROM tasker_complete_claim_%' \
         OR query LIKE '%INSERT INTO tasker_tasks%' OR query LIKE 'WITH cl AS (UPDATE%' \
         OR query LIKE 'SELECT deadline_at FROM tasker_tasks%')",
    )
}

fn other_backends(url: &str) -> i64 {
    pg_scalar(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid()",
    )
}

// Each statement of an inline run used to take another pooled connection: the previous one was
// still being tested by sqlx. Parked, all of them run on one.
#[test]
fn postgres_inline_runs_keep_their_statements_on_one_connection() {
    let (c, db) = chain_client(4);
    for i in 0..5 {
        run_chain(&c, i);
    }
    assert_eq!(
        backends_that_ran_hot_statements(&db.url),
        1,
        "the hot statements ran on more than one connection"
    );
    assert!(
        other_backends(&db.url) <= 4 + 1,
        "more connections than max_connections and the parked one"
    );
}

// The parked connection dies (as in a server restart): the next statement meets it, is sent
// again on a live connection, and the caller never sees the error.
#[test]
fn postgres_dead_parked_connection_is_replaced_unseen() {
    let (c, db) = chain_client(4);
    run_chain(&c, 0);
    let killed: i64 = pg_scalar(
        &db.url,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    assert!(killed > 0, "no connection terminated");
    for i in 1..4 {
        let id = run_chain(&c, i);
        assert_history_legal(&c.task_view(id).unwrap());
    }
}

// The parked connection is not the pool's: with a pool of one, the statements and transactions
// that use the pool still find its connection (a parked pooled connection would make them wait
// until the acquire timeout and fail).
#[test]
fn postgres_pool_of_one_still_serves_the_pool_users() {
    let (c, _db) = chain_client(1);
    for i in 0..3 {
        run_chain(&c, i);
    }
    // The worker's path too (claims and completions as single statements).
    let t = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("chain", json!({"worker": true}))
        })
        .unwrap();
    let mut ran = 0;
    while ran < 4 {
        let n = c.run_once().unwrap();
        assert!(n > 0, "nothing claimable before the chain ended");
        ran += n;
    }
    assert_eq!(c.task_view(t.task_id).unwrap().state, State::Complete);
}

// Closing the client gives the parked connection back before the pool closes (the pool waits
// for every checked-out connection): the close returns and the server sees no connection left.
#[test]
fn postgres_close_closes_the_parked_connection() {
    let (c, db) = chain_client(4);
    run_chain(&c, 0);
    assert!(other_backends(&db.url) > 0);
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(10);
    while other_backends(&db.url) > 0 {
        assert!(
            Instant::now() < deadline,
            "connections left open after the client closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

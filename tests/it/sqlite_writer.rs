//! SQLite files: every write transaction runs on one dedicated connection (its page cache and
//! statement cache stay warm; docs/ARCHITECTURE.md). Closing the store closes that connection
//! too: a write after the close fails instead of still finding it open.

use crate::common::*;
use serde_json::json;
use tasker::Client;

#[test]
fn closing_the_store_closes_the_writer_connection() {
    let db = new_db(Backend::Sqlite);
    let (rt, store) = store_runtime(&db.url);
    rt.block_on(async {
        use tasker::testing::ClaimScope;
        // A write transaction (a claim of nothing), on the writer connection.
        let now = tasker::Clock::now_ms(&tasker::SystemClock);
        let (claimed, _) = store.claim(ClaimScope::Any, 1, now).await.unwrap();
        assert!(claimed.is_empty());
        store.close().await;
        let after = store.claim(ClaimScope::Any, 1, now).await;
        assert!(
            matches!(after, Err(tasker::Error::Database(_))),
            "a write transaction began after close: {after:?}"
        );
    });
}

/// Context switches so far of this process's sqlx-sqlite connection threads (each connection
/// runs on a thread of that name).
fn sqlx_thread_switches() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let dir = task.expect("task entry").path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !name.starts_with("sqlx-sqlite") {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        total += status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    total
}

/// The body of `raw_writes_leave_the_connection_thread_asleep`, in a process of its own (no
/// other test's connections).
#[test]
#[ignore = "run as a child process by raw_writes_leave_the_connection_thread_asleep"]
fn raw_writes_child_entry() {
    const WRITES: usize = 1000;
    let url = std::env::var("TASKER_TEST_RAW_WRITES_URL").expect("url");
    let c = Client::connect_with(&url, fast_config(), None).expect("connect");
    c.register_template_value(json!({
        "name": "one", "namespace_name": "tests", "version": "1.0.0",
        "step_templates": [{"name": "a", "handler": "noop"}]
    }))
    .expect("template");
    // Warm-up (statement caches). Every creation has an identity of its own: one whose
    // identity exists takes the sqlx path, which hands the connection back to sqlx.
    create_tests_tasks(&c, "one", 0..20);
    let before = sqlx_thread_switches();
    create_tests_tasks(&c, "one", 20..20 + WRITES);
    let switches = sqlx_thread_switches() - before;
    eprintln!("{switches} context switches of sqlx-sqlite threads over {WRITES} creations");
    // Handed over per write: about two per write on the writer's thread (1,740 measured). Held:
    // the writer's thread sleeps, and creation reads nothing through the readers.
    assert!(
        switches < (WRITES / 20) as u64,
        "{switches} context switches of sqlx's connection threads over {WRITES} raw creations: \
         the writer's handle goes back and forth"
    );
}

/// The writer's raw handle stays locked out of sqlx's connection thread between raw write
/// transactions (`HeldWriter`): back-to-back creations never wake that thread. Handing the
/// handle over per write (a message to the thread, which releases and re-takes its lock) woke
/// it twice per write, and under load lost races left those messages queued until the
/// thread's channel was full and creation stopped for good (`make bench`, PERFORMANCE.md
/// round 14). Counted in a process of its own: the context switches of its sqlx-sqlite
/// threads over 1,000 creations.
#[test]
fn raw_writes_leave_the_connection_thread_asleep() {
    let db = new_db(Backend::Sqlite);
    let status = spawn_test_entry(
        "sqlite_writer::raw_writes_child_entry",
        &[("TASKER_TEST_RAW_WRITES_URL", db.url.clone())],
    )
    .wait()
    .expect("child test process");
    assert!(
        status.success(),
        "the child test failed (its stderr is above)"
    );
}

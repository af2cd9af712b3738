//! PostgreSQL plans each pooled statement once per connection (`plan_cache_mode =
//! force_generic_plan`, docs/ARCHITECTURE.md) from the statistics of that moment, so a plan must
//! not rely on them being current. These tests take the statistics while no step runs (a freshly
//! analysed queue: every partial index of running steps looks empty) and read the generic plans
//! the statements get. SQLite plans each statement from its own rules, not from such statistics:
//! the trap is PostgreSQL's, and so are these tests.

use crate::common::*;
use serde_json::json;

const ONE: &str = "name: one\nnamespace_name: tests\nversion: 1.0.0\n\
                   step_templates:\n  - {name: a, handler: noop}\n";

/// The generic plan of `sql` (its parameters all NULL), one line per node, on a connection of
/// its own to `url`.
fn generic_plan(rt: &tokio::runtime::Runtime, url: &str, sql: &str, params: usize) -> String {
    rt.block_on(async {
        use sqlx::{Connection, Executor, Row};
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        c.execute("SET plan_cache_mode = force_generic_plan")
            .await
            .unwrap();
        c.execute(format!("PREPARE p AS {sql}").as_str())
            .await
            .unwrap();
        let args = vec!["NULL"; params].join(", ");
        let rows = sqlx::query(&format!("EXPLAIN EXECUTE p({args})"))
            .fetch_all(&mut c)
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.get::<String, _>(0))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// `plan` finds its steps by primary key, not through the lease index.
fn assert_probes_primary_key(plan: &str, what: &str) {
    assert!(
        !plan.contains("steps_lease_idx"),
        "{what} reads the lease index:\n{plan}"
    );
    assert!(
        plan.contains("tasker_workflow_steps_pkey"),
        "{what}:\n{plan}"
    );
}

// The lease index holds every running step, for the lease reaper. Its predicate was `state =
// 'in_progress'`, which the fenced statements of one step imply ("this step, this claim token,
// in progress"): with statistics in which it looked empty, their generic plan read the whole
// index — every running step — instead of probing the primary key, on every completion, so a
// completion's cost grew with the number of steps running anywhere (migration 0023).
#[test]
fn fenced_step_statements_probe_the_primary_key_not_the_lease_index() {
    let (c, db) = client(Backend::Postgres);
    c.register_template_yaml(ONE).unwrap();
    create_tests_tasks(&c, "one", 0..8);
    // A queue with a history: 5,000 finished steps (copies of a pending one, as the planner
    // prices a table by its size), and none running when the statistics are taken.
    exec_sql(
        &db.url,
        "INSERT INTO tasker_workflow_steps OVERRIDING SYSTEM VALUE \
         SELECT (jsonb_populate_record(s, jsonb_build_object('workflow_step_id', 1000000 + g, \
         'name', 'done' || g, 'state', 'complete', 'ready_at', NULL))).* \
         FROM tasker_workflow_steps s, generate_series(1, 5000) g \
         WHERE s.workflow_step_id = (SELECT min(workflow_step_id) FROM tasker_workflow_steps)",
    );
    exec_sql(&db.url, "ANALYZE");
    let (rt, store) = store_runtime(&db.url);
    let now = tasker::Clock::now_ms(&tasker::SystemClock) + 1_000;
    let completion: String = rt.block_on(async {
        use tasker::testing::ClaimScope;
        let (claimed, _) = store.claim_loaded(ClaimScope::Any, 4, now).await.unwrap();
        assert_eq!(claimed.len(), 4);
        let (s, _) = &claimed[0];
        store
            .complete_step(s.task_id, s.step_id, &s.claim_token, &json!({}), now)
            .await
            .unwrap();
        // The completion's text as the library prepared it, on the session it ran on.
        let row = store
            .pg_hot_session_row(
                "SELECT statement FROM pg_prepared_statements \
                 WHERE statement LIKE 'WITH v AS (SELECT * FROM jsonb_to_recordset%' LIMIT 1",
            )
            .await
            .unwrap();
        row[0].clone().expect("the completion was prepared")
    });

    let plan = generic_plan(&rt, &db.url, &completion, 2);
    assert_probes_primary_key(&plan, "the completion");
    // The single-step fenced shape (failure, heartbeat, release, checkpoint).
    let plan = generic_plan(
        &rt,
        &db.url,
        "UPDATE tasker_workflow_steps SET lease_expires_at = $3 \
         WHERE workflow_step_id = $1 AND claim_token = $2 AND state = 'in_progress'",
        3,
    );
    assert_probes_primary_key(&plan, "a fenced update");
    // The reaper still finds expired leases through the index.
    let plan = generic_plan(
        &rt,
        &db.url,
        "SELECT workflow_step_id FROM tasker_workflow_steps s \
         WHERE s.state = 'in_progress' AND s.lease_expires_at < $1 \
         ORDER BY s.lease_expires_at LIMIT $2",
        2,
    );
    assert!(plan.contains("steps_lease_idx"), "{plan}");
}

//! Complete-and-claim, the transaction of every step of an inline run after the first: on an
//! SQLite file it runs on the writer connection's raw handle (src/database/sqlite_raw*.rs), on
//! PostgreSQL through the complete-and-claim function. Both must fence stale claims, discard
//! results for cancelled tasks, finish tasks, release several children, and roll everything
//! back when a statement fails mid-transaction.

use crate::common::*;
use crate::storage::ONE;
use serde_json::json;
use tasker::testing::{ClaimScope, Claimed, Store};
use tasker::State;

const FAN: &str = r#"
name: fan
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: root, handler: square}
  - {name: x, handler: square, depends_on_step: root}
  - {name: y, handler: square, depends_on_step: root}
  - {name: z, handler: square, depends_on_step: root}
"#;

/// A task of `template` (registered from `yaml`) with its root step claimed through a store.
/// (`store` before `rt`: fields drop in order, and the store's connections close on its runtime.)
struct Started {
    c: tasker::Client,
    db: TestDb,
    store: Store,
    rt: tokio::runtime::Runtime,
    task: i64,
    root: Claimed,
    now: i64,
}

fn started(b: Backend, yaml: &str, template: &str) -> Started {
    let (c, db) = client(b);
    c.register_template_yaml(yaml).unwrap();
    let task = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req(template, json!({}))
        })
        .unwrap()
        .task_id;
    let (rt, store) = store_runtime(&db.url);
    let now = tasker::Clock::now_ms(&tasker::SystemClock) + 1_000;
    let (mut claimed, _) = rt
        .block_on(store.claim(ClaimScope::Task(task), 1, now))
        .unwrap();
    let root = claimed.pop().expect("the root is ready");
    Started {
        c,
        db,
        store,
        rt,
        task,
        root,
        now,
    }
}

/// `store.complete_step_and_claim` of `step` with `token` at `at`, claiming up to `limit`.
macro_rules! complete {
    ($s:expr, $step:expr, $token:expr, $at:expr, $limit:expr) => {
        $s.rt.block_on($s.store.complete_step_and_claim(
            $s.task,
            $step.step_id,
            $token,
            &json!({ "v": $step.name }),
            $at,
            $limit,
        ))
    };
}

both_backends!(a_stale_claim_is_rejected_and_nothing_is_written, |b| {
    let s = started(b, FAN, "fan");
    let out = complete!(s, s.root, "not-the-token", s.now + 1, 4);
    assert!(
        matches!(out, Err(tasker::Error::StaleClaim(id)) if id == s.root.step_id),
        "{out:?}"
    );
    let view = s.c.task_view(s.task).unwrap();
    assert_eq!(view.step("root").unwrap().state, State::InProgress);
    assert!(view.steps.iter().all(|st| st.results.is_none()));
    // The rolled-back count: the real claim still completes, releases and finishes nothing early.
    let (settled, next, _) = complete!(s, s.root, &s.root.claim_token, s.now + 2, 4).unwrap();
    assert_eq!(settled.newly_ready.len(), 3);
    assert_eq!(next.len(), 3);
    assert!(!settled.task_finished);
});

// Cancelling takes the claims back: the late result is refused and nothing is written (on an
// SQLite file the raw path hands a task not in progress back to the sqlx transaction).
both_backends!(a_cancelled_tasks_late_result_is_refused, |b| {
    let s = started(b, FAN, "fan");
    assert!(s.c.cancel_task(s.task).unwrap());
    let out = complete!(s, s.root, &s.root.claim_token, s.now + 1, 4);
    assert!(
        matches!(out, Err(tasker::Error::StaleClaim(id)) if id == s.root.step_id),
        "{out:?}"
    );
    let view = s.c.task_view(s.task).unwrap();
    assert_eq!(view.state, State::Cancelled);
    assert!(view.steps.iter().all(|st| st.results.is_none()));
    assert_history_legal(&view);
});

both_backends!(the_last_step_finishes_its_task, |b| {
    let s = started(b, ONE, "one");
    let (settled, next, rec) = complete!(s, s.root, &s.root.claim_token, s.now + 1, 4).unwrap();
    assert!(settled.task_finished && next.is_empty() && rec.is_empty());
    assert!(
        settled.recorded.iter().any(|r| r.to == State::Complete
            && r.step_id.is_none()
            && r.from == Some(State::InProgress)),
        "{settled:?}"
    );
    let view = s.c.task_view(s.task).unwrap();
    assert_eq!(view.state, State::Complete);
    assert_eq!(
        view.step("only").unwrap().results,
        Some(json!({"v": "only"}))
    );
    assert_history_legal(&view);
});

both_backends!(
    a_step_releasing_three_children_claims_up_to_its_limit,
    |b| {
        let s = started(b, FAN, "fan");
        let (settled, next, rec) = complete!(s, s.root, &s.root.claim_token, s.now + 1, 2).unwrap();
        assert_eq!(settled.newly_ready.len(), 3);
        assert_eq!(next.len(), 2, "limit 2");
        assert_eq!(rec.len(), 2, "one start each: {rec:?}");
        for (c, l) in &next {
            assert_eq!(c.attempts, 1);
            assert_eq!(l.context.task.task_id, s.task);
            assert_eq!(l.context.claim_token, c.claim_token);
            assert_eq!(
                l.context.dependency_results.get("root"),
                Some(&json!({"v": "root"}))
            );
        }
        // The third is left claimable.
        let (rest, _) =
            s.rt.block_on(s.store.claim(ClaimScope::Task(s.task), 4, s.now + 2))
                .unwrap();
        assert_eq!(rest.len(), 1);
        let mut all: Vec<&str> = next
            .iter()
            .map(|(c, _)| c.name.as_str())
            .chain(rest.iter().map(|c| c.name.as_str()))
            .collect();
        all.sort();
        assert_eq!(all, ["x", "y", "z"]);
        assert_history_legal(&s.c.task_view(s.task).unwrap());
    }
);

// A statement failing after the completion was written (the claim's transition insert, made
// to fail by a trigger) rolls the whole transaction back: the step is still claimed with its
// token, and once the fault is gone the same completion goes through.
both_backends!(a_fault_mid_transaction_rolls_everything_back, |b| {
    let s = started(b, FAN, "fan");
    let inject = if s.db.url.starts_with("postgres") {
        "CREATE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.to_state = 'in_progress' THEN RAISE EXCEPTION 'injected fault'; END IF; \
         RETURN NEW; END $$; \
         CREATE TRIGGER inject_fault BEFORE INSERT ON tasker_workflow_step_transitions \
         FOR EACH ROW EXECUTE FUNCTION inject_fault()"
    } else {
        "CREATE TRIGGER inject_fault BEFORE INSERT ON tasker_workflow_step_transitions \
         WHEN NEW.to_state = 'in_progress' BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
    };
    exec_sql(&s.db.url, inject);
    let out = complete!(s, s.root, &s.root.claim_token, s.now + 1, 4);
    assert!(
        matches!(&out, Err(e @ tasker::Error::Database(_)) if e.to_string().contains("injected fault")),
        "{out:?}"
    );
    let view = s.c.task_view(s.task).unwrap();
    let root = view.step("root").unwrap();
    assert_eq!(root.state, State::InProgress);
    assert!(root.results.is_none());
    assert!(["x", "y", "z"]
        .iter()
        .all(|n| view.step(n).unwrap().state == State::Pending));
    let drop = if s.db.url.starts_with("postgres") {
        "DROP TRIGGER inject_fault ON tasker_workflow_step_transitions"
    } else {
        "DROP TRIGGER inject_fault"
    };
    exec_sql(&s.db.url, drop);
    let (settled, next, _) = complete!(s, s.root, &s.root.claim_token, s.now + 2, 4).unwrap();
    assert_eq!((settled.newly_ready.len(), next.len()), (3, 3));
    assert_history_legal(&s.c.task_view(s.task).unwrap());
});

// The statements prepared on the writer's raw handle are finalized before its connection
// closes (sqlx cannot close a connection with live statements): closing the store, and
// dropping one without closing it, after raw transactions.
#[test]
fn the_raw_statements_do_not_outlive_the_writer_connection() {
    let s = started(Backend::Sqlite, FAN, "fan");
    complete!(s, s.root, &s.root.claim_token, s.now + 1, 4).unwrap();
    s.rt.block_on(s.store.close());
    let after = complete!(s, s.root, &s.root.claim_token, s.now + 2, 4);
    assert!(
        matches!(after, Err(tasker::Error::Database(_))),
        "{after:?}"
    );
    let s = started(Backend::Sqlite, FAN, "fan");
    complete!(s, s.root, &s.root.claim_token, s.now + 1, 4).unwrap();
    let Started {
        rt, store, c, task, ..
    } = s;
    rt.block_on(async move { drop(store) });
    // Another store on the same file still reads what was committed.
    assert_eq!(
        c.task_view(task).unwrap().step("root").unwrap().state,
        State::Complete
    );
}

const WIDE: &str = r#"
name: wide
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: a, handler: square, handler_config: {k: [1, "two"]}, lease_ms: 7000, timeout_ms: 900,
     default_retry_limit: 5, backoff: {base_ms: 250, factor: 1.5, max_ms: 9000, jitter: 0.25}}
  - {name: b, handler: square, depends_on_step: a, default_retryable: false, skippable: true}
  - {name: c, handler: square, depends_on_step: a, concurrency: {limit: 2, key: /n}}
  - {name: d, handler: square, depends_on_steps: [b, c]}
"#;

/// A history without its times: (from, to, sort key, most recent, metadata) per row.
fn history(rows: &[tasker::TransitionView]) -> Vec<String> {
    rows.iter()
        .map(|t| {
            format!(
                "{:?}>{:?} {} {} {}",
                t.from_state, t.to_state, t.sort_key, t.most_recent, t.metadata
            )
        })
        .collect()
}

/// What a new task's rows say, minus ids and times: each step's columns, parents, transitions
/// and (for the ready root) the run settings its claim loads.
fn created_rows(
    c: &tasker::Client,
    store: &Store,
    rt: &tokio::runtime::Runtime,
    task: i64,
) -> String {
    let view = c.task_view(task).unwrap();
    let mut out = format!(
        "{:?} n={} tags={:?} history={:?}\n",
        view.state,
        view.context["n"],
        view.tags,
        history(&view.transitions),
    );
    for s in &view.steps {
        out.push_str(&format!(
            "{} {} {:?} attempts={} limit={} retryable={} skippable={} inputs={} results={:?} \
             priority={} timeout={:?} key={:?} parents={:?} history={:?}\n",
            s.name,
            s.handler,
            s.state,
            s.attempts,
            s.retry_limit,
            s.retryable,
            s.skippable,
            s.inputs,
            s.results,
            s.priority,
            s.timeout_ms,
            s.concurrency_key,
            s.parents,
            history(&s.transitions),
        ));
    }
    let now = tasker::Clock::now_ms(&tasker::SystemClock) + 1_000;
    let (claimed, _) = rt
        .block_on(store.claim_loaded(ClaimScope::Task(task), 4, now))
        .unwrap();
    for (s, loaded) in claimed {
        out.push_str(&format!(
            "claimed {} backoff={:?} lease={} config={} timeout={}\n",
            s.name,
            loaded.backoff,
            loaded.lease_ms,
            loaded.context.step.handler_config,
            loaded.deadline_at.map_or(-1, |d| d - now),
        ));
    }
    out
}

// A task created on the fast path (PostgreSQL: one statement; an SQLite file: the writer's
// raw handle) has the same rows as one created by the transaction (taken for a task with a
// deadline): step columns of every type (floats, booleans, JSON, NULLs), edges, the first
// transitions and the run settings its claim loads.
both_backends!(
    a_task_created_on_the_fast_path_has_the_transactions_rows,
    |b| {
        let (c, db) = client(b);
        c.register_template_yaml(WIDE).unwrap();
        let request = |deadline_ms, which| tasker::TaskRequest {
            namespace: Some("tests".into()),
            tags: vec!["t1".into()],
            priority: Some(3),
            deadline_ms,
            ..req("wide", json!({"n": 1, "which": which}))
        };
        let fast = c.create_task(&request(None, "fast")).unwrap();
        let slow = c.create_task(&request(Some(3_600_000), "slow")).unwrap();
        assert!(fast.created && slow.created);
        let (rt, store) = store_runtime(&db.url);
        let fast_rows = created_rows(&c, &store, &rt, fast.task_id);
        let slow_rows = created_rows(&c, &store, &rt, slow.task_id);
        assert_eq!(fast_rows, slow_rows);
        assert!(fast_rows.contains("claimed a backoff="), "{fast_rows}");
        assert!(fast_rows.contains("factor: Some(1.5)"), "{fast_rows}");
        // The same request again is the same task (its identity), on the fast path's hand-back.
        let again = c.create_task(&request(None, "fast")).unwrap();
        assert_eq!((again.task_id, again.created), (fast.task_id, false));
    }
);

//! Storage paths seen from the store itself (both backends): what one group completion, and an
//! inline run's complete-and-claim, do with each kind of item. On PostgreSQL a group's running
//! tasks' steps take the one-statement completion and the others are handed to the
//! transactional path; on SQLite all take the latter. The results must be the same.

use crate::common::*;
use serde_json::json;
use tasker::State;

pub(crate) const ONE: &str = r#"
name: one
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: only, handler: square}
"#;

/// One task per template name (namespace `tests`, context `{n: index}`) and their roots claimed
/// through a store of its own: what the tests below complete in different ways.
fn claimed_roots(
    c: &tasker::Client,
    url: &str,
    templates: &[&str],
) -> (
    Vec<i64>,
    tokio::runtime::Runtime,
    tasker::testing::Store,
    Vec<tasker::testing::Claimed>,
    i64,
) {
    let tasks: Vec<i64> = templates
        .iter()
        .enumerate()
        .map(|(n, name)| {
            c.create_task(&tasker::TaskRequest {
                namespace: Some("tests".into()),
                ..req(name, json!({ "n": n }))
            })
            .unwrap()
            .task_id
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = tasker::Clock::now_ms(&tasker::SystemClock) + 1_000;
    let (store, claimed) = rt.block_on(async {
        use tasker::testing::{ClaimScope, Store};
        let store = Store::connect(url, 4, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let (claimed, _) = store.claim(ClaimScope::Any, 10, now).await.unwrap();
        (store, claimed)
    });
    assert_eq!(claimed.len(), tasks.len(), "the roots are the ready steps");
    (tasks, rt, store, claimed, now)
}

both_backends!(group_completion_settles_each_kind_of_item, |b| {
    let (c, db) = client(b);
    c.register_template_yaml(DIAMOND).unwrap();
    c.register_template_yaml(ONE).unwrap();
    // released: its root completes and frees two children; cancelled: cancelled while its
    // root runs; stale: completed under a token that is not the claim's; finished: its only
    // step completes the task.
    let (tasks, rt, store, claimed, now) =
        claimed_roots(&c, &db.url, &["diamond", "diamond", "diamond", "one"]);
    let (released, cancelled, stale, finished) = (tasks[0], tasks[1], tasks[2], tasks[3]);
    rt.block_on(async {
        use tasker::testing::Completion;
        let of = |task_id: i64| claimed.iter().find(|x| x.task_id == task_id).unwrap();
        store.cancel_task(cancelled, now + 1).await.unwrap();
        let item = |task_id: i64, token: Option<&str>| Completion {
            task_id,
            step_id: of(task_id).step_id,
            claim_token: token.unwrap_or(&of(task_id).claim_token).to_string(),
            results: json!({"value": task_id}),
        };
        let items = [
            item(released, None),
            item(cancelled, None),
            item(stale, Some("not-the-claim-token")),
            item(finished, None),
        ];
        let out = store.complete_steps(&items, now + 2).await.unwrap();
        let r = out[0].as_ref().unwrap();
        assert_eq!(r.newly_ready.len(), 2, "diamond root frees b and c");
        assert!(!r.task_finished && !r.discarded);
        // The cancel already cancelled the running step: its result is refused or discarded
        // (which of the two it is reported as is the hardening issue's), never written.
        assert!(
            match &out[1] {
                Ok(s) => s.discarded,
                Err(e) => matches!(e, tasker::Error::StaleClaim(_)),
            },
            "{:?}",
            out[1]
        );
        assert!(
            matches!(out[2], Err(tasker::Error::StaleClaim(id)) if id == of(stale).step_id),
            "{:?}",
            out[2]
        );
        let f = out[3].as_ref().unwrap();
        assert!(f.task_finished, "{f:?}");
        assert!(f
            .recorded
            .iter()
            .any(|t| t.step_id.is_none() && t.to == State::Complete));
    });
    let state = |id: i64| c.task_view(id).unwrap();
    assert_eq!(state(released).state, State::InProgress);
    assert_eq!(state(cancelled).state, State::Cancelled);
    assert_eq!(state(finished).state, State::Complete);
    let stale_view = state(stale);
    assert_eq!(stale_view.state, State::InProgress);
    assert!(stale_view
        .steps
        .iter()
        .any(|s| s.name == "a" && s.state == State::InProgress));
    for id in [released, cancelled, stale, finished] {
        assert_history_legal(&state(id));
    }
    // The released task runs to its end from there.
    let log = ExecLog::default();
    register_handlers(&c, &log);
    assert_eq!(c.run_task(released).unwrap().task_state, State::Complete);
    assert_history_legal(&state(released));
});

// Complete-and-claim (an inline run's "finish this step, take the next"): one transaction
// completes the step and claims the children it released.
both_backends!(complete_and_claim_settles_each_kind_of_completion, |b| {
    let (c, db) = client(b);
    c.register_template_yaml(LINEAR).unwrap();
    c.register_template_yaml(ONE).unwrap();
    // released: `a` completes and its child `b` is claimed in the same call; stale: completed
    // under a token that is not the claim's; cancelled: cancelled while `a` runs; finished: its
    // only step completes the task.
    let (tasks, rt, store, claimed, now) =
        claimed_roots(&c, &db.url, &["linear", "linear", "linear", "one"]);
    let (released, stale, cancelled, finished) = (tasks[0], tasks[1], tasks[2], tasks[3]);
    let of = |task_id: i64| claimed.iter().find(|x| x.task_id == task_id).unwrap();
    let complete = |task_id: i64, token: &str| {
        rt.block_on(store.complete_step_and_claim(
            task_id,
            of(task_id).step_id,
            token,
            &json!({"v": 1}),
            now + 2,
            4,
        ))
    };

    let (settled, next, rec) = complete(released, &of(released).claim_token).unwrap();
    assert!(!settled.task_finished && !settled.discarded);
    assert_eq!(settled.newly_ready.len(), 1, "a frees b");
    assert_eq!(next.len(), 1, "b is claimed in the same transaction");
    assert_eq!(next[0].0.step_id, settled.newly_ready[0]);
    assert_eq!(next[0].0.name, "b");
    assert!(rec
        .iter()
        .any(|r| r.step_id == Some(next[0].0.step_id) && r.to == State::InProgress));

    let err = complete(stale, "not-the-claim-token").unwrap_err();
    assert!(
        matches!(err, tasker::Error::StaleClaim(id) if id == of(stale).step_id),
        "{err:?}"
    );

    rt.block_on(store.cancel_task(cancelled, now + 1)).unwrap();
    // The cancel already cancelled the running step: its result is refused or discarded, never
    // written, and nothing is claimed.
    match complete(cancelled, &of(cancelled).claim_token) {
        Ok((s, next, _)) => assert!(s.discarded && next.is_empty(), "{s:?}"),
        Err(e) => assert!(matches!(e, tasker::Error::StaleClaim(_)), "{e:?}"),
    }

    let (settled, next, _) = complete(finished, &of(finished).claim_token).unwrap();
    assert!(settled.task_finished, "{settled:?}");
    assert!(next.is_empty());
    assert!(settled
        .recorded
        .iter()
        .any(|t| t.step_id.is_none() && t.to == State::Complete));

    let view = |id: i64| c.task_view(id).unwrap();
    let step_state = |id: i64, name: &str| {
        view(id)
            .steps
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.state)
            .unwrap()
    };
    assert_eq!(view(released).state, State::InProgress);
    assert_eq!(step_state(released, "a"), State::Complete);
    assert_eq!(step_state(released, "b"), State::InProgress);
    assert_eq!(view(stale).state, State::InProgress);
    assert_eq!(step_state(stale, "a"), State::InProgress);
    assert_eq!(step_state(stale, "b"), State::Pending);
    assert_eq!(view(cancelled).state, State::Cancelled);
    assert_eq!(view(finished).state, State::Complete);
    for id in [released, stale, cancelled, finished] {
        assert_history_legal(&view(id));
    }
});

const LEASES: &str = r#"
name: leases
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: own, handler: square, lease_ms: 7000}
  - {name: claimers, handler: square}
"#;

// A step's lease is chosen when it is claimed: its template's `lease_ms`, else the claiming
// client's, not the creating client's (whose 5-minute default made a killed worker's steps wait
// 5 minutes whatever the worker's own setting).
both_backends!(lease_is_chosen_at_claim_time, |b| {
    let (c, db) = client(b); // creates with the default lease (5 min)
    c.register_template_yaml(LEASES).unwrap();
    c.create_task(&tasker::TaskRequest {
        namespace: Some("tests".into()),
        ..req("leases", json!({}))
    })
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use tasker::testing::{ClaimScope, Store};
        let store = Store::connect(&db.url, 2, std::time::Duration::from_secs(5))
            .await
            .unwrap()
            .with_claim_lease_ms(2_000);
        let now = tasker::Clock::now_ms(&tasker::SystemClock) + 1_000;
        let (claimed, _) = store.claim_loaded(ClaimScope::Any, 10, now).await.unwrap();
        assert_eq!(claimed.len(), 2);
        for (cl, loaded) in &claimed {
            let want = if cl.name == "own" { 7_000 } else { 2_000 };
            assert_eq!(loaded.lease_ms, want, "lease of {}", cl.name);
            // A heartbeat extends by the same lease.
            let expiry = store
                .heartbeat(cl.step_id, &cl.claim_token, now + 500)
                .await
                .unwrap();
            assert_eq!(expiry, now + 500 + want, "heartbeat of {}", cl.name);
        }
    });
});

// The schema itself refuses a state outside the six and a counter below zero, whichever
// statement writes it (PostgreSQL: the domains of migration 22; SQLite: CHECK constraints), and
// the rows keep their values.
both_backends!(schema_refuses_unknown_states_and_negative_counters, |b| {
    let (c, db) = client(b);
    c.register_template_yaml(ONE).unwrap();
    let task = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("one", json!({ "n": 3 }))
        })
        .unwrap();
    let t = task.task_id;
    let refused = [
        format!("UPDATE tasker_tasks SET state = 'bogus' WHERE task_id = {t}"),
        format!("UPDATE tasker_tasks SET unfinished_steps = -1 WHERE task_id = {t}"),
        format!("UPDATE tasker_workflow_steps SET state = 'done' WHERE task_id = {t}"),
        format!("UPDATE tasker_workflow_steps SET pending_parents = pending_parents - 1 WHERE task_id = {t}"),
        format!(
            "UPDATE tasker_task_transitions SET to_state = 'finished' WHERE task_id = {t}"
        ),
        format!(
            "UPDATE tasker_workflow_step_transitions SET from_state = 'waiting' \
             WHERE workflow_step_id IN (SELECT workflow_step_id FROM tasker_workflow_steps WHERE task_id = {t})"
        ),
    ];
    for sql in &refused {
        let err = try_exec_sql(&db.url, sql).expect_err(sql);
        assert!(err.to_lowercase().contains("check"), "{sql}: {err}");
    }
    // Legal values still pass (a NULL from_state included).
    exec_sql(
        &db.url,
        &format!("UPDATE tasker_task_transitions SET from_state = NULL WHERE task_id = {t}"),
    );
    let view = c.task_view(t).unwrap();
    assert_eq!(view.state, State::Pending);
    assert!(view.steps.iter().all(|s| s.state == State::Pending));
    register_handlers(&c, &ExecLog::default());
    assert_eq!(c.run_task(t).unwrap().task_state, State::Complete);
});

// PostgreSQL, a rolling upgrade across migration 22: a complete-and-claim function installed by
// an earlier build declares the claim's state columns as VARCHAR, and RETURN QUERY refuses the
// domain they now are; the migration re-creates such functions with the domain in those columns,
// so a process of the earlier build still running keeps working.
#[test]
fn functions_of_earlier_builds_survive_the_state_domain() {
    let db = new_db(crate::common::Backend::Postgres);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (before, from22): (Vec<_>, Vec<_>) = files.iter().partition(|p| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        name.as_str() < "0022"
    });
    assert!(from22[0].ends_with("0022_domain_checks.sql"), "{from22:?}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let call = "SELECT old_state, task_state FROM tasker_complete_claim_0123456789abcdef(1)";
    let (old_state, task_state): (String, String) = rt.block_on(async {
        use sqlx::{Connection, Executor};
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        for f in &before {
            c.execute(sqlx::raw_sql(&std::fs::read_to_string(f).unwrap()))
                .await
                .unwrap();
        }
        // What an earlier build installed: the claim's states as VARCHAR (its own settings kept).
        c.execute(sqlx::raw_sql(
            "INSERT INTO tasker_task_transitions (task_id, from_state, to_state, metadata, sort_key, created_at) \
             VALUES (1, 'pending', 'in_progress', '{}', 10, 0); \
             CREATE FUNCTION tasker_complete_claim_0123456789abcdef(p_task bigint) \
             RETURNS TABLE (old_state varchar, task_state varchar) LANGUAGE plpgsql VOLATILE \
             SET enable_seqscan = off AS $f$ BEGIN RETURN QUERY \
             SELECT x.from_state, x.to_state FROM tasker_task_transitions x WHERE x.task_id = p_task; \
             END $f$",
        ))
        .await
        .unwrap();
        c.execute(sqlx::raw_sql(&std::fs::read_to_string(from22[0]).unwrap()))
            .await
            .unwrap();
        let config: Vec<String> = sqlx::query_scalar(
            "SELECT unnest(proconfig) FROM pg_proc WHERE proname = 'tasker_complete_claim_0123456789abcdef'",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        assert_eq!(config, ["enable_seqscan=off"]);
        let result: String = sqlx::query_scalar(
            "SELECT pg_get_function_result('tasker_complete_claim_0123456789abcdef'::regproc)",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(result, "TABLE(old_state tasker_state, task_state tasker_state)");
        sqlx::query_as(call).fetch_one(&mut c).await.unwrap()
    });
    assert_eq!(
        (old_state.as_str(), task_state.as_str()),
        ("pending", "in_progress")
    );
}

// A step whose lease expired keeps its place in the ready order: its retry is ready after the
// delay counted from its claim, so it is claimed before steps that became ready while its lease
// ran (it used to queue behind that whole backlog).
both_backends!(expired_lease_retry_keeps_its_place_in_line, |b| {
    let t0 = tasker::Clock::now_ms(&tasker::SystemClock);
    let clock = tasker::ManualClock::new(t0);
    let (c, db) = client_with(b, fast_config(), Some(clock.clone()));
    c.register_template_yaml(ONE).unwrap();
    let task = |n: i64| {
        c.create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("one", json!({ "n": n }))
        })
        .unwrap()
        .task_id
    };
    let first = task(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    use tasker::testing::{ClaimScope, Failure, RetryDecision, Store};
    let store = rt.block_on(async {
        let store = Store::connect(&db.url, 2, std::time::Duration::from_secs(5))
            .await
            .unwrap()
            .with_claim_lease_ms(60_000);
        let (claimed, _) = store.claim(ClaimScope::Any, 1, t0 + 10).await.unwrap();
        assert_eq!(claimed[0].task_id, first);
        store
    });
    // A backlog becomes ready while the lease runs.
    clock.advance_ms(1_000);
    let backlog: Vec<i64> = (1..=5).map(task).collect();
    rt.block_on(async {
        let later = t0 + 120_000;
        let expired = store
            .expired_leases(ClaimScope::Any, later, 10)
            .await
            .unwrap();
        assert_eq!(expired.len(), 1);
        let failure = Failure {
            message: "lease expired".into(),
            class: "LeaseExpired".into(),
            permanent: false,
            retry_after_ms: None,
            details: json!(null),
        };
        let decision = RetryDecision {
            will_retry: true,
            delay_ms: Some(50),
            from_claim: true,
        };
        let x = &expired[0];
        store
            .fail_step(
                x.task_id,
                x.step_id,
                &x.claim_token,
                &failure,
                &decision,
                later,
            )
            .await
            .unwrap();
        let (next, _) = store.claim(ClaimScope::Any, 1, later + 1).await.unwrap();
        assert_eq!(
            next[0].task_id, first,
            "the retried step comes before the backlog"
        );
        let (rest, _) = store.claim(ClaimScope::Any, 10, later + 2).await.unwrap();
        let mut got: Vec<i64> = rest.iter().map(|r| r.task_id).collect();
        got.sort();
        assert_eq!(got, backlog);
    });
});

// Complete-and-claim through a diamond, step by step: the root releases two children and
// claims both, a middle step releases nothing, the other releases the join, and the last
// completes the task (on PostgreSQL each is one call of the complete-and-claim function).
both_backends!(complete_and_claim_walks_a_diamond, |b| {
    let (c, db) = client(b);
    c.register_template_yaml(DIAMOND).unwrap();
    let (tasks, rt, store, claimed, now) = claimed_roots(&c, &db.url, &["diamond"]);
    let task = tasks[0];
    let complete = |step: &tasker::testing::Claimed, at: i64| {
        rt.block_on(store.complete_step_and_claim(
            task,
            step.step_id,
            &step.claim_token,
            &json!({"v": step.name}),
            at,
            4,
        ))
        .unwrap()
    };
    let (settled, next, rec) = complete(&claimed[0], now + 1);
    assert_eq!(settled.newly_ready.len(), 2, "a frees b and c");
    let mut names: Vec<&str> = next.iter().map(|(c, _)| c.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["b", "c"], "both claimed in the same call");
    assert_eq!(
        rec.iter().filter(|r| r.to == State::InProgress).count(),
        2,
        "{rec:?}"
    );
    assert!(next.iter().all(|(_, l)| l.context.task.task_id == task));
    let b_step = &next.iter().find(|(c, _)| c.name == "b").unwrap().0;
    let c_step = &next.iter().find(|(c, _)| c.name == "c").unwrap().0;
    let (settled, next, _) = complete(b_step, now + 2);
    assert!(settled.newly_ready.is_empty() && next.is_empty() && !settled.task_finished);
    let (settled, next, _) = complete(c_step, now + 3);
    assert_eq!(next.len(), 1, "c frees d, claimed");
    assert_eq!(next[0].0.name, "d");
    assert_eq!(settled.newly_ready, [next[0].0.step_id]);
    // d's run context carries both parents' results.
    assert_eq!(next[0].1.context.dependency_results.len(), 2);
    let (settled, next, _) = complete(&next[0].0.clone(), now + 4);
    assert!(settled.task_finished && next.is_empty(), "{settled:?}");
    let view = c.task_view(task).unwrap();
    assert_eq!(view.state, State::Complete);
    assert_history_legal(&view);
});

// A group completion with a claim: two parents of one child complete together and the child
// is claimed in the same call.
both_backends!(group_complete_and_claim_takes_the_shared_child, |b| {
    let (c, db) = client(b);
    c.register_template_yaml(DIAMOND).unwrap();
    let (tasks, rt, store, claimed, now) = claimed_roots(&c, &db.url, &["diamond"]);
    let task = tasks[0];
    let root = &claimed[0];
    let (_, next, _) = rt
        .block_on(store.complete_step_and_claim(
            task,
            root.step_id,
            &root.claim_token,
            &json!({}),
            now + 1,
            4,
        ))
        .unwrap();
    assert_eq!(next.len(), 2);
    let items: Vec<tasker::testing::Completion> = next
        .iter()
        .map(|(c, _)| tasker::testing::Completion {
            task_id: task,
            step_id: c.step_id,
            claim_token: c.claim_token.clone(),
            results: json!({"v": c.name}),
        })
        .collect();
    let (settled, next, _) = rt
        .block_on(store.complete_steps_and_claim(&items, now + 2, Some((task, 4))))
        .unwrap();
    assert!(settled.iter().all(|s| s.is_ok()), "{settled:?}");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].0.name, "d");
    let view = c.task_view(task).unwrap();
    assert_eq!(view.state, State::InProgress);
    assert_history_legal(&view);
});

// PostgreSQL: the complete-and-claim function in the database is the one generated from the
// Rust SQL texts, and a released child it does not claim (limit 1) wakes idle workers.
#[test]
fn complete_and_claim_function_matches_rust_and_notifies_unclaimed() {
    let (c, db) = client(crate::common::Backend::Postgres);
    c.register_template_yaml(DIAMOND).unwrap();
    let (tasks, rt, store, claimed, now) = claimed_roots(&c, &db.url, &["diamond"]);
    let root = &claimed[0];
    let listener = rt.block_on(async {
        let mut l = sqlx::postgres::PgListener::connect(&db.url).await.unwrap();
        l.listen(tasker::testing::READY_CHANNEL).await.unwrap();
        l
    });
    let (settled, next, _) = rt
        .block_on(store.complete_step_and_claim(
            tasks[0],
            root.step_id,
            &root.claim_token,
            &json!({}),
            now + 1,
            1,
        ))
        .unwrap();
    assert_eq!(settled.newly_ready.len(), 2);
    assert_eq!(next.len(), 1, "limit 1");
    // Waits for the wake-up (a liveness bound, not a timing assertion).
    let woken = rt.block_on(async move {
        let mut listener = listener;
        let woken = tokio::time::timeout(std::time::Duration::from_secs(30), listener.recv()).await;
        drop(listener); // inside the runtime: its connection needs it to close
        woken.map(|r| r.map(|n| n.channel().to_string()))
    });
    assert!(matches!(woken, Ok(Ok(_))), "{woken:?}");
    let lease = tasker::Config::default().lease_ms as i64;
    let (name, body) = tasker::testing::complete_claim_fn_source(1, lease).unwrap();
    let installed: String = pg_scalar(
        &db.url,
        &format!("SELECT prosrc FROM pg_proc WHERE proname = '{name}'"),
    );
    assert_eq!(installed, body);
    // Its plans must not depend on the tables' statistics (generic plans made while they were
    // small would scan them whole). That they are generic from the first call is the pool's
    // setting (`pooled_statements_are_planned_once_not_per_call`).
    let settings: String = pg_scalar(
        &db.url,
        &format!("SELECT array_to_string(proconfig, ',') FROM pg_proc WHERE proname = '{name}'"),
    );
    assert_eq!(settings, "enable_seqscan=off");
    // Dropped behind the client's back (a schema reset, a restore): the next call installs it
    // again instead of failing until a restart.
    exec_sql(&db.url, &format!("DROP FUNCTION {name}"));
    let (settled, _, _) = rt
        .block_on(store.complete_step_and_claim(
            tasks[0],
            next[0].0.step_id,
            &next[0].0.claim_token,
            &json!({}),
            now + 2,
            1,
        ))
        .unwrap();
    assert!(!settled.discarded);
    let back: i64 = pg_scalar(
        &db.url,
        &format!("SELECT count(*) FROM pg_proc WHERE proname = '{name}'"),
    );
    assert_eq!(back, 1);
}

// PostgreSQL: the pool plans each statement once, generically, and reuses the plan: the claim,
// repeated on one connection, is never planned per call. (The server's default re-planned it at
// most calls: its generic estimate is a little higher than a custom one, and a 50-step claim's
// plan takes milliseconds to make.)
#[test]
fn pooled_statements_are_planned_once_not_per_call() {
    let (c, db) = client(crate::common::Backend::Postgres);
    c.register_template_yaml(ONE).unwrap();
    create_tests_tasks(&c, "one", 0..8);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = tasker::Clock::now_ms(&tasker::SystemClock) + 1_000;
    let (custom, generic, mode): (i64, i64, String) = rt.block_on(async {
        use tasker::testing::{ClaimScope, Store};
        let store = Store::connect(&db.url, 1, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        for _ in 0..8 {
            let (claimed, _) = store.claim_loaded(ClaimScope::Any, 1, now).await.unwrap();
            assert_eq!(claimed.len(), 1);
        }
        // On the session the claims ran on (the parked connection); its setting is the one the
        // complete-and-claim function's statements rely on too.
        let row = store
            .pg_hot_session_row(
                "SELECT COALESCE(sum(custom_plans), 0)::text, COALESCE(sum(generic_plans), 0)::text, \
                 current_setting('plan_cache_mode') \
                 FROM pg_prepared_statements WHERE statement LIKE '%WITH cl AS (UPDATE tasker_workflow_steps%'",
            )
            .await
            .unwrap();
        let num = |i: usize| row[i].as_deref().unwrap().parse::<i64>().unwrap();
        (num(0), num(1), row[2].clone().unwrap())
    });
    assert_eq!(mode, "force_generic_plan");
    assert_eq!(custom, 0, "custom plans of the claim");
    assert!(generic >= 8, "generic plans of the claim: {generic}");
}

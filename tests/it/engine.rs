//! Workflows, readiness, retries, blocking, operations, events.

use crate::common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tasker::{ExecutionStatus, Health, ManualClock, State, StepOutcome};

/// Reference evaluation of the `square` handler over a template's DAG.
fn expected_values(template: &str, n: i64) -> BTreeMap<String, i64> {
    let t = tasker::TaskTemplate::from_yaml(template, None).unwrap();
    let mut out: BTreeMap<String, i64> = BTreeMap::new();
    while out.len() < t.step_templates.len() {
        for s in &t.step_templates {
            let deps = s.dependencies();
            if out.contains_key(&s.name) || !deps.iter().all(|d| out.contains_key(*d)) {
                continue;
            }
            let base = if deps.is_empty() {
                n
            } else {
                deps.iter().fold(0i64, |a, d| a.wrapping_add(out[*d]))
            };
            out.insert(s.name.clone(), base.wrapping_mul(base));
        }
    }
    out
}

fn run_shape(backend: Backend, template: &str, name: &str) {
    let (c, _db) = client(backend);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(template).unwrap();
    let t = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req(name, json!({"n": 2}))
        })
        .unwrap();
    assert!(t.created);
    let ctx = c.run_task(t.task_id).unwrap();
    assert_eq!(ctx.task_state, State::Complete);
    assert_eq!(ctx.execution_status, ExecutionStatus::AllComplete);
    assert_eq!(ctx.completion_percentage, 100.0);
    // On PostgreSQL the last completion reads it in its own transaction: the same as a read.
    assert_eq!(ctx, c.execution_context(t.task_id).unwrap());
    let view = c.task_view(t.task_id).unwrap();
    assert!(view.complete);
    let tpl = tasker::TaskTemplate::from_yaml(template, None).unwrap();
    let expected = expected_values(template, 2);
    for s in &view.steps {
        assert_eq!(s.state, State::Complete, "{}", s.name);
        assert_eq!(s.attempts, 1);
        let results = s.results.as_ref().unwrap();
        assert_eq!(
            results["value"],
            json!(expected[&s.name]),
            "value of {}",
            s.name
        );
        // The context held exactly the step's dependencies.
        let mut deps: Vec<String> = tpl.step_templates[tpl.step_index(&s.name).unwrap()]
            .dependencies()
            .iter()
            .map(|d| d.to_string())
            .collect();
        deps.sort();
        assert_eq!(results["deps"], json!(deps), "dependencies of {}", s.name);
        assert_eq!(s.parents.len(), deps.len());
    }
    assert_eq!(log.len(), view.steps.len());
    assert_history_legal(&view);
}

both_backends!(linear_workflow, |b| run_shape(b, LINEAR, "linear"));
both_backends!(diamond_workflow, |b| run_shape(b, DIAMOND, "diamond"));
both_backends!(tree_workflow, |b| run_shape(b, TREE, "tree"));
both_backends!(mixed_dag_workflow, |b| run_shape(b, MIXED, "mixed"));

fn ready_names(c: &tasker::Client, task_id: i64) -> Vec<String> {
    let v = c.task_view(task_id).unwrap();
    let now = tasker::SystemClock.now_ms();
    let mut names: Vec<String> = v
        .steps
        .iter()
        .filter(|s| {
            matches!(s.state, State::Pending | State::Error)
                && s.next_attempt_at.is_some_and(|t| t <= now + 60_000_000)
        })
        .filter(|s| {
            s.parents
                .iter()
                .all(|p| v.step(p).unwrap().state.is_finished())
        })
        .map(|s| s.name.clone())
        .collect();
    names.sort();
    names
}

use tasker::Clock;

both_backends!(readiness_evolves_like_the_ancestor, |b| {
    let (c, _db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(MIXED).unwrap();
    let t = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("mixed", json!({"n": 1}))
        })
        .unwrap();
    // Two roots are ready at the start.
    assert_eq!(ready_names(&c, t.task_id), vec!["init", "side"]);
    assert_eq!(c.execution_context(t.task_id).unwrap().ready_steps, 2);
    // Resolve `init` by hand: p1 becomes ready, p2 still waits for `side`.
    let view = c.task_view(t.task_id).unwrap();
    let init = view.step("init").unwrap().step_id;
    assert!(c.resolve_step(init, json!({"value": 3})).unwrap());
    assert!(
        !c.resolve_step(init, json!({"value": 3})).unwrap(),
        "repeated resolve is a no-op"
    );
    assert_eq!(ready_names(&c, t.task_id), vec!["p1", "side"]);
    assert_eq!(c.execution_context(t.task_id).unwrap().ready_steps, 2);
    // Run everything: p2 must see init's manual result and side's result.
    c.run_task(t.task_id).unwrap();
    let view = c.task_view(t.task_id).unwrap();
    assert_eq!(view.state, State::Complete);
    assert_eq!(view.step("init").unwrap().state, State::ResolvedManually);
    assert_eq!(
        view.step("p1").unwrap().results.as_ref().unwrap()["value"],
        json!(9)
    );
    assert_eq!(
        view.step("p2").unwrap().results.as_ref().unwrap()["value"],
        json!(16)
    );
    assert_history_legal(&view);
});

both_backends!(cancelled_parent_never_satisfies_child, |b| {
    let (c, _db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(LINEAR).unwrap();
    let t = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("linear", json!({"n": 2}))
        })
        .unwrap();
    // `a` runs while the task is cancelled: its late result is discarded, `b` never runs.
    let client2 = c.clone();
    let task_id = t.task_id;
    c.register_fn("square", move |_ctx| {
        assert!(client2.cancel_task(task_id).unwrap());
        Ok(json!({"value": 4}))
    })
    .unwrap();
    let n = c.run_once().unwrap();
    assert_eq!(n, 1);
    let view = c.task_view(t.task_id).unwrap();
    assert_eq!(view.state, State::Cancelled);
    for s in &view.steps {
        assert_eq!(s.state, State::Cancelled, "{}", s.name);
    }
    assert_eq!(
        view.step("a").unwrap().results,
        None,
        "late result discarded"
    );
    assert_eq!(
        c.run_once().unwrap(),
        0,
        "nothing is claimable in a cancelled task"
    );
    assert!(
        !c.cancel_task(t.task_id).unwrap(),
        "second cancel is a no-op"
    );
    assert_history_legal(&view);
});

both_backends!(step_in_backoff_is_not_ready_before_its_time, |b| {
    let clock = ManualClock::new(1_000_000);
    let mut cfg = tasker::Config::default();
    cfg.lease_check_interval_ms = 0;
    let (c, _db) = client_with(b, cfg, Some(clock.clone()));
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml("name: flaky\nstep_templates:\n  - {name: f, handler: flaky, handler_config: {fail_times: 1}}\n").unwrap();
    let t = c.create_task(&req("flaky", json!({}))).unwrap();
    assert_eq!(c.run_once().unwrap(), 1);
    let ctx = c.execution_context(t.task_id).unwrap();
    assert_eq!(
        ctx.execution_status,
        ExecutionStatus::WaitingForDependencies
    );
    assert_eq!(ctx.health, Health::Recovering);
    assert_eq!(ctx.next_retry_at, Some(1_000_000 + 2000));
    clock.advance_ms(1999);
    assert_eq!(c.run_once().unwrap(), 0, "still backing off");
    assert_eq!(c.execution_context(t.task_id).unwrap().ready_steps, 0);
    clock.advance_ms(1);
    assert_eq!(c.execution_context(t.task_id).unwrap().ready_steps, 1);
    assert_eq!(c.run_once().unwrap(), 1);
    let view = c.task_view(t.task_id).unwrap();
    assert_eq!(view.state, State::Complete);
    let f = view.step("f").unwrap();
    assert_eq!(f.attempts, 2);
    let path: Vec<State> = f.transitions.iter().map(|t| t.to_state).collect();
    assert_eq!(
        path,
        vec![
            State::Pending,
            State::InProgress,
            State::Error,
            State::Pending,
            State::InProgress,
            State::Complete
        ]
    );
    assert_history_legal(&view);
});

fn one_step(handler: &str, extra: &str) -> String {
    format!("name: one\nstep_templates:\n  - {{name: s, handler: {handler}{extra}}}\n")
}

fn run_single(b: Backend, handler: &str, extra: &str) -> (tasker::TaskView, ExecLog) {
    let (c, _db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(&one_step(handler, extra)).unwrap();
    let t = c.create_task(&req("one", json!({}))).unwrap();
    c.run_task(t.task_id).unwrap();
    let v = c.task_view(t.task_id).unwrap();
    assert_history_legal(&v);
    (v, log)
}

both_backends!(fail_twice_then_succeed_completes_on_attempt_3, |b| {
    let (v, log) = run_single(
        b,
        "flaky",
        ", default_retry_limit: 3, handler_config: {fail_times: 2}",
    );
    assert_eq!(v.state, State::Complete);
    let s = v.step("s").unwrap();
    assert_eq!(s.attempts, 3);
    assert_eq!(s.results.as_ref().unwrap()["succeeded_on"], json!(3));
    assert_eq!(log.len(), 3);
});

both_backends!(always_failing_stops_after_retry_limit, |b| {
    let (v, log) = run_single(b, "always_fail", ", default_retry_limit: 3");
    assert_eq!(v.state, State::Error);
    let s = v.step("s").unwrap();
    assert_eq!(s.state, State::Error);
    assert_eq!(s.attempts, 3);
    assert_eq!(log.len(), 3);
    assert_eq!(
        s.results.as_ref().unwrap()["error"]["class"],
        json!("AlwaysFails")
    );
    assert_eq!(
        v.execution.execution_status,
        ExecutionStatus::BlockedByFailures
    );
    assert_eq!(v.execution.health, Health::Blocked);
});

both_backends!(not_retryable_stops_after_one_attempt, |b| {
    let (v, log) = run_single(
        b,
        "always_fail",
        ", default_retryable: false, default_retry_limit: 5",
    );
    assert_eq!(v.state, State::Error);
    assert_eq!(v.step("s").unwrap().attempts, 1);
    assert_eq!(log.len(), 1);
});

both_backends!(retry_limit_zero_or_one_still_allows_first_attempt, |b| {
    for limit in [0, 1] {
        let (v, log) = run_single(b, "square", &format!(", default_retry_limit: {limit}"));
        assert_eq!(v.state, State::Complete, "limit {limit}");
        assert_eq!(log.len(), 1);
        let (v, log) = run_single(b, "always_fail", &format!(", default_retry_limit: {limit}"));
        assert_eq!(v.state, State::Error, "limit {limit}");
        assert_eq!(v.step("s").unwrap().attempts, 1);
        assert_eq!(log.len(), 1);
    }
});

both_backends!(permanent_error_stops_retries, |b| {
    let (v, log) = run_single(b, "permanent_fail", ", default_retry_limit: 5");
    assert_eq!(v.state, State::Error);
    let s = v.step("s").unwrap();
    assert_eq!(s.attempts, 1);
    assert_eq!(log.len(), 1);
    let err = &s.results.as_ref().unwrap()["error"];
    assert_eq!(err["class"], json!("InvalidCard"));
    assert_eq!(err["permanent"], json!(true));
    assert_eq!(err["message"], json!("cannot ever work"));
});

both_backends!(panicking_handler_is_a_failed_attempt, |b| {
    let (v, log) = run_single(b, "panic", ", default_retry_limit: 2");
    assert_eq!(v.state, State::Error);
    let s = v.step("s").unwrap();
    assert_eq!(s.attempts, 2);
    assert_eq!(log.len(), 2);
    let err = &s.results.as_ref().unwrap()["error"];
    assert_eq!(err["class"], json!("Panic"));
    assert_eq!(err["message"], json!("handler exploded on purpose"));
});

both_backends!(default_backoff_delays_with_a_manual_clock, |b| {
    let clock = ManualClock::new(5_000_000);
    let (c, _db) = client_with(b, tasker::Config::default(), Some(clock.clone()));
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(&one_step(
        "flaky",
        ", default_retry_limit: 7, handler_config: {fail_times: 6}",
    ))
    .unwrap();
    let t = c.create_task(&req("one", json!({}))).unwrap();
    let ctx = c.run_task(t.task_id).unwrap();
    assert_eq!(ctx.task_state, State::Complete);
    let v = c.task_view(t.task_id).unwrap();
    let s = v.step("s").unwrap();
    assert_eq!(s.attempts, 7);
    let delays: Vec<i64> = s
        .transitions
        .iter()
        .filter(|t| t.to_state == State::Error)
        .map(|t| t.metadata["backoff_ms"].as_i64().unwrap())
        .collect();
    assert_eq!(delays, vec![2000, 4000, 8000, 16000, 30000, 30000]);
    // The attempts really were that far apart on the clock.
    let starts: Vec<i64> = s
        .transitions
        .iter()
        .filter(|t| t.to_state == State::InProgress)
        .map(|t| t.created_at)
        .collect();
    let gaps: Vec<i64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps, delays);
});

both_backends!(retry_after_overrides_exponential_delay, |b| {
    let clock = ManualClock::new(5_000_000);
    let (c, _db) = client_with(b, tasker::Config::default(), Some(clock.clone()));
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(&one_step(
        "flaky",
        ", handler_config: {fail_times: 2, retry_after: 7}",
    ))
    .unwrap();
    let t = c.create_task(&req("one", json!({}))).unwrap();
    c.run_task(t.task_id).unwrap();
    let v = c.task_view(t.task_id).unwrap();
    let delays: Vec<i64> = v
        .step("s")
        .unwrap()
        .transitions
        .iter()
        .filter(|t| t.to_state == State::Error)
        .map(|t| t.metadata["backoff_ms"].as_i64().unwrap())
        .collect();
    assert_eq!(delays, vec![7000, 7000]);
    assert_eq!(v.state, State::Complete);
});

both_backends!(per_step_backoff_override, |b| {
    let clock = ManualClock::new(5_000_000);
    let (c, _db) = client_with(b, tasker::Config::default(), Some(clock.clone()));
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(&one_step("flaky", ", default_retry_limit: 4, backoff: {base_ms: 100, factor: 3, max_ms: 1000}, handler_config: {fail_times: 3}")).unwrap();
    let t = c.create_task(&req("one", json!({}))).unwrap();
    c.run_task(t.task_id).unwrap();
    let v = c.task_view(t.task_id).unwrap();
    let delays: Vec<i64> = v
        .step("s")
        .unwrap()
        .transitions
        .iter()
        .filter(|t| t.to_state == State::Error)
        .map(|t| t.metadata["backoff_ms"].as_i64().unwrap())
        .collect();
    assert_eq!(delays, vec![300, 900, 1000]);
});

const BLOCKING: &str = r#"
name: blocking
step_templates:
  - {name: bad, handler: always_fail, default_retry_limit: 2}
  - {name: slow_root, handler: square}
  - {name: after_bad, handler: square, depends_on_step: bad}
  - {name: after_root, handler: square, depends_on_step: slow_root}
"#;

fn blocked_task(b: Backend) -> (tasker::Client, TestDb, i64, ExecLog) {
    let (c, db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(BLOCKING).unwrap();
    let t = c.create_task(&req("blocking", json!({"n": 2}))).unwrap();
    // Exhaust `bad` first while `slow_root` is still ready.
    let v = c.task_view(t.task_id).unwrap();
    let bad = v.step("bad").unwrap().step_id;
    for _ in 0..2 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let out = c.handle_step(bad).unwrap();
        assert!(matches!(out, StepOutcome::Failed { .. }), "{out:?}");
    }
    (c, db, t.task_id, log)
}

both_backends!(
    exhausted_step_blocks_task_and_manual_resolution_finishes_it,
    |b| {
        let (c, _db, task_id, log) = blocked_task(b);
        let ctx = c.execution_context(task_id).unwrap();
        assert_eq!(ctx.task_state, State::Error);
        assert_eq!(
            ctx.execution_status,
            ExecutionStatus::BlockedByFailures,
            "blocked outranks ready"
        );
        assert_eq!(ctx.permanently_blocked_steps, 1);
        // Nothing new starts while blocked.
        assert_eq!(c.run_once().unwrap(), 0);
        assert_eq!(c.run_task(task_id).unwrap().task_state, State::Error);
        assert_eq!(log.len(), 2);
        let bad = c.task_view(task_id).unwrap().step("bad").unwrap().step_id;
        assert!(c.resolve_step(bad, json!({"value": 5})).unwrap());
        let ctx = c.run_task(task_id).unwrap();
        assert_eq!(ctx.task_state, State::Complete);
        let v = c.task_view(task_id).unwrap();
        assert_eq!(
            v.step("after_bad").unwrap().results.as_ref().unwrap()["value"],
            json!(25)
        );
        assert_history_legal(&v);
        let task_path: Vec<State> = v.transitions.iter().map(|t| t.to_state).collect();
        assert_eq!(
            task_path,
            vec![
                State::Pending,
                State::InProgress,
                State::Error,
                State::Pending,
                State::InProgress,
                State::Complete
            ]
        );
    }
);

both_backends!(exhausted_step_blocks_task_and_retry_finishes_it, |b| {
    let (c, _db, task_id, log) = blocked_task(b);
    let bad = c.task_view(task_id).unwrap().step("bad").unwrap().step_id;
    c.register_fn("always_fail", |_ctx| Ok(json!({"value": 1})))
        .unwrap();
    assert!(c.retry_step(bad).unwrap());
    let v = c.task_view(task_id).unwrap();
    assert_eq!(v.step("bad").unwrap().attempts, 0, "attempts reset");
    let ctx = c.run_task(task_id).unwrap();
    assert_eq!(ctx.task_state, State::Complete);
    let v = c.task_view(task_id).unwrap();
    assert_eq!(v.step("bad").unwrap().attempts, 1);
    assert_history_legal(&v);
    assert_eq!(
        log.len(),
        2 + 3,
        "two failed attempts, then the three square steps"
    );
    // Retrying a completed step is illegal.
    let err = c.retry_step(bad).unwrap_err();
    assert!(
        matches!(err, tasker::Error::IllegalTransition { .. }),
        "{err}"
    );
});

both_backends!(bypassed_skippable_steps, |b| {
    let (c, _db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(
        r#"
name: skip
step_templates:
  - {name: a, handler: square}
  - {name: optional, handler: square, skippable: true, depends_on_step: a}
  - {name: z, handler: square, depends_on_steps: [a, optional]}
"#,
    )
    .unwrap();
    let err = c
        .create_task(&tasker::TaskRequest {
            bypass_steps: vec!["a".into()],
            ..req("skip", json!({"n": 2}))
        })
        .unwrap_err();
    assert!(err.to_string().contains("not skippable"), "{err}");
    assert_eq!(c.health().unwrap().total_tasks, 0, "nothing persisted");
    let t = c
        .create_task(&tasker::TaskRequest {
            bypass_steps: vec!["optional".into()],
            ..req("skip", json!({"n": 2}))
        })
        .unwrap();
    c.run_task(t.task_id).unwrap();
    let v = c.task_view(t.task_id).unwrap();
    assert_eq!(v.state, State::Complete);
    let opt = v.step("optional").unwrap();
    assert_eq!(opt.state, State::ResolvedManually);
    assert_eq!(opt.transitions[0].metadata["reason"], json!("bypassed"));
    assert_eq!(log.len(), 2);
    assert_history_legal(&v);
});

both_backends!(
    events_in_order_and_panicking_subscriber_changes_nothing,
    |b| {
        let (c, _db) = client(b);
        let log = ExecLog::default();
        register_handlers(&c, &log);
        c.register_template_yaml(LINEAR).unwrap();
        let seen: Arc<Mutex<Vec<(String, Option<String>)>>> = Default::default();
        let s2 = seen.clone();
        let thread = std::thread::current().id();
        let sub = c.subscribe_fn(
            &["task.*", "step.execution_requested", "step.completed"],
            move |e| {
                assert_eq!(
                    std::thread::current().id(),
                    thread,
                    "events arrive on the calling thread"
                );
                s2.lock()
                    .unwrap()
                    .push((e.name.clone(), e.step_name.clone()));
            },
        );
        c.subscribe_fn(&[], |_e| panic!("subscriber bug"));
        let t = c
            .create_task(&tasker::TaskRequest {
                namespace: Some("tests".into()),
                ..req("linear", json!({"n": 2}))
            })
            .unwrap();
        let ctx = c.run_task(t.task_id).unwrap();
        assert_eq!(
            ctx.task_state,
            State::Complete,
            "a panicking subscriber changes nothing"
        );
        let got = seen.lock().unwrap().clone();
        let s = |n: &str, st: Option<&str>| (n.to_string(), st.map(String::from));
        let mut expected = vec![
            s("task.initialize_requested", None),
            s("task.start_requested", None),
        ];
        for step in ["a", "b", "c", "d"] {
            expected.push(s("step.execution_requested", Some(step)));
            expected.push(s("step.completed", Some(step)));
        }
        expected.push(s("task.completed", None));
        assert_eq!(got, expected);
        assert!(c.unsubscribe(sub));
        assert!(!c.unsubscribe(sub));
    }
);

both_backends!(
    heartbeat_extends_lease_and_expired_lease_is_a_failed_attempt,
    |b| {
        let clock = ManualClock::new(10_000_000);
        let mut cfg = tasker::Config::default();
        cfg.lease_ms = 1000;
        cfg.lease_check_interval_ms = 0;
        let (c, _db) = client_with(b, cfg, Some(clock.clone()));
        let c2 = c.clone();
        let clock2 = clock.clone();
        let beats = Arc::new(Mutex::new(Vec::new()));
        let beats2 = beats.clone();
        // A long handler: 3 × 800 ms on the clock, heartbeating in between, never loses its lease.
        c.register_fn("long", move |ctx| {
            for _ in 0..3 {
                clock2.advance_ms(800);
                beats2
                    .lock()
                    .unwrap()
                    .push(c2.heartbeat(ctx.step.step_id, &ctx.claim_token).unwrap());
            }
            Ok(json!({"done": true}))
        })
        .unwrap();
        c.register_template_yaml(&one_step("long", "")).unwrap();
        let t = c.create_task(&req("one", json!({}))).unwrap();
        c.run_task(t.task_id).unwrap();
        let v = c.task_view(t.task_id).unwrap();
        assert_eq!(v.state, State::Complete);
        assert_eq!(v.step("s").unwrap().attempts, 1);
        assert_eq!(
            *beats.lock().unwrap(),
            vec![10_001_800, 10_002_600, 10_003_400]
        );

        // Without heartbeats the lease expires: another caller reaps it into a failed attempt
        // (LeaseExpired), the late outcome is refused (stale token), and the retry completes.
        let clock3 = clock.clone();
        let c3 = c.clone();
        c.register_fn("long", move |ctx| {
            if ctx.step.attempt == 1 {
                clock3.advance_ms(1500);
                c3.handle_task(ctx.task.task_id).unwrap();
                return Ok(json!({"late": true}));
            }
            Ok(json!({"on_time": true}))
        })
        .unwrap();
        let t2 = c.create_task(&req("one", json!({"second": true}))).unwrap();
        let ctx = c.run_task(t2.task_id).unwrap();
        assert_eq!(ctx.task_state, State::Complete);
        let v = c.task_view(t2.task_id).unwrap();
        let s = v.step("s").unwrap();
        assert_eq!(s.attempts, 2);
        assert_eq!(
            s.results,
            Some(json!({"on_time": true})),
            "the stale outcome was refused"
        );
        let err = s
            .transitions
            .iter()
            .find(|t| t.to_state == State::Error)
            .unwrap();
        assert_eq!(err.metadata["error_class"], json!("LeaseExpired"));
        assert_history_legal(&v);
    }
);

both_backends!(health_counts, |b| {
    let (c, _db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(LINEAR).unwrap();
    c.register_template_yaml(&one_step("permanent_fail", ""))
        .unwrap();
    let a = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("linear", json!({"n": 1}))
        })
        .unwrap();
    let f = c.create_task(&req("one", json!({}))).unwrap();
    let p = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("linear", json!({"n": 3}))
        })
        .unwrap();
    c.run_task(a.task_id).unwrap();
    c.run_task(f.task_id).unwrap();
    let h = c.health().unwrap();
    assert_eq!(
        (
            h.total_tasks,
            h.complete_tasks,
            h.error_tasks,
            h.pending_tasks
        ),
        (3, 1, 1, 1)
    );
    assert_eq!(
        (
            h.total_steps,
            h.complete_steps,
            h.error_steps,
            h.pending_steps
        ),
        (9, 4, 1, 4)
    );
    assert_eq!(h.exhausted_retry_steps, 1);
    let ctx = c.execution_context(p.task_id).unwrap();
    assert_eq!(
        (ctx.ready_steps, ctx.total_steps, ctx.health),
        (1, 4, Health::Healthy)
    );
    let _: Value = serde_json::to_value(&h).unwrap();
});

both_backends!(inline_run_waits_for_steps_held_by_another_worker, |b| {
    let (c, _db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(&one_step("sleep", ", handler_config: {ms: 400}"))
        .unwrap();
    let t = c.create_task(&req("one", json!({}))).unwrap();
    let worker = {
        let c = c.clone();
        std::thread::spawn(move || c.run_once().unwrap())
    };
    // Wait until the other worker holds the step, then run the task inline: it must wait.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while c.execution_context(t.task_id).unwrap().in_progress_steps == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never claimed"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let ctx = c.run_task(t.task_id).unwrap();
    assert_eq!(ctx.task_state, State::Complete);
    assert_eq!(worker.join().unwrap(), 1);
    assert_eq!(
        log.len(),
        1,
        "the inline run did not run the held step again"
    );
});

/// The planner statistics of PostgreSQL's step table (-1 until the table was first analyzed).
fn pg_step_table_reltuples(url: &str) -> f32 {
    pg_scalar(
        url,
        "SELECT reltuples FROM pg_class WHERE oid = 'tasker_workflow_steps'::regclass",
    )
}

/// PostgreSQL: a task of 1,000+ steps that is a large part of the step table refreshes the
/// planner statistics at creation (its own run is then planned for the table it is in); a
/// small task does not. The wide task then runs to completion with every step's result.
#[test]
fn large_task_refreshes_planner_statistics_on_postgres() {
    let config = tasker::Config {
        claim_batch: 50,
        ..fast_config()
    };
    let (c, db) = client_with(Backend::Postgres, config, None);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    let mut wide = String::from(
        "name: wide\nnamespace_name: tests\nversion: 1.0.0\nstep_templates:\n- {name: root, handler: square}\n",
    );
    for i in 0..1000 {
        wide.push_str(&format!(
            "- {{name: s{i}, handler: square, depends_on_step: root}}\n"
        ));
    }
    c.register_template_yaml(&wide).unwrap();
    c.register_template_yaml(
        "name: small\nnamespace_name: tests\nversion: 1.0.0\nstep_templates:\n- {name: a, handler: square}\n",
    )
    .unwrap();
    let small = |name: &str| tasker::TaskRequest {
        namespace: Some("tests".into()),
        ..req(name, json!({"n": 2}))
    };
    c.create_task(&small("small")).unwrap();
    assert!(
        pg_step_table_reltuples(&db.url) < 0.0,
        "a one-step task must not trigger ANALYZE"
    );
    let t = c.create_task(&small("wide")).unwrap();
    let estimate = pg_step_table_reltuples(&db.url);
    assert!(
        estimate >= 1000.0,
        "step table not analyzed after a 1,001-step task (reltuples {estimate})"
    );
    let ctx = c.run_task(t.task_id).unwrap();
    assert_eq!(ctx.task_state, State::Complete);
    assert_eq!(log.len(), 1001);
    let view = c.task_view(t.task_id).unwrap();
    assert!(view
        .steps
        .iter()
        .all(|s| s.results.as_ref().map(|r| r["value"].clone())
            == Some(json!(if s.name == "root" { 4 } else { 16 }))));
}

/// `call_handler` runs a registered handler once, as the foundation does (errors, panics and
/// the results' size limit become failures), without touching the database.
#[test]
fn call_handler_runs_a_handler_without_the_database() {
    let config = tasker::Config {
        max_payload_bytes: 64,
        ..fast_config()
    };
    let (c, _db) = client_with(Backend::Sqlite, config, None);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_fn("big", |_| Ok(json!({"blob": "x".repeat(100)})))
        .unwrap();
    c.register_fn("boom", |_| -> Result<Value, tasker::StepError> {
        panic!("kaboom")
    })
    .unwrap();
    let ctx = |handler: &str| tasker::StepContext {
        task: tasker::TaskInfo {
            context: json!({"n": 3}),
            ..Default::default()
        },
        step: tasker::StepInfo {
            handler: handler.into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let out = c.call_handler(&ctx("square")).unwrap();
    assert_eq!(out["value"], json!(9));
    assert_eq!(log.len(), 1);
    let class = |h: &str| c.call_handler(&ctx(h)).unwrap_err().class;
    assert_eq!(class("nobody"), "HandlerNotFound");
    assert_eq!(class("big"), "PayloadTooLarge");
    assert!(!class("boom").is_empty());
    // Nothing reached the database.
    let h = c.health().unwrap();
    assert_eq!(h.total_tasks, 0);
}

// A handler that runs its own task inline (directly, or through a task it runs in turn) gets
// a clear error at once instead of waiting for the step this very thread is executing.
both_backends!(run_task_of_its_own_task_from_its_handler_is_refused, |b| {
    let (c, _db) = client(b);
    let weak = c.downgrade();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen2 = seen.clone();
    c.register_fn("reenter", move |ctx| {
        let c = weak.upgrade().expect("client alive");
        let err = c
            .run_task(ctx.task.task_id)
            .expect_err("a re-entrant run_task must fail");
        seen2.lock().unwrap().push(err.to_string());
        assert!(matches!(err, tasker::Error::ReentrantRun(id) if id == ctx.task.task_id));
        Ok(json!({"ok": true}))
    })
    .unwrap();
    c.register_template_yaml(
        "name: reenter\nnamespace_name: tests\nversion: 1.0.0\nstep_templates:\n  - {name: a, handler: reenter}\n",
    )
    .unwrap();
    let t = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("reenter", json!({}))
        })
        .unwrap();
    let started = std::time::Instant::now();
    let ctx = c.run_task(t.task_id).unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(ctx.task_state, State::Complete);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].contains("re-entrant"), "{}", seen[0]);
    // Outside the handler the same call is an ordinary run again.
    assert_eq!(c.run_task(t.task_id).unwrap().task_state, State::Complete);
});

//! Decision points and convergence steps (docs/DYNAMIC_WORKFLOWS.md): only chosen steps are
//! created, in the decision's completion; convergence steps wait for the parents that exist;
//! invalid choices and templates are refused with clear errors; a decision delivered twice
//! (lease-expiry race) creates each step once.

use crate::common::*;
use serde_json::{json, Value};
use std::sync::{Arc, Barrier, Mutex};
use tasker::{Client, Error, State, StepContext, TaskTemplate};

/// `start` → `decide` (chooses among a, b, c) → ...; `a2` comes with `a`; `join` waits for
/// whichever of them exist (and for `decide`, a static parent, so it always exists).
const ROUTING: &str = r#"
name: routing
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: start, handler: square}
  - {name: decide, handler: decide, type: decision, candidates: [a, b, c], depends_on_step: start}
  - {name: a, handler: square, depends_on_step: decide}
  - {name: a2, handler: square, depends_on_step: a}
  - {name: b, handler: square, depends_on_step: decide}
  - {name: c, handler: square, depends_on_step: decide}
  - {name: join, handler: square, type: convergence, depends_on_steps: [decide, a2, b, c]}
"#;

/// A decision nested in a decision's branch; `k` has no static parent.
const NESTED: &str = r#"
name: nested
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: d1, handler: decide, type: decision, candidates: [x, d2]}
  - {name: x, handler: square, depends_on_step: d1}
  - {name: d2, handler: decide, type: decision, candidates: [y, z], depends_on_step: d1}
  - {name: y, handler: square, depends_on_step: d2}
  - {name: z, handler: square, depends_on_step: d2}
  - {name: k, handler: square, type: convergence, depends_on_steps: [x, y, z]}
"#;

/// `join` has a static parent (`side`) that may finish before `decide` has chosen.
const GATED: &str = r#"
name: gated
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: side, handler: square}
  - {name: decide, handler: decide, type: decision, candidates: [a]}
  - {name: a, handler: square, depends_on_step: decide}
  - {name: join, handler: square, type: convergence, depends_on_steps: [side, a]}
"#;

/// `decide` answers `{"activate": context.choose}` (or `context.choose[<its name>]` when
/// that is a map), with a value for its `square` children.
fn register_decide(c: &Client) {
    c.register_fn("decide", |ctx: &StepContext| {
        let choose = &ctx.task.context["choose"];
        let choose = match choose.get(&ctx.step.name) {
            Some(v) => v.clone(),
            None if choose.is_object() => Value::Null,
            None => choose.clone(),
        };
        Ok(json!({"activate": choose, "value": 1}))
    })
    .unwrap();
}

fn setup(b: Backend, template: &str) -> (Client, TestDb, ExecLog) {
    let (c, db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    register_decide(&c);
    c.register_template_yaml(template).unwrap();
    (c, db, log)
}

fn create(c: &Client, name: &str, context: Value) -> i64 {
    let mut r = req(name, context);
    r.namespace = Some("tests".into());
    c.create_task(&r).unwrap().task_id
}

fn names(view: &tasker::TaskView) -> Vec<String> {
    let mut n: Vec<String> = view.steps.iter().map(|s| s.name.clone()).collect();
    n.sort();
    n
}

fn deps_of(view: &tasker::TaskView, step: &str) -> Value {
    view.step(step).unwrap().results.as_ref().unwrap()["deps"].clone()
}

both_backends!(routing_creates_only_the_chosen_branches, |b| {
    let (c, _db, _log) = setup(b, ROUTING);
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    c.subscribe_fn(&["step.created", "decision.made"], move |ev| {
        e.lock().unwrap().push((
            ev.task_id,
            ev.name.clone(),
            ev.step_name.clone(),
            ev.payload.clone(),
        ));
    });
    let cases: [(&[&str], &[&str], Value); 3] = [
        (&[], &[], json!(["decide"])),
        (&["b"], &["b"], json!(["b", "decide"])),
        (&["a", "c"], &["a", "a2", "c"], json!(["a2", "c", "decide"])),
    ];
    for (choose, created, join_deps) in cases {
        let task = create(&c, "routing", json!({"n": 2, "choose": choose}));
        let before = c.task_view(task).unwrap();
        assert_eq!(names(&before), ["decide", "join", "start"]);
        let ctx = c.run_task(task).unwrap();
        assert_eq!(ctx.task_state, State::Complete, "{choose:?}");
        let total = 3 + created.len() as i64;
        assert_eq!(
            (ctx.total_steps, ctx.completed_steps),
            (total, total),
            "{choose:?}"
        );
        assert_eq!(ctx.completion_percentage, 100.0);
        let view = c.task_view(task).unwrap();
        let mut expected: Vec<&str> = ["decide", "join", "start"]
            .iter()
            .chain(created)
            .copied()
            .collect();
        expected.sort();
        assert_eq!(names(&view), expected, "steps never chosen do not exist");
        assert_eq!(
            deps_of(&view, "join"),
            join_deps,
            "join waited for {choose:?}"
        );
        assert_history_legal(&view);
        let seen: Vec<_> = events
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, ..)| *t == task)
            .cloned()
            .collect();
        let made: Vec<&str> = seen
            .iter()
            .filter(|(_, n, ..)| n == "step.created")
            .filter_map(|(.., s, _)| s.as_deref())
            .collect();
        assert_eq!(made, created, "one step.created per created step");
        let decisions: Vec<&Value> = seen
            .iter()
            .filter(|(_, n, ..)| n == "decision.made")
            .map(|(.., p)| p)
            .collect();
        assert_eq!(decisions.len(), 1);
        assert_eq!(decisions[0]["activate"], json!(choose));
        assert_eq!(decisions[0]["created"], json!(created));
    }
});

both_backends!(counts_grow_as_steps_appear, |b| {
    let (c, _db, _log) = setup(b, ROUTING);
    let task = create(&c, "routing", json!({"n": 2, "choose": ["a", "b"]}));
    let ctx = c.execution_context(task).unwrap();
    assert_eq!((ctx.total_steps, ctx.pending_steps), (3, 3));
    // start, then decide: each run_once handles what is ready.
    while c.task_view(task).unwrap().step("a").is_none() {
        assert!(c.run_once().unwrap() > 0, "the decision never ran");
    }
    let ctx = c.execution_context(task).unwrap();
    assert_eq!(ctx.total_steps, 6, "a, a2 and b were added");
    assert_eq!(ctx.completed_steps, 2);
    assert!((ctx.completion_percentage - 100.0 * 2.0 / 6.0).abs() < 0.01);
    assert_eq!(c.run_task(task).unwrap().task_state, State::Complete);
});

both_backends!(
    convergence_waits_for_decisions_that_could_add_a_parent,
    |b| {
        let (c, _db, _log) = setup(b, GATED);
        for (choose, deps) in [
            (json!(["a"]), json!(["a", "decide", "side"])),
            (json!([]), json!(["decide", "side"])),
        ] {
            let task = create(&c, "gated", json!({"n": 2, "choose": choose}));
            assert_eq!(c.run_task(task).unwrap().task_state, State::Complete);
            let view = c.task_view(task).unwrap();
            // The decision is an extra parent of join (a gate): join ran after it chose.
            assert_eq!(deps_of(&view, "join"), deps);
        }
    }
);

both_backends!(nested_decisions_create_their_branches, |b| {
    let (c, _db, _log) = setup(b, NESTED);
    let cases = [
        (
            json!({"d1": ["d2"], "d2": ["z"]}),
            &["d1", "d2", "k", "z"][..],
            json!(["d1", "d2", "z"]),
        ),
        (
            json!({"d1": ["x", "d2"], "d2": ["y"]}),
            &["d1", "d2", "k", "x", "y"][..],
            json!(["d1", "d2", "x", "y"]),
        ),
        (
            json!({"d1": ["d2"], "d2": []}),
            &["d1", "d2"][..],
            Value::Null,
        ),
        (json!({"d1": []}), &["d1"][..], Value::Null),
    ];
    for (choose, steps, k_deps) in cases {
        let task = create(&c, "nested", json!({"n": 2, "choose": choose}));
        assert_eq!(c.run_task(task).unwrap().task_state, State::Complete);
        let view = c.task_view(task).unwrap();
        assert_eq!(names(&view), steps, "{choose}");
        if !k_deps.is_null() {
            assert_eq!(deps_of(&view, "k"), k_deps, "{choose}");
        }
    }
});

both_backends!(an_invalid_choice_fails_the_decision_permanently, |b| {
    let (c, _db, _log) = setup(b, ROUTING);
    for (choose, why) in [
        (json!(["nope"]), "'nope' is not one of its candidates"),
        (json!(["a", "a"]), "'a' is chosen twice"),
        (json!("a"), "must be a list"),
        (json!(["start"]), "'start' is not one of its candidates"),
    ] {
        let task = create(&c, "routing", json!({"n": 2, "choose": choose}));
        let ctx = c.run_task(task).unwrap();
        assert_eq!(ctx.task_state, State::Error, "{choose}");
        let view = c.task_view(task).unwrap();
        let d = view.step("decide").unwrap();
        assert_eq!(d.attempts, 1, "not retried");
        let err = &d.results.as_ref().unwrap()["error"];
        assert_eq!(err["class"], "InvalidDecision");
        assert!(err["message"].as_str().unwrap().contains(why), "{err}");
        assert_eq!(names(&view), ["decide", "join", "start"], "nothing created");
    }
});

both_backends!(dynamic_steps_cannot_be_bypassed_or_given_inputs, |b| {
    let (c, _db, _log) = setup(b, ROUTING);
    let mut r = req("routing", json!({}));
    r.namespace = Some("tests".into());
    r.step_inputs.insert("a".into(), json!({"x": 1}));
    let e = c.create_task(&r).unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e}");
    assert!(
        e.to_string().contains("only when a decision chooses it"),
        "{e}"
    );
});

fn template_error(steps: &str) -> String {
    TaskTemplate::from_yaml(&format!("name: t\nstep_templates:\n{steps}"), None)
        .unwrap_err()
        .to_string()
}

#[test]
fn registration_refuses_broken_decision_templates() {
    let e = template_error(
        "  - {name: d, handler: h, type: decision, candidates: [a, ghost]}\n  - {name: a, handler: h, depends_on_step: d}\n",
    );
    assert!(e.contains("unknown candidate 'ghost'"), "{e}");
    // A cycle through a choice: d chooses a, and d depends on what a leads to.
    let e = template_error(
        "  - {name: d, handler: h, type: decision, candidates: [a], depends_on_step: b}\n  - {name: a, handler: h, depends_on_step: d}\n  - {name: b, handler: h, depends_on_step: a}\n",
    );
    assert!(e.contains("cycle in template 't'"), "{e}");
    // A convergence parent that no choice can create: x needs both branches.
    let e = template_error(
        "  - {name: d, handler: h, type: decision, candidates: [a, b]}\n  - {name: a, handler: h, depends_on_step: d}\n  - {name: b, handler: h, depends_on_step: d}\n  - {name: x, handler: h, depends_on_steps: [a, b]}\n  - {name: k, handler: h, type: convergence, depends_on_steps: [x]}\n",
    );
    assert!(e.contains("step 'x' is unreachable"), "{e}");
    let e = template_error(
        "  - {name: d, handler: h, type: decision, candidates: [a]}\n  - {name: a, handler: h}\n",
    );
    assert!(e.contains("candidate 'a' must depend on it"), "{e}");
    let e = template_error("  - {name: d, handler: h, candidates: [d]}\n");
    assert!(e.contains("is not a decision"), "{e}");
    let e = template_error("  - {name: k, handler: h, type: convergence}\n");
    assert!(e.contains("lists no parents"), "{e}");
    let e = template_error("  - {name: d, handler: h, type: decision}\n");
    assert!(e.contains("lists no candidates"), "{e}");
}

#[test]
fn decision_limits_are_enforced_at_registration() {
    // Nine decisions, each a candidate of the one before.
    let mut steps = String::from("  - {name: d0, handler: h, type: decision, candidates: [d1]}\n");
    for i in 1..=tasker::MAX_DECISION_DEPTH {
        steps.push_str(&format!(
            "  - {{name: d{i}, handler: h, type: decision, candidates: [d{}], depends_on_step: d{}}}\n",
            i + 1,
            i - 1
        ));
    }
    let n = tasker::MAX_DECISION_DEPTH + 1;
    steps.push_str(&format!(
        "  - {{name: d{n}, handler: h, depends_on_step: d{}}}\n",
        n - 1
    ));
    let e = template_error(&steps);
    assert!(e.contains("nested 9 decisions deep, the limit is 8"), "{e}");
    let many: Vec<String> = (0..=tasker::MAX_DECISION_CANDIDATES)
        .map(|i| format!("s{i}"))
        .collect();
    let mut steps = format!(
        "  - {{name: d, handler: h, type: decision, candidates: [{}]}}\n",
        many.join(", ")
    );
    for s in &many {
        steps.push_str(&format!(
            "  - {{name: {s}, handler: h, depends_on_step: d}}\n"
        ));
    }
    let e = template_error(&steps);
    assert!(e.contains("lists 101 candidates, the limit is 100"), "{e}");
}

/// The lease-expiry race on PostgreSQL: worker A claims the decision and stalls until its
/// lease expired and worker B claimed it again; then both deliver the same outcome at once.
/// B's completion creates the chosen steps; A's is refused (its claim is gone); each chosen
/// step exists and runs exactly once.
#[test]
fn a_decision_delivered_twice_creates_each_step_once() {
    let db = new_db(Backend::Postgres);
    let mut cfg = fast_config();
    cfg.lease_ms = 300;
    cfg.lease_check_interval_ms = 20;
    let release = Arc::new(Barrier::new(2));
    let claimed = Arc::new(Barrier::new(2));
    let log = ExecLog::default();
    let make = |first: bool| {
        let c = Client::connect_with(&db.url, cfg.clone(), None).unwrap();
        register_handlers(&c, &log);
        let (release, claimed) = (release.clone(), claimed.clone());
        c.register_fn("decide", move |ctx: &StepContext| {
            if first {
                claimed.wait(); // let B start once A holds the claim
            }
            release.wait(); // both outcomes are delivered together
            Ok(json!({"activate": ctx.task.context["choose"], "value": 1}))
        })
        .unwrap();
        c
    };
    let (a, b) = (make(true), make(false));
    a.register_template_yaml(ROUTING).unwrap();
    let task = create(&a, "routing", json!({"n": 2, "choose": ["a", "b"]}));
    // start first, so the decision is the next claim.
    while a.task_view(task).unwrap().step("start").unwrap().state != State::Complete {
        a.run_once().unwrap();
    }
    let worker_a = std::thread::spawn({
        let a = a.clone();
        move || a.run_once()
    });
    claimed.wait();
    // A's lease runs out while its handler waits; B reaps it and claims the decision again.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let worker_b = std::thread::spawn({
        let b = b.clone();
        move || b.run_task(task)
    });
    worker_a.join().unwrap().unwrap();
    let ctx = worker_b.join().unwrap().unwrap();
    assert_eq!(ctx.task_state, State::Complete);
    let view = b.task_view(task).unwrap();
    assert_eq!(names(&view), ["a", "a2", "b", "decide", "join", "start"]);
    let d = view.step("decide").unwrap();
    assert_eq!(d.attempts, 2, "A's attempt expired, B's completed");
    let runs = log.0.lock().unwrap().clone();
    for step in ["a", "a2", "b", "join"] {
        assert_eq!(
            runs.iter().filter(|(_, n, _)| n == step).count(),
            1,
            "{step} ran once"
        );
    }
    assert_history_legal(&view);
}

// Workers claiming batches: a decision in a batch is committed alone (it creates steps), the
// plain steps of the batch as a group; every task ends with exactly its chosen steps, each
// run once.
both_backends!(workers_with_batches_create_each_choice_once, |b| {
    let mut cfg = fast_config();
    cfg.claim_batch = 8;
    cfg.adaptive_claim = false;
    let (c, _db) = client_with(b, cfg, None);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    register_decide(&c);
    c.register_template_yaml(ROUTING).unwrap();
    let choices = [
        json!([]),
        json!(["a"]),
        json!(["b", "c"]),
        json!(["c", "a", "b"]),
    ];
    let tasks: Vec<(i64, &Value)> = (0..24)
        .map(|i| {
            let choose = &choices[i % choices.len()];
            (
                create(&c, "routing", json!({"n": i, "choose": choose})),
                choose,
            )
        })
        .collect();
    let stop = tasker::StopHandle::new();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || c.run_worker(&stop).unwrap())
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while c.health().unwrap().complete_tasks < tasks.len() as i64 {
        assert!(
            std::time::Instant::now() < deadline,
            "workers did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop.stop();
    for w in workers {
        w.join().unwrap();
    }
    for (task, choose) in &tasks {
        let view = c.task_view(*task).unwrap();
        let mut expected = vec!["decide", "join", "start"];
        for name in choose.as_array().unwrap() {
            expected.push(name.as_str().unwrap());
            if name == "a" {
                expected.push("a2");
            }
        }
        expected.sort();
        assert_eq!(names(&view), expected, "{choose}");
        assert_history_legal(&view);
    }
    assert!(
        log.count_by_step().values().all(|n| *n == 1),
        "a step ran twice"
    );
});

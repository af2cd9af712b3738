//! A worker continues the task of a one-task batch: the completion of a step also claims the
//! task's next ready steps in the same call (docs/ARCHITECTURE.md, Decisions, "A worker
//! continues its task"), for at most `claim_batch` steps between two claims of any task, never
//! a step under a concurrency or rate limit, and a stop gives the continued claim back.
//!
//! The clock ticks one millisecond per reading, so a claim made in its own call carries a later
//! time than the completion before it, and one made in the completion's call the same time.

use crate::common::*;
use serde_json::json;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tasker::{Client, Clock, State, StepView, StopHandle, TaskView};

const T0: i64 = 1_000_000;

/// Every reading is one millisecond after the previous one.
#[derive(Debug)]
struct TickingClock(AtomicI64);

impl Clock for TickingClock {
    fn now_ms(&self) -> i64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
    fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

const SOLO: &str = "name: solo\nnamespace_name: tests\nversion: 1.0.0\nstep_templates:\n  - {name: solo, handler: square}\n";

/// a -> b (concurrency limit 1) -> c -> d (rate limit 1 per day).
const LIMITED: &str = "name: limited\nnamespace_name: tests\nversion: 1.0.0\nstep_templates:\n  \
  - {name: a, handler: square}\n  \
  - {name: b, handler: square, depends_on_step: a, concurrency: {limit: 1}}\n  \
  - {name: c, handler: square, depends_on_step: b}\n  \
  - {name: d, handler: square, depends_on_step: c, rate_limit: {limit: 1, per_ms: 86400000}}\n";

fn ticking_client(b: Backend, claim_batch: u32) -> (Client, TestDb, ExecLog) {
    let mut cfg = fast_config();
    cfg.claim_batch = claim_batch;
    let clock = Arc::new(TickingClock(AtomicI64::new(T0)));
    let (c, db) = client_with(b, cfg, Some(clock));
    let log = ExecLog::default();
    register_handlers(&c, &log);
    for t in [LINEAR, SOLO, LIMITED] {
        c.register_template_yaml(t).unwrap();
    }
    (c, db, log)
}

/// When `step` was claimed (its last pending -> in_progress) and completed.
fn claimed_at(s: &StepView) -> i64 {
    s.transitions
        .iter()
        .rev()
        .find(|t| t.to_state == State::InProgress)
        .map(|t| t.created_at)
        .unwrap_or_else(|| panic!("{} was never claimed", s.name))
}

fn completed_at(s: &StepView) -> i64 {
    s.transitions
        .iter()
        .find(|t| t.to_state == State::Complete)
        .map(|t| t.created_at)
        .unwrap_or_else(|| panic!("{} never completed", s.name))
}

/// Whether `next` was claimed in the call that completed `prev`.
fn continued(v: &TaskView, prev: &str, next: &str) -> bool {
    completed_at(v.step(prev).unwrap()) == claimed_at(v.step(next).unwrap())
}

fn create(c: &Client, name: &str) -> i64 {
    let r = tasker::TaskRequest {
        namespace: Some("tests".into()),
        ..req(name, json!({"n": 2}))
    };
    c.create_task(&r).unwrap().task_id
}

fn names(log: &ExecLog) -> Vec<String> {
    log.0.lock().unwrap().iter().map(|e| e.1.clone()).collect()
}

both_backends!(a_worker_runs_a_chain_with_one_call_per_step, |b| {
    let (c, _db, log) = ticking_client(b, 32);
    let t = create(&c, "linear");
    assert_eq!(c.run_once().unwrap(), 4, "one claim, then continuations");
    let v = c.task_view(t).unwrap();
    assert_eq!(v.state, State::Complete);
    assert_history_legal(&v);
    for (prev, next) in [("a", "b"), ("b", "c"), ("c", "d")] {
        assert!(continued(&v, prev, next), "{next} claimed in its own call");
    }
    assert_eq!(names(&log), ["a", "b", "c", "d"]);
    assert!(log.count_by_step().values().all(|n| *n == 1));
});

both_backends!(a_stop_mid_chain_gives_the_continued_claim_back, |b| {
    let (c, _db, log) = ticking_client(b, 32);
    let t = create(&c, "linear");
    let step_c = c.task_view(t).unwrap().step("c").unwrap().step_id;
    let stop = StopHandle::new();
    let s = stop.clone();
    c.subscribe_fn(&["workflow.viable_steps_discovered"], move |e| {
        if e.payload["step_ids"] == json!([step_c]) {
            s.stop();
        }
    });
    assert_eq!(c.run_worker(&stop).unwrap(), 2);
    let v = c.task_view(t).unwrap();
    assert!(continued(&v, "b", "c"), "c was claimed by b's completion");
    let sc = v.step("c").unwrap();
    assert_eq!(sc.state, State::Pending, "the continued claim went back");
    assert_eq!(sc.attempts, 0, "a claim given back is not an attempt");
    assert_eq!(names(&log), ["a", "b"]);
    stop.reset();
    assert_eq!(c.run_once().unwrap(), 2);
    let v = c.task_view(t).unwrap();
    assert_eq!(v.state, State::Complete);
    assert_history_legal(&v);
    assert!(log.count_by_step().values().all(|n| *n == 1));
});

both_backends!(a_continuation_never_claims_a_limited_step, |b| {
    let (c, _db, log) = ticking_client(b, 32);
    let t = create(&c, "limited");
    // a (the first claim takes one step, so it looks for no limited one); b is limited:
    // claimed by the worker's own claim, which continues to c; d is rate-limited: claimed by
    // the next claim.
    let runs: Vec<usize> = (0..4).map(|_| c.run_once().unwrap()).collect();
    assert_eq!(runs, [1, 2, 1, 0]);
    let v = c.task_view(t).unwrap();
    assert_eq!(v.state, State::Complete);
    assert_history_legal(&v);
    assert!(!continued(&v, "a", "b"));
    assert!(continued(&v, "b", "c"));
    assert!(!continued(&v, "c", "d"));
    assert_eq!(names(&log), ["a", "b", "c", "d"]);
});

/// a (creates an urgent `solo` task) -> b -> c -> d.
const SPAWNER: &str = "name: spawner\nnamespace_name: tests\nversion: 1.0.0\nstep_templates:\n  \
  - {name: a, handler: spawn}\n  - {name: b, handler: square, depends_on_step: a}\n  \
  - {name: c, handler: square, depends_on_step: b}\n  - {name: d, handler: square, depends_on_step: c}\n";

both_backends!(
    a_chain_yields_to_higher_priority_work_after_claim_batch_steps,
    |b| {
        let (c, _db, log) = ticking_client(b, 2);
        c.register_template_yaml(SPAWNER).unwrap();
        let weak = c.downgrade();
        let l = log.clone();
        c.register_fn("spawn", move |ctx| {
            l.record(ctx);
            let r = tasker::TaskRequest {
                namespace: Some("tests".into()),
                priority: Some(10),
                ..req("solo", json!({"n": 3}))
            };
            weak.upgrade().unwrap().create_task(&r).unwrap();
            Ok(json!({"value": 1}))
        })
        .unwrap();
        let chain = create(&c, "spawner");
        while c.run_once().unwrap() > 0 {}
        // a and its continuation b (2 steps), then a claim in claim order: the urgent step first.
        assert_eq!(names(&log), ["a", "b", "solo", "c", "d"]);
        let v = c.task_view(chain).unwrap();
        assert_eq!(v.state, State::Complete);
        assert!(continued(&v, "a", "b"));
        assert!(!continued(&v, "b", "c"), "the budget of 2 steps was spent");
    }
);

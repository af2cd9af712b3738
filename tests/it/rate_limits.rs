//! Rate limits (docs/FLOW_CONTROL.md): validation at registration, the exact window at the
//! storage level, and the acceptance test: 4 processes × 3 threads never start more than the
//! limit of one key in any window.

use crate::common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tasker::testing::{ClaimScope, Store};
use tasker::{Client, Error, State};

/// One step per task, at most 3 starts per second per `/customer`.
const PER_CUSTOMER: &str = "name: rated\nstep_templates:\n  - name: call\n    handler: call\n    rate_limit: {limit: 3, per_ms: 1000, key: /customer}\n";
/// Both limits on one step: 1 in progress and 2 starts per second, per `/customer`.
const BOTH: &str = "name: both\nstep_templates:\n  - name: call\n    handler: both\n    concurrency: {limit: 1, key: /customer}\n    rate_limit: {limit: 2, per_ms: 1000, key: /customer}\n";

fn invalid(c: &Client, step: &str) -> String {
    let yaml = format!("name: bad\nstep_templates:\n  - name: s\n    handler: h\n{step}");
    match c.register_template_yaml(&yaml) {
        Err(Error::InvalidTemplate(m)) => m,
        other => panic!("{step}: expected InvalidTemplate, got {other:?}"),
    }
}

both_backends!(rate_limits_are_validated_at_registration, |b| {
    let (c, _db) = client(b);
    let rl = |r: &str| format!("    rate_limit: {r}\n");
    assert!(invalid(&c, &rl("{limit: 0, per_ms: 1000}"))
        .contains("rate_limit.limit must be within 1..=100000"));
    assert!(invalid(&c, &rl("{limit: 1, per_ms: 0}")).contains("rate_limit.per_ms"));
    assert!(invalid(&c, &rl("{limit: 1, per_ms: 86400001}")).contains("rate_limit.per_ms"));
    assert!(invalid(&c, &rl("{limit: 1, per_ms: 10, key: id}")).contains("JSON pointer"));
    assert!(invalid(&c, &rl("{limit: 1, per_ms: 10, burst: 2}")).contains("unknown field"));
    assert!(invalid(&c, &rl("{limit: 1}")).contains("per_ms"));
    let both =
        "    concurrency: {limit: 1, key: /a}\n    rate_limit: {limit: 1, per_ms: 10, key: /b}\n";
    assert!(invalid(&c, both).contains("must be the same"));
    c.register_template_yaml(PER_CUSTOMER).unwrap();
    c.register_template_yaml(BOTH).unwrap();
});

fn create(c: &Client, name: &str, context: Value) -> i64 {
    let t = c.create_task(&req(name, context)).unwrap();
    c.task_view(t.task_id).unwrap().steps[0].step_id
}

/// Claims at `now` until a claim takes nothing; the step ids taken.
fn drain(rt: &tokio::runtime::Runtime, store: &Store, now: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    loop {
        let (got, _) = rt.block_on(store.claim(ClaimScope::Any, 100, now)).unwrap();
        if got.is_empty() {
            return ids;
        }
        ids.extend(got.iter().map(|x| x.step_id));
    }
}

both_backends!(only_the_limit_starts_within_the_window, |b| {
    let (c, db) = client(b);
    c.register_template_yaml(PER_CUSTOMER).unwrap();
    let a: Vec<i64> = (0..5)
        .map(|n| create(&c, "rated", json!({"customer": "a", "n": n})))
        .collect();
    let other = create(&c, "rated", json!({"customer": "b"}));
    let (rt, store) = store_runtime(&db.url);
    let now = tasker::Clock::now_ms(&tasker::SystemClock) + 1_000;
    let first = drain(&rt, &store, now);
    let in_a = |ids: &[i64]| ids.iter().filter(|id| a.contains(id)).count();
    assert_eq!(in_a(&first), 3, "customer a: its limit within the window");
    assert!(first.contains(&other), "customer b has its own window");
    // Not one more until the first starts leave the window (no completion is needed).
    assert!(drain(&rt, &store, now + 999).is_empty());
    let second = drain(&rt, &store, now + 1000);
    assert_eq!(in_a(&second), 2, "the rest of a in the next window");
});

/// Completes `done` at `now`.
fn complete(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    done: &tasker::testing::Claimed,
    now: i64,
) {
    let out = rt
        .block_on(store.complete_steps(
            &[tasker::testing::Completion {
                task_id: done.task_id,
                step_id: done.step_id,
                claim_token: done.claim_token.clone(),
                results: json!({}),
            }],
            now,
        ))
        .unwrap();
    assert!(out[0].is_ok());
}

both_backends!(both_limits_apply_to_one_key, |b| {
    let (c, db) = client(b);
    c.register_template_yaml(BOTH).unwrap();
    for n in 0..4 {
        create(&c, "both", json!({"customer": "a", "n": n}));
    }
    let (rt, store) = store_runtime(&db.url);
    let now = tasker::Clock::now_ms(&tasker::SystemClock) + 1_000;
    let (first, _) = rt.block_on(store.claim(ClaimScope::Any, 10, now)).unwrap();
    assert_eq!(first.len(), 1);
    assert!(drain(&rt, &store, now).is_empty(), "concurrency 1: full");
    complete(&rt, &store, &first[0], now + 1);
    let (second, _) = rt
        .block_on(store.claim(ClaimScope::Any, 10, now + 2))
        .unwrap();
    assert_eq!(second.len(), 1, "a slot is free and the window has room");
    complete(&rt, &store, &second[0], now + 3);
    assert!(
        drain(&rt, &store, now + 4).is_empty(),
        "a slot is free but 2 started within the window"
    );
    assert_eq!(drain(&rt, &store, now + 1000).len(), 1);
});

const CHILD_ENV: &str = "TASKER_TEST_RATE_CHILD";
const PROCESSES: usize = 4;
const THREADS: usize = 3;
const LIMIT: usize = 5;
const PER_MS: i64 = 1000;
const ACCEPTANCE: &str = "name: rate_acceptance\nstep_templates:\n  - name: call\n    handler: rate_call\n    rate_limit: {limit: 5, per_ms: 1000}\n";

/// A worker process of the acceptance test: `THREADS` workers until the stop file appears.
#[test]
#[ignore]
fn rate_worker_entry() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let stop_file = PathBuf::from(std::env::var("TASKER_CHILD_STOP").unwrap());
    let config = tasker::Config {
        poll_interval_ms: 20,
        ..fast_config()
    };
    let c = Client::connect_with(&url, config, None).unwrap();
    c.register_fn("rate_call", |_| Ok(json!({}))).unwrap();
    run_workers_until(&c, THREADS, &stop_file);
}

/// The most of `times` (sorted) that lie in one window `(t - per, t]`.
fn max_in_window(times: &[i64], per: i64) -> usize {
    let mut max = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= per {
            lo += 1;
        }
        max = max.max(hi - lo + 1);
    }
    max
}

#[test]
fn max_in_window_counts_starts_per_window() {
    assert_eq!(max_in_window(&[0, 999, 1000, 1999], 1000), 2);
    assert_eq!(max_in_window(&[0, 1, 2, 998], 1000), 4);
    assert_eq!(max_in_window(&[], 1000), 0);
}

both_backends!(four_processes_never_start_more_than_the_rate, |b| {
    let db = new_db(b);
    let c = Client::connect(&db.url).unwrap();
    c.register_template_yaml(ACCEPTANCE).unwrap();
    let tasks: Vec<i64> = (0..25)
        .map(|n| {
            c.create_task(&req("rate_acceptance", json!({"n": n})))
                .unwrap()
                .task_id
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let stop_file = dir.path().join("stop");
    let mut children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            spawn_test_entry(
                "rate_limits::rate_worker_entry",
                &[
                    (CHILD_ENV, db.url.clone()),
                    ("TASKER_CHILD_STOP", stop_file.display().to_string()),
                ],
            )
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    for t in &tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        let w = c.wait_task(*t, left).unwrap();
        assert_eq!(w.task.state, State::Complete, "task {t}");
    }
    std::fs::write(&stop_file, b"stop").unwrap();
    for child in &mut children {
        assert!(child.wait().unwrap().success(), "a worker process failed");
    }
    // The claim time of each start (the clock the rule uses), one attempt each.
    let mut starts: Vec<i64> = tasks
        .iter()
        .map(|t| {
            let step = c.task_view(*t).unwrap().steps[0].clone();
            assert_eq!(step.attempts, 1);
            step.last_attempted_at.unwrap()
        })
        .collect();
    starts.sort_unstable();
    let max = max_in_window(&starts, PER_MS);
    assert!(
        max <= LIMIT,
        "{max} starts in one window of {PER_MS} ms: {starts:?}"
    );
});

both_backends!(old_starts_are_pruned_and_recent_ones_kept, |b| {
    // The claim keeps each key's newest N starts; a key no longer claimed keeps them until the
    // workers' hourly prune deletes those older than the longest window (24 h).
    let clock = tasker::ManualClock::new(1_000_000_000);
    let (c, db) = client_with(b, fast_config(), Some(clock.clone()));
    c.register_template_yaml(PER_CUSTOMER).unwrap();
    c.register_fn("call", |_| Ok(json!({}))).unwrap();
    for n in 0..3 {
        let t = c
            .create_task(&req("rated", json!({"customer": "gone", "n": n})))
            .unwrap();
        assert_eq!(c.run_task(t.task_id).unwrap().task_state, State::Complete);
    }
    let starts = || crate::purge::rows(&db.url, "tasker_rate_starts");
    assert_eq!(starts(), 3);
    // Store level: only starts before the cutoff go.
    let (rt, store) = store_runtime(&db.url);
    let now = tasker::Clock::now_ms(&*clock);
    assert_eq!(rt.block_on(store.prune_rate_starts(now)).unwrap(), 0);
    assert_eq!(starts(), 3);
    // A worker's pass within 24 h keeps them; past 24 h it deletes them.
    let run_worker_briefly = || {
        let stop = tasker::StopHandle::new();
        let (cc, s) = (c.clone(), stop.clone());
        let h = std::thread::spawn(move || cc.run_worker(&s));
        std::thread::sleep(Duration::from_millis(300));
        stop.stop();
        h.join().unwrap().unwrap();
    };
    clock.advance_ms(23 * 3_600_000);
    run_worker_briefly();
    assert_eq!(starts(), 3);
    clock.advance_ms(2 * 3_600_000);
    run_worker_briefly();
    assert_eq!(starts(), 0);
});

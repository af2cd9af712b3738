//! Concurrency limits (docs/FLOW_CONTROL.md): validation at registration, keys computed from
//! the task context, exact claims per key at the storage level, and the acceptance test: 4
//! processes × 3 threads never run more than the limit of one key at once, while another key
//! proceeds.

use crate::common::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tasker::{Client, Error, State, StopHandle};

/// One step per task, at most 2 in progress per `/customer`.
const PER_CUSTOMER: &str = "name: per_customer\nstep_templates:\n  - name: work\n    handler: work\n    concurrency: {limit: 2, key: /customer}\n";
/// One step per task, at most 1 in progress for the handler across all tasks.
const PER_HANDLER: &str = "name: per_handler\nstep_templates:\n  - name: only\n    handler: serial\n    concurrency: {limit: 1}\n";
const UNLIMITED: &str = "name: unlimited\nstep_templates:\n  - {name: free, handler: free}\n";

fn invalid(c: &Client, concurrency: &str) -> String {
    let yaml = format!(
        "name: bad\nstep_templates:\n  - name: s\n    handler: h\n    concurrency: {concurrency}\n"
    );
    match c.register_template_yaml(&yaml) {
        Err(Error::InvalidTemplate(m)) => m,
        other => panic!("{concurrency}: expected InvalidTemplate, got {other:?}"),
    }
}

both_backends!(limits_are_validated_at_registration, |b| {
    let (c, _db) = client(b);
    assert!(invalid(&c, "{limit: 0}").contains("concurrency.limit must be within 1..=100000"));
    assert!(invalid(&c, "{limit: 100001}").contains("concurrency.limit"));
    assert!(invalid(&c, "{limit: 2, key: customer}").contains("JSON pointer"));
    assert!(invalid(&c, "{limit: 2, per: 1}").contains("unknown field"));
    c.register_template_yaml(PER_CUSTOMER).unwrap();
});

/// (task id, step id) of the task's only step.
fn create(c: &Client, name: &str, context: Value) -> (i64, i64) {
    let t = c.create_task(&req(name, context)).unwrap();
    let view = c.task_view(t.task_id).unwrap();
    (t.task_id, view.steps[0].step_id)
}

both_backends!(a_claim_takes_at_most_the_room_of_each_key, |b| {
    let (c, db) = client(b);
    for t in [PER_CUSTOMER, PER_HANDLER, UNLIMITED] {
        c.register_template_yaml(t).unwrap();
    }
    let a: Vec<(i64, i64)> = (0..5)
        .map(|n| create(&c, "per_customer", json!({"customer": "a", "n": n})))
        .collect();
    let b_steps: Vec<(i64, i64)> = (0..3)
        .map(|n| create(&c, "per_customer", json!({"customer": "b", "n": n})))
        .collect();
    // No customer: these share the key of the empty value.
    let none: Vec<(i64, i64)> = (0..3)
        .map(|n| create(&c, "per_customer", json!({"n": n})))
        .collect();
    let serial: Vec<(i64, i64)> = (0..3)
        .map(|n| create(&c, "per_handler", json!({"n": n})))
        .collect();
    let free: Vec<(i64, i64)> = (0..4)
        .map(|n| create(&c, "unlimited", json!({"n": n})))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use tasker::testing::{ClaimScope, Completion, Store};
        let store = Store::connect(&db.url, 4, Duration::from_secs(5))
            .await
            .unwrap();
        let now = tasker::Clock::now_ms(&tasker::SystemClock) + 1_000;
        // One step per key per claim (a worker runs its batch one step after another).
        let (first, _) = store.claim(ClaimScope::Any, 100, now).await.unwrap();
        let mut claimed = first.clone();
        loop {
            let (more, _) = store.claim(ClaimScope::Any, 100, now).await.unwrap();
            if more.is_empty() {
                break;
            }
            claimed.extend(more);
        }
        let ids = |v: &[_]| -> Vec<i64> {
            v.iter()
                .map(|x: &tasker::testing::Claimed| x.step_id)
                .collect()
        };
        let count = |ids: &[i64], group: &[(i64, i64)]| {
            ids.iter()
                .filter(|id| group.iter().any(|g| g.1 == **id))
                .count()
        };
        let (first_ids, all_ids) = (ids(&first), ids(&claimed));
        assert_eq!(count(&first_ids, &a), 1, "one step of a key per claim");
        assert_eq!(
            count(&first_ids, &free),
            4,
            "unlimited steps are all claimed"
        );
        assert_eq!(count(&all_ids, &a), 2, "customer a: its limit");
        assert_eq!(count(&all_ids, &b_steps), 2, "customer b: its own limit");
        assert_eq!(count(&all_ids, &none), 2, "no customer: one shared key");
        assert_eq!(count(&all_ids, &serial), 1, "per handler: one key");
        assert_eq!(claimed.len(), 11);
        // At the limit: nothing more of a, by any scope.
        let waiting = a
            .iter()
            .find(|g| !claimed.iter().any(|x| x.step_id == g.1))
            .unwrap();
        let (by_task, _) = store
            .claim(ClaimScope::Task(waiting.0), 10, now)
            .await
            .unwrap();
        assert!(by_task.is_empty(), "a task's own claim respects the limit");
        let (by_step, _) = store
            .claim(ClaimScope::Step(waiting.1), 1, now)
            .await
            .unwrap();
        assert!(by_step.is_empty(), "a step's own claim respects the limit");
        // A completion frees one slot of a: exactly one more of a is claimed.
        let done = claimed.iter().find(|x| a.iter().any(|g| g.1 == x.step_id));
        let done = done.unwrap();
        let out = store
            .complete_steps(
                &[Completion {
                    task_id: done.task_id,
                    step_id: done.step_id,
                    claim_token: done.claim_token.clone(),
                    results: json!({}),
                }],
                now + 1,
            )
            .await
            .unwrap();
        assert!(out[0].is_ok());
        let (next, _) = store.claim(ClaimScope::Any, 100, now + 2).await.unwrap();
        assert_eq!(next.len(), 1, "one slot was freed: {next:?}");
        assert!(a.iter().any(|g| g.1 == next[0].step_id));
    });
});

/// The in-process concurrency per key of the `work` handler, and its maximum.
#[derive(Default)]
struct Gauge {
    running: HashMap<String, i64>,
    max: HashMap<String, i64>,
}

both_backends!(worker_threads_never_exceed_a_limit, |b| {
    let (c, _db) = client(b);
    c.register_template_yaml(PER_CUSTOMER).unwrap();
    let gauge = std::sync::Arc::new(std::sync::Mutex::new(Gauge::default()));
    let g = gauge.clone();
    c.register_fn("work", move |ctx| {
        let customer = ctx.task.context["customer"]
            .as_str()
            .unwrap_or("")
            .to_string();
        {
            let mut g = g.lock().unwrap();
            let now = {
                let r = g.running.entry(customer.clone()).or_insert(0);
                *r += 1;
                *r
            };
            let m = g.max.entry(customer.clone()).or_insert(0);
            *m = (*m).max(now);
        }
        std::thread::sleep(Duration::from_millis(15));
        *g.lock().unwrap().running.get_mut(&customer).unwrap() -= 1;
        Ok(json!({}))
    })
    .unwrap();
    let tasks: Vec<i64> = (0..24)
        .map(|n| {
            let customer = if n % 2 == 0 { "a" } else { "b" };
            let r = req("per_customer", json!({"customer": customer, "n": n}));
            c.create_task(&r).unwrap().task_id
        })
        .collect();
    let stop = StopHandle::new();
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || c.run_worker(&stop).unwrap())
        })
        .collect();
    for t in &tasks {
        let w = c.wait_task(*t, Duration::from_secs(60)).unwrap();
        assert_eq!(w.task.state, State::Complete, "task {t}");
    }
    stop.stop();
    for w in workers {
        w.join().unwrap();
    }
    let g = gauge.lock().unwrap();
    for customer in ["a", "b"] {
        let max = g.max[customer];
        assert!((1..=2).contains(&max), "customer {customer}: {max} at once");
    }
});

const CHILD_ENV: &str = "TASKER_TEST_LIMITS_CHILD";
const PROCESSES: usize = 4;
const THREADS: usize = 3;
/// At most 3 steps of one customer at once.
const ACCEPTANCE: &str = "name: limited\nstep_templates:\n  - name: call\n    handler: call\n    concurrency: {limit: 3, key: /customer}\n";

/// A worker process of the acceptance test: `THREADS` workers until the stop file appears.
/// Its handler returns when it ran (start and end, epoch µs on this host's clock).
#[test]
#[ignore]
fn limits_worker_entry() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let stop_file = PathBuf::from(std::env::var("TASKER_CHILD_STOP").unwrap());
    let config = tasker::Config {
        poll_interval_ms: 20,
        ..fast_config()
    };
    let c = Client::connect_with(&url, config, None).unwrap();
    let micros = || {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        i64::try_from(t.unwrap().as_micros()).unwrap()
    };
    c.register_fn("call", move |_| {
        let start = micros();
        // Long enough that the steps of different keys overlap even on a loaded machine,
        // where a claim can take tens of milliseconds.
        std::thread::sleep(Duration::from_millis(200));
        let end = micros();
        Ok(json!({"start": start, "end": end}))
    })
    .unwrap();
    run_workers_until(&c, THREADS, &stop_file);
}

/// The most intervals `[start, end)` that overlap at one instant. A step's slot is freed
/// only after its handler returned (its end) and its completion committed, so a step that
/// took the slot starts strictly later: an end and a start at the same microsecond do not
/// overlap.
fn max_concurrent(intervals: &[(i64, i64)]) -> usize {
    let mut edges: Vec<(i64, i32)> = intervals
        .iter()
        .flat_map(|(s, e)| [(*s, 1), (*e, 0)])
        .collect();
    // Ends before starts at the same instant.
    edges.sort_unstable();
    let (mut now, mut max) = (0usize, 0usize);
    for (_, kind) in edges {
        if kind == 1 {
            now += 1;
            max = max.max(now);
        } else {
            now -= 1;
        }
    }
    max
}

#[test]
fn max_concurrent_counts_overlaps() {
    assert_eq!(max_concurrent(&[(0, 10), (10, 20), (20, 30)]), 1);
    assert_eq!(max_concurrent(&[(0, 10), (9, 20)]), 2);
    assert_eq!(max_concurrent(&[(0, 10), (11, 20)]), 1);
    assert_eq!(max_concurrent(&[(0, 10), (1, 5), (2, 3), (4, 12)]), 3);
}

both_backends!(four_processes_never_run_more_than_the_limit_of_a_key, |b| {
    let db = new_db(b);
    let c = Client::connect(&db.url).unwrap();
    c.register_template_yaml(ACCEPTANCE).unwrap();
    // Customer a has a long backlog; b (same limit) and c (few steps) must proceed meanwhile.
    let mut tasks: Vec<(String, i64)> = Vec::new();
    for n in 0..60 {
        let customer = match n % 4 {
            0 | 1 => "a",
            2 => "b",
            _ => "c",
        };
        let r = req("limited", json!({"customer": customer, "n": n}));
        tasks.push((customer.to_string(), c.create_task(&r).unwrap().task_id));
    }
    let dir = tempfile::tempdir().unwrap();
    let stop_file = dir.path().join("stop");
    let mut children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            spawn_test_entry(
                "concurrency_limits::limits_worker_entry",
                &[
                    (CHILD_ENV, db.url.clone()),
                    ("TASKER_CHILD_STOP", stop_file.display().to_string()),
                ],
            )
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    for (_, t) in &tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        let w = c.wait_task(*t, left).unwrap();
        assert_eq!(w.task.state, State::Complete, "task {t}");
    }
    std::fs::write(&stop_file, b"stop").unwrap();
    for child in &mut children {
        assert!(child.wait().unwrap().success(), "a worker process failed");
    }
    let mut by_customer: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    for (customer, t) in &tasks {
        let view = c.task_view(*t).unwrap();
        let r = view.steps[0].results.clone().unwrap();
        let span = (r["start"].as_i64().unwrap(), r["end"].as_i64().unwrap());
        by_customer.entry(customer.clone()).or_default().push(span);
    }
    let a = max_concurrent(&by_customer["a"]);
    let b_max = max_concurrent(&by_customer["b"]);
    assert_eq!(a, 3, "customer a: measured maximum concurrent");
    assert!(b_max <= 3, "customer b: {b_max} at once");
    // Other keys proceed while a is at its limit: more than 3 steps ran at one instant.
    let all: Vec<(i64, i64)> = by_customer.values().flatten().copied().collect();
    assert!(
        max_concurrent(&all) > 3,
        "only one key ran at a time: {}",
        max_concurrent(&all)
    );
});

/// One step per task, at most 1 in progress per `/k`.
const ONE_PER_KEY: &str = "name: one_per_key\nstep_templates:\n  - name: work\n    handler: work\n    concurrency: {limit: 1, key: /k}\n";

both_backends!(
    keys_past_the_first_64_are_claimed_while_those_are_full,
    |b| {
        let (c, db) = client(b);
        c.register_template_yaml(ONE_PER_KEY).unwrap();
        let key = |n: usize| format!("k{n:03}");
        for n in 0..64 {
            create(&c, "one_per_key", json!({"k": key(n)}));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        use tasker::testing::{ClaimScope, Store};
        let store = rt
            .block_on(Store::connect(&db.url, 4, Duration::from_secs(5)))
            .unwrap();
        let now = tasker::Clock::now_ms(&tasker::SystemClock) + 1_000;
        // The 64 lowest keys at their limit: one step each in progress, never completed.
        let (full, _) = rt.block_on(store.claim(ClaimScope::Any, 100, now)).unwrap();
        assert_eq!(full.len(), 64);
        // Each of them gets a waiting step; 6 higher keys get one step each.
        for n in 0..64 {
            create(&c, "one_per_key", json!({"k": key(n), "waiting": true}));
        }
        let high: Vec<i64> = (64..70)
            .map(|n| create(&c, "one_per_key", json!({"k": key(n)})).1)
            .collect();
        let later = tasker::Clock::now_ms(&tasker::SystemClock) + 1_000;
        let (next, _) = rt
            .block_on(store.claim(ClaimScope::Any, 100, later))
            .unwrap();
        let mut got: Vec<i64> = next.iter().map(|x| x.step_id).collect();
        got.sort_unstable();
        assert_eq!(got, high, "the keys past the full ones are claimed");
    }
);

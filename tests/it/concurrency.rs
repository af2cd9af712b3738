//! Real parallelism: several OS processes × threads on one database, a worker killed with
//! SIGKILL while holding claims, and fencing of stale claim tokens.

use crate::common::*;
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tasker::{State, StopHandle};

const CHILD_ENV: &str = "TASKER_TEST_CHILD";

pub(crate) fn spawn_child(url: &str, mode: &str, threads: usize, batch: u32, out: &Path) -> Child {
    spawn_test_entry(
        "concurrency::child_worker_entry",
        &[
            (CHILD_ENV, "1".into()),
            ("TASKER_CHILD_URL", url.into()),
            ("TASKER_CHILD_MODE", mode.into()),
            ("TASKER_CHILD_THREADS", threads.to_string()),
            ("TASKER_CHILD_BATCH", batch.to_string()),
            ("TASKER_CHILD_OUT", out.display().to_string()),
        ],
    )
}

/// Entry point of child worker processes (ignored unless spawned by a test).
#[test]
#[ignore]
fn child_worker_entry() {
    if std::env::var(CHILD_ENV).is_err() {
        return;
    }
    let url = std::env::var("TASKER_CHILD_URL").unwrap();
    let mode = std::env::var("TASKER_CHILD_MODE").unwrap();
    let threads: usize = std::env::var("TASKER_CHILD_THREADS")
        .unwrap()
        .parse()
        .unwrap();
    let batch: u32 = std::env::var("TASKER_CHILD_BATCH")
        .unwrap()
        .parse()
        .unwrap();
    let out = PathBuf::from(std::env::var("TASKER_CHILD_OUT").unwrap());
    if mode == "open" {
        // Wait for the parent's start signal so every child opens the database at once.
        while !out.exists() {
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Err(e) = tasker::Client::connect_with(&url, fast_config(), None) {
            panic!("connect failed: {e}");
        }
        return;
    }
    let chaos = mode == "chaos";
    let cfg = if chaos {
        // The chaos test (tests/it/chaos.rs): default adaptive claim, short leases so a killed
        // worker's claims expire quickly.
        tasker::Config {
            lease_ms: 1500,
            poll_interval_ms: 20,
            ..fast_config()
        }
    } else {
        tasker::Config {
            claim_batch: batch,
            // Children hold exactly the batch the test asks for (a killed worker's claims).
            adaptive_claim: false,
            poll_interval_ms: 20,
            // The claimer's lease applies (steps without a template lease): short, so a
            // killed child's claims expire quickly.
            lease_ms: 1500,
            ..fast_config()
        }
    };
    // A chaos replacement may start while PostgreSQL restarts: retry the connection a while.
    let mut tries = 0;
    let c = loop {
        match tasker::Client::connect_with(&url, cfg.clone(), None) {
            Ok(c) => break c,
            Err(e) if chaos && tries < 100 => {
                eprintln!("child connect failed, retrying: {e}");
                tries += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("connect failed: {e}"),
        }
    };
    let file = Arc::new(std::sync::Mutex::new(std::fs::File::create(&out).unwrap()));
    let hang = mode == "hang";
    let f2 = file.clone();
    c.register_fn("square", move |ctx| {
        // Record before doing anything: this is the execution log the parent checks.
        {
            // One write per line, so a SIGKILL cannot leave half a line.
            let line = format!(
                "{} {} {}\n",
                ctx.step.step_id,
                ctx.step.attempt,
                std::process::id()
            );
            let mut f = f2.lock().unwrap();
            f.write_all(line.as_bytes()).unwrap();
            f.flush().unwrap();
        }
        if hang {
            std::thread::sleep(Duration::from_secs(600));
        }
        if chaos {
            // Long enough that kills and restarts land while handlers run.
            std::thread::sleep(Duration::from_millis(20));
        }
        let base: i64 = if ctx.dependency_results.is_empty() {
            ctx.task.context["n"].as_i64().unwrap_or(0)
        } else {
            ctx.dependency_results
                .values()
                .map(|v| v["value"].as_i64().unwrap_or(0))
                .sum()
        };
        Ok(json!({"value": base % 1000 * (base % 1000)}))
    })
    .unwrap();
    let stop = StopHandle::new();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let c = c.clone();
            let stop = stop.clone();
            std::thread::spawn(move || c.run_worker(&stop).unwrap())
        })
        .collect();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        match c.health() {
            Ok(h) if h.pending_tasks + h.in_progress_tasks == 0 => break,
            Ok(_) => {}
            // PostgreSQL restarting under the chaos test; the workers retry on their own.
            Err(e) if chaos => eprintln!("child health failed: {e}"),
            Err(e) => panic!("health: {e}"),
        }
    }
    stop.stop();
    for h in handles {
        h.join().unwrap();
    }
}

pub(crate) fn read_executions(paths: &[PathBuf]) -> Vec<(i64, i64, u32)> {
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        for line in text.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            out.push((
                parts[0].parse().unwrap(),
                parts[1].parse().unwrap(),
                parts[2].parse().unwrap(),
            ));
        }
    }
    out
}

/// The executed steps are exactly the tasks' steps, and every task completed.
pub(crate) fn assert_all_complete(
    c: &tasker::Client,
    executed_steps: usize,
    total_steps: usize,
    tasks: usize,
) {
    assert_eq!(
        executed_steps, total_steps,
        "no execution of an unknown step"
    );
    let h = c.health().unwrap();
    assert_eq!(h.complete_tasks as usize, tasks);
}

pub(crate) fn wait_all(children: &mut [Child], limit: Duration) {
    let start = Instant::now();
    for ch in children.iter_mut() {
        loop {
            if let Some(st) = ch.try_wait().unwrap() {
                assert!(st.success(), "child worker failed: {st}");
                break;
            }
            if start.elapsed() > limit {
                for c in children.iter_mut() {
                    let _ = c.kill();
                }
                panic!("child workers did not finish within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn many_processes(backend: Backend, processes: usize, threads: usize, tasks: usize) {
    let (c, db) = client(backend);
    c.register_template_yaml(DIAMOND).unwrap();
    let mut ids = Vec::new();
    for i in 0..tasks {
        let t = c
            .create_task(&tasker::TaskRequest {
                namespace: Some("tests".into()),
                ..req("diamond", json!({"n": i}))
            })
            .unwrap();
        ids.push(t.task_id);
    }
    let dir = tempfile::tempdir().unwrap();
    let outs: Vec<PathBuf> = (0..processes)
        .map(|i| dir.path().join(format!("exec-{i}.log")))
        .collect();
    let mut children: Vec<Child> = outs
        .iter()
        .enumerate()
        .map(|(i, out)| spawn_child(&db.url, "work", threads, 1 + (i % 3) as u32, out))
        .collect();
    wait_all(&mut children, Duration::from_secs(900));
    let execs = read_executions(&outs);
    let mut per_step: HashMap<i64, usize> = HashMap::new();
    let mut pids = std::collections::HashSet::new();
    for (step, attempt, pid) in &execs {
        assert_eq!(*attempt, 1);
        *per_step.entry(*step).or_default() += 1;
        pids.insert(*pid);
    }
    assert!(pids.len() > 1, "work was shared between processes");
    let mut total_steps = 0;
    for id in ids {
        let v = c.task_view(id).unwrap();
        assert_eq!(v.state, State::Complete, "task {id}");
        for s in &v.steps {
            total_steps += 1;
            assert_eq!(
                per_step.get(&s.step_id),
                Some(&1),
                "step {} ran {:?} times",
                s.step_id,
                per_step.get(&s.step_id)
            );
            assert_eq!(s.attempts, 1);
        }
        assert_history_legal(&v);
        // d = (b + c)^2 with b = c = (n^2 % 1000)^2 ... checked structurally: it has a value.
        assert!(v.step("d").unwrap().results.as_ref().unwrap()["value"].is_i64());
    }
    assert_all_complete(&c, per_step.len(), total_steps, tasks);
}

#[test]
fn postgres_four_processes_by_four_threads_1000_diamonds() {
    many_processes(Backend::Postgres, 4, 4, 1000);
}

#[test]
fn sqlite_processes_share_one_file() {
    many_processes(Backend::Sqlite, 2, 2, 100);
}

both_backends!(threads_in_one_process_run_each_step_once, |b| {
    let (c, _db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(TREE).unwrap();
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(
            c.create_task(&tasker::TaskRequest {
                namespace: Some("tests".into()),
                ..req("tree", json!({"n": i}))
            })
            .unwrap()
            .task_id,
        );
    }
    let stop = StopHandle::new();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || c.run_worker(&stop).unwrap())
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    while c.health().unwrap().complete_tasks < 40 {
        assert!(Instant::now() < deadline, "workers did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.stop();
    let ran: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(ran, 40 * 8);
    let counts = log.count_by_step();
    assert_eq!(counts.len(), 40 * 8);
    assert!(counts.values().all(|n| *n == 1));
    for id in ids {
        assert_history_legal(&c.task_view(id).unwrap());
    }
});

both_backends!(killed_worker_claims_expire_and_others_finish, |b| {
    let mut cfg = fast_config();
    cfg.lease_ms = 1500;
    let (c, db) = client_with(b, cfg, None);
    c.register_template_yaml(LINEAR).unwrap();
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            c.create_task(&tasker::TaskRequest {
                namespace: Some("tests".into()),
                ..req("linear", json!({"n": i}))
            })
            .unwrap()
            .task_id,
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hang.log");
    let mut child = spawn_child(&db.url, "hang", 1, 3, &out);
    // Wait until the child holds its claims (it records before hanging).
    let start = Instant::now();
    loop {
        let n = read_executions(std::slice::from_ref(&out)).len();
        if n >= 1 && c.health().unwrap().in_progress_steps >= 3 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "child never claimed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let held: Vec<i64> = {
        let h = c.health().unwrap();
        assert_eq!(h.in_progress_steps, 3);
        let mut v = Vec::new();
        for id in &ids {
            for s in c.task_view(*id).unwrap().steps {
                if s.state == State::InProgress {
                    v.push(s.step_id);
                }
            }
        }
        v
    };
    assert_eq!(held.len(), 3);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    let stop = StopHandle::new();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || c.run_worker(&stop).unwrap())
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while c.health().unwrap().complete_tasks < 6 {
        assert!(Instant::now() < deadline, "survivors did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.stop();
    for w in workers {
        w.join().unwrap();
    }
    for id in &ids {
        let v = c.task_view(*id).unwrap();
        assert_eq!(v.state, State::Complete);
        assert_history_legal(&v);
        for s in &v.steps {
            if held.contains(&s.step_id) {
                assert_eq!(s.attempts, 2, "killed attempt counted as a failed attempt");
                let failed = s
                    .transitions
                    .iter()
                    .find(|t| t.to_state == State::Error)
                    .unwrap();
                assert_eq!(failed.metadata["error_class"], json!("LeaseExpired"));
            } else {
                assert_eq!(s.attempts, 1);
            }
        }
    }
});

both_backends!(stale_claim_token_is_refused, |b| {
    let (c, db) = client(b);
    c.register_template_yaml(LINEAR).unwrap();
    let t = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("linear", json!({"n": 2}))
        })
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use tasker::testing::{ClaimScope, Failure, Store};
        let store = Store::connect(&db.url, 4, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let now = tasker::Clock::now_ms(&tasker::SystemClock) + 1_000;
        let (first, _) = store
            .claim(ClaimScope::Task(t.task_id), 1, now)
            .await
            .unwrap();
        assert_eq!(first.len(), 1);
        let old = &first[0];
        // The lease expires and a reaper records the failed attempt; another worker reclaims.
        let lease = Failure {
            message: "expired".into(),
            class: "LeaseExpired".into(),
            permanent: false,
            retry_after_ms: None,
            details: serde_json::Value::Null,
        };
        // The reaper's RetryAnalyzer would decide this for attempt 1 of 3.
        let retry = tasker::testing::RetryDecision {
            will_retry: true,
            delay_ms: Some(0),
            from_claim: true,
        };
        store
            .fail_step(
                t.task_id,
                old.step_id,
                &old.claim_token,
                &lease,
                &retry,
                now + 400_000,
            )
            .await
            .unwrap();
        let (second, _) = store
            .claim(ClaimScope::Task(t.task_id), 1, now + 500_000)
            .await
            .unwrap();
        assert_eq!(second.len(), 1);
        let new = &second[0];
        assert_eq!(new.step_id, old.step_id);
        assert_ne!(new.claim_token, old.claim_token);
        assert_eq!(new.attempts, 2);
        // The old worker comes back: its completion, failure and heartbeat are all refused.
        let r = store
            .complete_step(
                t.task_id,
                old.step_id,
                &old.claim_token,
                &json!({"stale": true}),
                now + 500_001,
            )
            .await;
        assert!(
            matches!(r, Err(tasker::Error::StaleClaim(id)) if id == old.step_id),
            "{r:?}"
        );
        let r = store
            .fail_step(
                t.task_id,
                old.step_id,
                &old.claim_token,
                &lease,
                &retry,
                now + 500_001,
            )
            .await;
        assert!(matches!(r, Err(tasker::Error::StaleClaim(_))), "{r:?}");
        let r = store
            .heartbeat(old.step_id, &old.claim_token, now + 500_001)
            .await;
        assert!(matches!(r, Err(tasker::Error::StaleClaim(_))), "{r:?}");
        // The current holder's completion lands.
        let ok = store
            .complete_step(
                t.task_id,
                new.step_id,
                &new.claim_token,
                &json!({"value": 4}),
                now + 500_002,
            )
            .await
            .unwrap();
        assert_eq!(ok.newly_ready.len(), 1);
        store.close().await;
    });
    let v = c.task_view(t.task_id).unwrap();
    assert_eq!(v.step("a").unwrap().results, Some(json!({"value": 4})));
    assert_history_legal(&v);
});

// Processes opening a new database at once each run the migrations; they must take turns
// (SQLite: the migration lock file; PostgreSQL: sqlx's advisory lock), not fail with
// "table ... already exists".
both_backends!(processes_opening_a_new_database_at_once_all_connect, |b| {
    for round in 0..4 {
        let db = new_db(b);
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let mut children: Vec<Child> = (0..6)
            .map(|_| spawn_child(&db.url, "open", 1, 1, &go))
            .collect();
        // Let the children start and wait on the signal, then release them together.
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(&go, b"go").unwrap();
        let start = Instant::now();
        for ch in children.iter_mut() {
            loop {
                if let Some(st) = ch.try_wait().unwrap() {
                    assert!(
                        st.success(),
                        "round {round}: a process failed to open the new database"
                    );
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(120),
                    "round {round}: children hung"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let c = tasker::Client::connect_with(&db.url, fast_config(), None).unwrap();
        c.register_template_yaml(DIAMOND).unwrap();
    }
});

/// A template of `n` steps, each on its own dependent system, in the given order.
fn shared_rows_template(namespace: &str, version: u32, reverse: bool) -> String {
    let mut steps: Vec<String> = (0..12)
        .map(|i| format!("  - {{name: shared_{i}, handler: square, dependent_system: sys_{i}}}"))
        .collect();
    if reverse {
        steps.reverse();
    }
    format!(
        "name: shared\nnamespace_name: {namespace}\nversion: 1.0.{version}\nstep_templates:\n{}\n",
        steps.join("\n")
    )
}

// Templates sharing dependent systems and named steps in opposite order, registered from
// several threads at once, never deadlock (one global lock order in storage).
both_backends!(
    templates_sharing_rows_in_opposite_order_register_concurrently,
    |b| {
        let db = new_db(b);
        let c = tasker::Client::connect_with(&db.url, fast_config(), None).unwrap();
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    let mut failures = Vec::new();
                    for i in 0..30 {
                        let yaml = shared_rows_template(&format!("ns{t}"), i, t % 2 == 1);
                        if let Err(e) = c.register_template_yaml(&yaml) {
                            failures.push(e.to_string());
                        }
                    }
                    failures
                })
            })
            .collect();
        let failures: Vec<String> = threads
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert!(
            failures.is_empty(),
            "{} of 180 failed: {:?}",
            failures.len(),
            failures.first()
        );
    }
);

//! Chaos (issue #16): worker processes on a PostgreSQL server of the test's own, one worker
//! SIGKILLed and replaced and the server restarted while they work; afterwards every task is
//! complete, every step ran once except attempts killed or expired (recorded as LeaseExpired),
//! and every history is legal. `CHAOS_SECONDS` (default 2) repeats the kill + restart round
//! that long; `CHAOS_TASKS` (default 200) sets the work (`make chaos` runs it longer).

use crate::common::*;
use crate::concurrency::{assert_all_complete, read_executions, spawn_child, wait_all};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};
use tasker::State;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Tasks not yet finished, or None while the server is unreachable (restarting).
fn unfinished(c: &tasker::Client) -> Option<i64> {
    c.health()
        .ok()
        .map(|h| h.pending_tasks + h.in_progress_tasks)
}

/// A task's view; the first uses of pooled connections from before the restart fail once.
fn view(c: &tasker::Client, id: i64) -> tasker::TaskView {
    let mut tries = 0;
    loop {
        match c.task_view(id) {
            Ok(v) => return v,
            Err(e) if tries < 20 => {
                eprintln!("chaos: task_view failed ({e}), retrying");
                tries += 1;
            }
            Err(e) => panic!("task_view {id}: {e}"),
        }
    }
}

#[test]
fn postgres_workers_survive_kill_and_server_restart() {
    let Some(pg) = OwnPg::start() else {
        eprintln!("chaos: skipped (no PostgreSQL server of our own to restart)");
        return;
    };
    let seconds = env_or("CHAOS_SECONDS", 2);
    let tasks = env_or("CHAOS_TASKS", 200) as usize;
    let url = pg.new_db();
    // Claims take the claiming worker's lease (children: 1.5 s, so killed claims expire soon).
    let cfg = tasker::Config {
        lease_ms: 1500,
        ..fast_config()
    };
    let c = tasker::Client::connect_with(&url, cfg, None).unwrap();
    c.register_template_yaml(DIAMOND).unwrap();
    c.register_template_yaml(LINEAR).unwrap();
    let ids: Vec<i64> = (0..tasks)
        .map(|i| {
            let name = if i % 2 == 0 { "diamond" } else { "linear" };
            c.create_task(&tasker::TaskRequest {
                namespace: Some("tests".into()),
                ..req(name, json!({"n": i}))
            })
            .unwrap()
            .task_id
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut outs: Vec<PathBuf> = Vec::new();
    let mut children: Vec<Child> = Vec::new();
    let spawn = |outs: &mut Vec<PathBuf>| {
        let out = dir.path().join(format!("exec-{}.log", outs.len()));
        outs.push(out.clone());
        spawn_child(&url, "chaos", 2, 0, &out)
    };
    for _ in 0..3 {
        children.push(spawn(&mut outs));
    }
    let start = Instant::now();
    let (mut kills, mut restarts, mut unfinished_at_restart) = (0, 0, Vec::new());
    let mut round = 0;
    loop {
        // Let the workers get going (and the replacements connect) before each blow.
        std::thread::sleep(Duration::from_millis(600));
        let victim = round % children.len();
        children[victim].kill().unwrap(); // SIGKILL
        children[victim].wait().unwrap();
        children[victim] = spawn(&mut outs);
        kills += 1;
        std::thread::sleep(Duration::from_millis(600));
        unfinished_at_restart.push(unfinished(&c));
        pg.restart(if round % 2 == 0 { "fast" } else { "immediate" });
        restarts += 1;
        round += 1;
        if start.elapsed() >= Duration::from_secs(seconds) {
            break;
        }
    }
    eprintln!(
        "chaos: {kills} kills, {restarts} restarts in {:?}; unfinished tasks at each restart: \
         {unfinished_at_restart:?}",
        start.elapsed()
    );
    // The blows must have landed on work in flight, not on idle workers.
    assert!(
        unfinished_at_restart[0].unwrap_or(1) > 0,
        "work was done before the first restart: make it longer"
    );
    wait_all(&mut children, Duration::from_secs(300));
    let execs = read_executions(&outs);
    let mut per_step: HashMap<i64, Vec<i64>> = HashMap::new();
    for (step, attempt, _pid) in &execs {
        per_step.entry(*step).or_default().push(*attempt);
    }
    let (mut total_steps, mut duplicates, mut expired_total) = (0, 0, 0);
    for id in &ids {
        let v = view(&c, *id);
        assert_eq!(v.state, State::Complete, "task {id}");
        assert_history_legal(&v);
        for s in &v.steps {
            total_steps += 1;
            assert_eq!(s.state, State::Complete, "task {id} step {}", s.name);
            assert!(
                s.results.as_ref().is_some_and(|r| r["value"].is_i64()),
                "step {} lost its result",
                s.step_id
            );
            let mut attempts = per_step.get(&s.step_id).cloned().unwrap_or_default();
            attempts.sort();
            assert!(!attempts.is_empty(), "step {} never ran", s.step_id);
            // Fencing: one claim, one attempt number, one execution at most.
            let mut dedup = attempts.clone();
            dedup.dedup();
            assert_eq!(dedup, attempts, "step {}: an attempt ran twice", s.step_id);
            // Every failed attempt is an expired lease (the handler never fails), and the
            // completing attempt is the last one.
            let expired = s
                .transitions
                .iter()
                .filter(|t| t.to_state == State::Error)
                .inspect(|t| {
                    assert_eq!(
                        t.metadata["error_class"],
                        json!("LeaseExpired"),
                        "step {}: unexpected failure {:?}",
                        s.step_id,
                        t.metadata
                    )
                })
                .count();
            assert_eq!(s.attempts as usize, expired + 1, "step {}", s.step_id);
            assert_eq!(attempts.last(), Some(&s.attempts), "step {}", s.step_id);
            assert!(
                attempts.len() <= expired + 1,
                "step {}: {} executions, {expired} expired attempts: unexplained duplicate",
                s.step_id,
                attempts.len()
            );
            duplicates += attempts.len() - 1;
            expired_total += expired;
        }
    }
    assert_all_complete(&c, per_step.len(), total_steps, tasks);
    eprintln!(
        "chaos: {tasks} tasks, {total_steps} steps, {} executions by {} processes; \
         {expired_total} expired attempts, {duplicates} duplicate executions (all explained), \
         0 unexplained",
        execs.len(),
        outs.len()
    );
}

/// Terminates every other connection to the database of `url` (as a PostgreSQL restart would
/// for one database); returns how many.
fn terminate_backends(url: &str) -> i64 {
    pg_scalar(
        url,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
}

const ONE_STEP: &str = r#"
name: one
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: a, handler: signal}
"#;

// An outcome whose commit meets a lost connection is written again while the lease is valid,
// not dropped (which would leave the step to its lease's expiry and a second execution).
#[test]
fn postgres_outcome_is_written_after_its_connection_is_terminated() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let cfg = tasker::Config {
        lease_ms: 20_000,
        // No heartbeat while the handler sleeps: it would meet the dead connections first.
        lease_check_interval_ms: 10_000,
        ..fast_config()
    };
    let (c, db) = client_with(Backend::Postgres, cfg, None);
    c.register_template_yaml(ONE_STEP).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let tx = Mutex::new(tx);
    let runs = Arc::new(AtomicUsize::new(0));
    let r2 = runs.clone();
    c.register_fn("signal", move |_| {
        r2.fetch_add(1, Ordering::SeqCst);
        let _ = tx.lock().unwrap().send(());
        // The test terminates the pool's connections meanwhile.
        std::thread::sleep(Duration::from_millis(500));
        Ok(json!({"value": 1}))
    })
    .unwrap();
    let t = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("one", json!({}))
        })
        .unwrap();
    let stop = tasker::StopHandle::new();
    let worker = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || c.run_worker(&stop).unwrap())
    };
    rx.recv_timeout(Duration::from_secs(60)).unwrap();
    assert!(terminate_backends(&db.url) > 0, "no connection terminated");
    // Leave the dead pooled connections to the outcome's commit (a look from here would use
    // them up first).
    std::thread::sleep(Duration::from_millis(1500));
    let deadline = Instant::now() + Duration::from_secs(10);
    let v = loop {
        let v = view(&c, t.task_id);
        if v.state == State::Complete {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "outcome not written within 10 s (dropped until the lease expires?)"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    stop.stop();
    worker.join().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler ran again");
    assert_eq!(v.steps[0].attempts, 1);
    assert_history_legal(&v);
}

// After a server restart the pool's connections are dead; the first call on each must not
// surface that to the host (a statement the server never ran is sent again on a new one).
#[test]
fn postgres_restart_does_not_surface_stale_pooled_connections() {
    let Some(pg) = OwnPg::start() else {
        eprintln!("skipped (no PostgreSQL server of our own to restart)");
        return;
    };
    let url = pg.new_db();
    let cfg = tasker::Config {
        max_connections: 4,
        ..fast_config()
    };
    let c = tasker::Client::connect_with(&url, cfg, None).unwrap();
    c.register_template_yaml(ONE_STEP).unwrap();
    c.register_fn("signal", |_| Ok(json!({"value": 1})))
        .unwrap();
    for mode in ["fast", "immediate"] {
        // Fill the pool: four calls at once hold four connections.
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..5 {
                        c.health().unwrap();
                    }
                });
            }
        });
        pg.restart(mode);
        for i in 0..6 {
            let t = c
                .create_task(&tasker::TaskRequest {
                    namespace: Some("tests".into()),
                    ..req("one", json!({"mode": mode, "i": i}))
                })
                .unwrap_or_else(|e| panic!("create_task {i} after a {mode} restart: {e}"));
            c.task_view(t.task_id)
                .unwrap_or_else(|e| panic!("task_view {i} after a {mode} restart: {e}"));
            c.health()
                .unwrap_or_else(|e| panic!("health {i} after a {mode} restart: {e}"));
            let done = c
                .run_task(t.task_id)
                .unwrap_or_else(|e| panic!("run_task {i} after a {mode} restart: {e}"));
            assert_eq!(done.task_state, State::Complete);
        }
    }
}

//! Graceful shutdown on both backends: released claims (back to ready, the attempt not
//! counted, no failure record), a stopping worker (steps of its batch not started go back,
//! the running one finishes, or goes back once the grace period ran out), interrupts of
//! `run_task` and of workers (in a handler, idle, in a backoff wait), and `close`.

use crate::common::*;
use serde_json::json;
use std::sync::mpsc;
use std::sync::Arc;
use tasker::{Client, Config, State, StepContext, StopHandle};

const FOUR: &str = r#"
name: four
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: a, handler: gate}
  - {name: b, handler: gate}
  - {name: c, handler: gate}
  - {name: d, handler: gate}
"#;

const ONE_GATE: &str = r#"
name: one_gate
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: only, handler: gate}
"#;

fn create(c: &Client, name: &str, n: i64) -> i64 {
    c.create_task(&tasker::TaskRequest {
        namespace: Some("tests".into()),
        ..req(name, json!({ "n": n }))
    })
    .unwrap()
    .task_id
}

/// Every step of the task: (state, attempts), and the history is legal.
fn steps(c: &Client, task_id: i64) -> Vec<(State, i64)> {
    let view = c.task_view(task_id).unwrap();
    assert_history_legal(&view);
    view.steps.iter().map(|s| (s.state, s.attempts)).collect()
}

/// The (state, attempts) of every step, sorted by state name.
fn sorted_steps(c: &Client, task_id: i64) -> Vec<(State, i64)> {
    let mut states = steps(c, task_id);
    states.sort_by_key(|s| s.0.as_str());
    states
}

/// A worker running `c` on its own thread until `stop`.
fn spawn_worker(c: &Client, stop: &StopHandle) -> std::thread::JoinHandle<tasker::Result<u64>> {
    let (c, stop) = (c.clone(), stop.clone());
    std::thread::spawn(move || c.run_worker(&stop))
}

/// No step of the task has a failure record or a transition to `error`.
fn assert_no_failure(c: &Client, task_id: i64) {
    let view = c.task_view(task_id).unwrap();
    for s in &view.steps {
        assert!(
            s.transitions.iter().all(|t| t.to_state != State::Error),
            "step {} recorded a failure: {:?}",
            s.name,
            s.transitions
        );
    }
}

/// A handler that tells `started` when it runs and returns what `release` sends it.
fn gate(c: &Client) -> (mpsc::Receiver<StepContext>, mpsc::Sender<bool>) {
    let (started_tx, started) = mpsc::channel::<StepContext>();
    let (release, release_rx) = mpsc::channel::<bool>();
    let started_tx = std::sync::Mutex::new(started_tx);
    let release_rx = std::sync::Mutex::new(release_rx);
    c.register_fn("gate", move |ctx| {
        let _ = started_tx.lock().unwrap().send(ctx.clone());
        match release_rx.lock().unwrap().recv() {
            Ok(true) | Err(_) => Ok(json!({"ok": true})),
            Ok(false) => Err(tasker::StepError {
                message: "cut short".into(),
                class: "Interrupted".into(),
                retryable: true,
                ..Default::default()
            }),
        }
    })
    .unwrap();
    (started, release)
}

both_backends!(released_claims_go_back_to_ready_without_an_attempt, |b| {
    let (c, db) = client(b);
    c.register_template_yaml(FOUR).unwrap();
    let task = create(&c, "four", 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let released = rt.block_on(async {
        use tasker::testing::{ClaimScope, HeldClaim, Store};
        let store = Store::connect(&db.url, 2, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let now = tasker::Clock::now_ms(&tasker::SystemClock);
        let (claimed, _) = store.claim(ClaimScope::Any, 4, now).await.unwrap();
        assert_eq!(claimed.len(), 4);
        let held = |i: usize, token: Option<&str>| HeldClaim {
            task_id: claimed[i].task_id,
            step_id: claimed[i].step_id,
            claim_token: token.unwrap_or(&claimed[i].claim_token).into(),
        };
        // Two released, one under a token that is not its claim's (refused: still running).
        let rec = store
            .release_claims(
                &[held(0, None), held(1, None), held(2, Some("other"))],
                now + 1,
            )
            .await
            .unwrap();
        // A second release of the same claims finds them gone.
        let again = store
            .release_claims(&[held(0, None), held(1, None)], now + 2)
            .await
            .unwrap();
        assert!(again.is_empty(), "{again:?}");
        rec
    });
    assert_eq!(released.len(), 2);
    assert!(released
        .iter()
        .all(|r| r.from == Some(State::InProgress) && r.to == State::Pending));
    assert_eq!(released[0].metadata["reason"], "released");
    assert_eq!(
        sorted_steps(&c, task),
        vec![
            (State::InProgress, 1),
            (State::InProgress, 1),
            (State::Pending, 0),
            (State::Pending, 0)
        ]
    );
    // The released steps are ready again: a new claim takes exactly them.
    let (started, release) = gate(&c);
    drop((started, release));
    let mut ran = 0;
    loop {
        match c.run_once().unwrap() {
            0 => break,
            n => ran += n,
        }
    }
    assert_eq!(ran, 2);
    let view = c.task_view(task).unwrap();
    let done: Vec<_> = view
        .steps
        .iter()
        .filter(|s| s.state == State::Complete)
        .map(|s| s.attempts)
        .collect();
    assert_eq!(
        done,
        vec![1, 1],
        "each released step ran once, as attempt 1"
    );
});

both_backends!(
    a_stopping_worker_finishes_its_step_and_gives_back_the_rest,
    |b| {
        let config = Config {
            claim_batch: 4,
            adaptive_claim: false,
            ..fast_config()
        };
        let (c, _db) = client_with(b, config, None);
        c.register_template_yaml(FOUR).unwrap();
        let (started, release) = gate(&c);
        let task = create(&c, "four", 2);
        let stop = StopHandle::new();
        let worker = spawn_worker(&c, &stop);
        // The worker claimed the four steps and runs the first; stop it there.
        started.recv().unwrap();
        stop.stop();
        release.send(true).unwrap();
        assert_eq!(worker.join().unwrap().unwrap(), 1);
        assert_eq!(
            sorted_steps(&c, task),
            vec![
                (State::Complete, 1),
                (State::Pending, 0),
                (State::Pending, 0),
                (State::Pending, 0)
            ]
        );
        assert_no_failure(&c, task);
    }
);

both_backends!(
    past_the_grace_period_the_running_step_goes_back_and_its_result_is_stale,
    |b| {
        let config = Config {
            stop_grace_ms: 0,
            ..fast_config()
        };
        let (c, _db) = client_with(b, config, None);
        c.register_template_yaml(ONE_GATE).unwrap();
        // The handler runs until its claim is gone (its heartbeat says so), then reports success.
        let (started_tx, started) = mpsc::channel::<()>();
        let started_tx = std::sync::Mutex::new(started_tx);
        let weak = c.downgrade();
        c.register_fn("gate", move |ctx| {
            let _ = started_tx.lock().unwrap().send(());
            let c = weak.upgrade().unwrap();
            while c.heartbeat(ctx.step.step_id, &ctx.claim_token).is_ok() {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Ok(json!({"late": true}))
        })
        .unwrap();
        let task = create(&c, "one_gate", 3);
        let stop = StopHandle::new();
        let worker = spawn_worker(&c, &stop);
        started.recv().unwrap();
        stop.stop();
        worker.join().unwrap().unwrap();
        assert_eq!(steps(&c, task), vec![(State::Pending, 0)]);
        assert_no_failure(&c, task);
    }
);

both_backends!(
    an_interrupted_run_task_gives_back_its_step_without_a_failure,
    |b| {
        let (c, _db) = client(b);
        c.register_template_yaml(ONE_GATE).unwrap();
        let (started, release) = gate(&c);
        let task = create(&c, "one_gate", 4);
        let run = {
            let c = c.clone();
            std::thread::spawn(move || c.run_task(task))
        };
        started.recv().unwrap();
        c.interrupt();
        // The handler was cut short and says so (as a wrapper's interrupted handler does).
        release.send(false).unwrap();
        assert!(matches!(
            run.join().unwrap(),
            Err(tasker::Error::Interrupted)
        ));
        assert_eq!(steps(&c, task), vec![(State::Pending, 0)]);
        assert_no_failure(&c, task);
        // The interrupt ended that call only: the next run completes the task.
        let (started2, release2) = (started, release);
        release2.send(true).unwrap();
        assert_eq!(c.run_task(task).unwrap().task_state, State::Complete);
        drop(started2);
        assert_eq!(steps(&c, task), vec![(State::Complete, 1)]);
    }
);

both_backends!(interrupts_wake_idle_workers_and_backoff_waits, |b| {
    // Waits that only an interrupt can end: an hour's poll, an hour's backoff.
    let config = Config {
        poll_interval_ms: 3_600_000,
        backoff: tasker::BackoffConfig {
            base_ms: 3_600_000,
            max_ms: 3_600_000,
            ..Default::default()
        },
        ..fast_config()
    };
    let (c, _db) = client_with(b, config, None);
    c.register_template_yaml(ONE_GATE).unwrap();
    let stop = StopHandle::new();
    let idle = spawn_worker(&c, &stop);
    // A stop wakes it too (second worker).
    let stop2 = StopHandle::new();
    let idle2 = spawn_worker(&c, &stop2);
    stop2.stop();
    assert_eq!(idle2.join().unwrap().unwrap(), 0);
    // An interrupt ends the calls running when it comes: repeated until the worker's call has
    // begun (it then waits for an hour unless the interrupt wakes it).
    while !idle.is_finished() {
        c.interrupt();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(matches!(
        idle.join().unwrap(),
        Err(tasker::Error::Interrupted)
    ));
    // A run waiting out a backoff of an hour.
    let (started, release) = gate(&c);
    let task = create(&c, "one_gate", 5);
    release.send(false).unwrap();
    let run = {
        let c = c.clone();
        std::thread::spawn(move || c.run_task(task))
    };
    started.recv().unwrap();
    // The failed attempt is written before the wait begins; interrupt once it is.
    let state = |c: &Client| c.task_view(task).unwrap().steps[0].state;
    while state(&c) != State::Error {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    c.interrupt();
    assert!(matches!(
        run.join().unwrap(),
        Err(tasker::Error::Interrupted)
    ));
    assert_eq!(steps(&c, task), vec![(State::Error, 1)]);
});

both_backends!(close_refuses_new_calls_stops_workers_and_waits, |b| {
    let (c, _db) = client(b);
    c.register_template_yaml(ONE_GATE).unwrap();
    let (started, release) = gate(&c);
    let task = create(&c, "one_gate", 6);
    let events = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let events = events.clone();
        c.subscribe_fn(&["step.*"], move |_| {
            events.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    }
    let stop = StopHandle::new();
    let worker = spawn_worker(&c, &stop);
    started.recv().unwrap();
    let closer = {
        let c = c.clone();
        std::thread::spawn(move || c.close())
    };
    // The closer waits for the running worker, which it stopped; the step finishes.
    while !c.is_closed() {
        std::thread::yield_now();
    }
    assert!(matches!(c.health(), Err(tasker::Error::Closed)));
    release.send(true).unwrap();
    closer.join().unwrap();
    assert_eq!(worker.join().unwrap().unwrap(), 1);
    assert!(stop.is_stopped());
    assert!(matches!(c.run_task(task), Err(tasker::Error::Closed)));
    assert!(matches!(
        c.run_worker(&StopHandle::new()),
        Err(tasker::Error::Closed)
    ));
    c.close();
    assert!(c.is_closed(), "close is idempotent");
    let seen = events.load(std::sync::atomic::Ordering::SeqCst);
    assert!(seen > 0);
    let _ = c.create_task(&req("one_gate", json!({})));
    assert_eq!(
        events.load(std::sync::atomic::Ordering::SeqCst),
        seen,
        "subscriptions were dropped"
    );
});

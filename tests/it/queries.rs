//! The query API: `wait_task` (in-process, across processes, interrupted, timed out, blocked).

use crate::common::*;
use serde_json::json;
use std::time::Duration;
use tasker::{Client, Error, State};

const CHILD_ENV: &str = "TASKER_TEST_WAIT_CHILD";

/// Long enough that a wait which only polled would time out first: these waits must be woken
/// by an event (a local commit, or a NOTIFY from another process).
const NO_POLL_MS: u64 = 3_600_000;
const LONG: Duration = Duration::from_secs(300);

/// A request for a template of the suite (namespace `tests`).
fn treq(name: &str, context: serde_json::Value) -> tasker::TaskRequest {
    tasker::TaskRequest {
        namespace: Some("tests".into()),
        ..req(name, context)
    }
}

/// Registers `yaml` and creates a task of its template `name`; returns the task id.
fn new_task(c: &Client, yaml: &str, name: &str) -> i64 {
    c.register_template_yaml(yaml).unwrap();
    c.create_task(&treq(name, json!({"n": 3}))).unwrap().task_id
}

/// A client that (nearly) never polls.
fn event_only_client(url: &str) -> Client {
    Client::connect_with(
        url,
        tasker::Config {
            poll_interval_ms: NO_POLL_MS,
            ..fast_config()
        },
        None,
    )
    .expect("connect")
}

/// Entry point of the child process that runs a task to the end (ignored unless spawned).
#[test]
#[ignore]
fn wait_child_entry() {
    if std::env::var(CHILD_ENV).is_err() {
        return;
    }
    let url = std::env::var("TASKER_CHILD_URL").expect("url");
    let task: i64 = std::env::var("TASKER_CHILD_TASK")
        .expect("task")
        .parse()
        .expect("a task id");
    let c = Client::connect_with(&url, fast_config(), None).expect("connect");
    register_handlers(&c, &ExecLog::default());
    let ctx = c.run_task(task).expect("run_task");
    assert_eq!(ctx.task_state, State::Complete);
}

/// A client on `db` that never polls on PostgreSQL (NOTIFY must wake it); SQLite has no
/// cross-process wakeup, so there it polls.
fn cross_process_client(b: Backend, url: &str) -> Client {
    if b == Backend::Postgres {
        event_only_client(url)
    } else {
        Client::connect_with(url, fast_config(), None).expect("connect")
    }
}

both_backends!(wait_wakes_on_a_local_commit, |b| {
    let db = new_db(b);
    let c = event_only_client(&db.url);
    register_handlers(&c, &ExecLog::default());
    let id = new_task(&c, LINEAR, "linear");
    let waiter = {
        let c = c.clone();
        std::thread::spawn(move || c.wait_task(id, LONG).unwrap())
    };
    c.run_task(id).unwrap();
    let w = waiter.join().unwrap();
    assert!(!w.timed_out, "the commit must wake the wait");
    assert_eq!(w.task.state, State::Complete);
    assert_eq!(w.task.execution.completed_steps, 4);
});

both_backends!(wait_across_two_processes, |b| {
    let (c, db) = client(b);
    let id = new_task(&c, DIAMOND, "diamond");
    let waiter = cross_process_client(b, &db.url);
    let mut child = spawn_test_entry(
        "queries::wait_child_entry",
        &[
            (CHILD_ENV, "1".into()),
            ("TASKER_CHILD_URL", db.url.clone()),
            ("TASKER_CHILD_TASK", id.to_string()),
        ],
    );
    let w = waiter.wait_task(id, LONG).unwrap();
    assert!(child.wait().unwrap().success(), "the child failed");
    assert!(
        !w.timed_out,
        "the other process's commit must wake the wait"
    );
    assert_eq!(w.task.state, State::Complete);
    assert_eq!(w.task.execution.completed_steps, 4);
});

both_backends!(wait_times_out_with_the_current_view, |b| {
    let (c, _db) = client(b);
    let id = new_task(&c, LINEAR, "linear");
    let w = c.wait_task(id, Duration::from_millis(30)).unwrap();
    assert!(w.timed_out);
    assert_eq!(w.task.task_id, id);
    assert_eq!(w.task.state, State::Pending);
    // A zero timeout looks once.
    assert!(c.wait_task(id, Duration::ZERO).unwrap().timed_out);
});

both_backends!(wait_returns_a_blocked_task, |b| {
    let (c, _db) = client(b);
    register_handlers(&c, &ExecLog::default());
    let id = new_task(
        &c,
        "name: doomed\nnamespace_name: tests\nversion: 1.0.0\nstep_templates:\n  - {name: a, handler: permanent_fail}\n",
        "doomed",
    );
    c.run_task(id).unwrap();
    let w = c.wait_task(id, LONG).unwrap();
    assert!(!w.timed_out);
    assert_eq!(w.task.state, State::Error);
    assert_eq!(
        w.task.execution.execution_status,
        tasker::ExecutionStatus::BlockedByFailures
    );
});

both_backends!(wait_is_interruptible, |b| {
    let db = new_db(b);
    let c = event_only_client(&db.url);
    let id = new_task(&c, LINEAR, "linear");
    let waiter = {
        let c = c.clone();
        std::thread::spawn(move || c.wait_task(id, LONG))
    };
    // An interrupt ends only the calls running when it is made: repeat until the wait ended.
    while !waiter.is_finished() {
        c.interrupt();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(matches!(waiter.join().unwrap(), Err(Error::Interrupted)));
});

both_backends!(wait_on_a_missing_task_fails, |b| {
    let (c, _db) = client(b);
    assert!(matches!(
        c.wait_task(999_999, LONG),
        Err(Error::TaskNotFound(999_999))
    ));
});

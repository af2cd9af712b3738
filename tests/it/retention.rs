//! The retention setting on both backends: a pass purges the complete and cancelled tasks
//! older than their state's retention and keeps recent, unfinished and failed ones; workers
//! apply it by themselves while they go on claiming; a bad setting is refused.

use crate::common::*;
use serde_json::json;
use tasker::{Client, Config, Error, ManualClock, RetentionConfig, StepError, TaskRequest};

fn retention(complete_ms: Option<u64>, cancelled_ms: Option<u64>, interval_ms: u64) -> Config {
    Config {
        retention: Some(RetentionConfig {
            complete_ms,
            cancelled_ms,
            interval_ms,
        }),
        ..fast_config()
    }
}

fn diamond(c: &Client, n: i64) -> i64 {
    let r = TaskRequest {
        namespace: Some("tests".into()),
        ..req("diamond", json!({ "n": n }))
    };
    c.create_task(&r).unwrap().task_id
}

fn exists(c: &Client, task_id: i64) -> bool {
    match c.task_view(task_id) {
        Ok(_) => true,
        Err(Error::TaskNotFound(_)) => false,
        Err(e) => panic!("{e}"),
    }
}

both_backends!(a_pass_purges_old_finished_tasks_per_state, |b| {
    let clock = ManualClock::new(1_000_000);
    let config = retention(Some(60_000), Some(10_000), 1_000);
    let (c, _db) = client_with(b, config, Some(clock.clone()));
    c.register_template_yaml(DIAMOND).unwrap();
    register_handlers(&c, &ExecLog::default());
    c.register_fn("doomed", |_| Err(StepError::permanent("no")))
        .unwrap();
    c.register_template_yaml("name: doomed\nstep_templates:\n  - {name: x, handler: doomed}\n")
        .unwrap();
    let (done_old, cancelled_old, pending) = (diamond(&c, 1), diamond(&c, 2), diamond(&c, 3));
    c.run_task(done_old).unwrap();
    c.cancel_task(cancelled_old).unwrap();
    let failed = c.create_task(&req("doomed", json!({}))).unwrap().task_id;
    c.run_task(failed).unwrap();
    assert_eq!(c.apply_retention().unwrap(), 0);

    clock.advance_ms(30_000);
    let (done_recent, cancelled_recent) = (diamond(&c, 4), diamond(&c, 5));
    c.run_task(done_recent).unwrap();
    c.cancel_task(cancelled_recent).unwrap();
    // 30 s on: past the cancelled retention (10 s), within the complete one (60 s).
    assert_eq!(c.apply_retention().unwrap(), 1);
    assert!(!exists(&c, cancelled_old));

    clock.advance_ms(40_000);
    assert_eq!(c.apply_retention().unwrap(), 2);
    for gone in [done_old, cancelled_recent] {
        assert!(!exists(&c, gone));
    }
    // Unfinished, failed and recently completed tasks stay.
    for kept in [pending, failed, done_recent] {
        assert!(exists(&c, kept));
    }
    assert_eq!(c.apply_retention().unwrap(), 0);
});

both_backends!(workers_apply_the_retention_while_they_claim, |b| {
    // Complete tasks go as soon as the next pass (every 10 ms) sees them.
    let (c, _db) = client_with(b, retention(Some(0), None, 10), None);
    c.register_template_yaml(DIAMOND).unwrap();
    let log = ExecLog::default();
    register_handlers(&c, &log);
    let stop = tasker::StopHandle::new();
    let worker = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || c.run_worker(&stop).unwrap())
    };
    let tasks: Vec<i64> = (0..20).map(|n| diamond(&c, n)).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while tasks.iter().any(|t| exists(&c, *t)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop.stop();
    worker.join().unwrap();
    // Every task ran to completion (4 steps each) through the worker, then was purged by it.
    assert!(tasks.iter().all(|t| !exists(&c, *t)), "tasks left");
    assert_eq!(log.len(), 4 * tasks.len());
});

both_backends!(a_bad_retention_is_refused, |b| {
    let db = new_db(b);
    for config in [
        retention(Some(1), None, 0),
        retention(Some(tasker::MAX_DEADLINE_MS + 1), None, 1_000),
    ] {
        let r = Client::connect_with(&db.url, config, None);
        assert!(matches!(r, Err(Error::Config(_))), "{r:?}");
    }
});

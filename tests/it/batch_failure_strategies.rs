//! Batch failure strategies (docs/DYNAMIC_WORKFLOWS.md, "Failure strategy"): one batch of five
//! fails permanently under `fail_fast`, `continue_on_failure` and `isolate`; the task's state,
//! what the convergence step receives, the counts, the events and the history follow the
//! strategy, and a tolerated failure stays final.

use crate::common::*;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tasker::{Client, Error, ExecutionStatus, Health, State, StepContext, StepError};

/// `split` makes five batches `{"k": 1..=5}`; `work` fails batch 3 permanently while `broken`
/// holds; `total` lists the batches that succeeded and the ones that failed (tolerated).
fn setup(b: Backend, failure: &str) -> (Client, TestDb, Arc<AtomicBool>, i64) {
    let (c, db) = client(b);
    let broken = Arc::new(AtomicBool::new(true));
    c.register_fn("split", |_: &StepContext| {
        Ok(json!({"batches": (1..=5).map(|k| json!({"k": k})).collect::<Vec<_>>()}))
    })
    .unwrap();
    let br = broken.clone();
    c.register_fn("work", move |ctx: &StepContext| {
        let k = ctx.step.inputs["k"].as_i64().unwrap_or(0);
        if k == 3 && br.load(Ordering::SeqCst) {
            return Err(StepError::permanent("bad batch").with_class("BadBatch"));
        }
        Ok(json!({ "k": k }))
    })
    .unwrap();
    c.register_fn("total", |ctx: &StepContext| {
        let (mut ok, mut failed) = (Vec::new(), Vec::new());
        let mut names: Vec<&String> = ctx.dependency_results.keys().collect();
        names.sort();
        for name in names.into_iter().filter(|n| n.starts_with("work_")) {
            let r = &ctx.dependency_results[name];
            if r["tolerated"] == json!(true) {
                failed.push(json!({"batch": name, "class": r["error"]["class"]}));
            } else {
                ok.push(r["k"].clone());
            }
        }
        Ok(json!({"ok": ok, "failed": failed}))
    })
    .unwrap();
    c.register_template_yaml(&format!(
        "name: strategies\nnamespace_name: tests\nversion: 1.0.0\nstep_templates:\n\
         \x20 - {{name: split, handler: split, type: batchable, batch: {{worker: work, max_batches: 10, failure: {failure}}}}}\n\
         \x20 - {{name: work, handler: work, type: batch_worker, depends_on_step: split}}\n\
         \x20 - {{name: total, handler: total, type: convergence, depends_on_steps: [work]}}\n"
    ))
    .unwrap();
    let mut r = req("strategies", json!({}));
    r.namespace = Some("tests".into());
    let task = c.create_task(&r).unwrap().task_id;
    (c, db, broken, task)
}

/// The (event, step, payload) of every step.failed and task event, in order.
fn record_events(c: &Client) -> Arc<Mutex<Vec<(String, Option<String>, Value)>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    c.subscribe_fn(&["step.failed", "task.*"], move |ev| {
        e.lock()
            .unwrap()
            .push((ev.name.clone(), ev.step_name.clone(), ev.payload.clone()));
    });
    events
}

fn step_id(c: &Client, task: i64, name: &str) -> i64 {
    c.task_view(task).unwrap().step(name).unwrap().step_id
}

both_backends!(fail_fast_blocks_the_task, |b| {
    let (c, _db, _, task) = setup(b, "fail_fast");
    let ctx = c.run_task(task).unwrap();
    assert_eq!(ctx.task_state, State::Error);
    let view = c.task_view(task).unwrap();
    assert_eq!(view.step("work_003").unwrap().state, State::Error);
    assert_eq!(view.step("total").unwrap().state, State::Pending);
    assert_eq!(ctx.permanently_blocked_steps, 1);
    assert_history_legal(&view);
});

both_backends!(continue_on_failure_completes_with_the_failure_listed, |b| {
    let (c, _db, _, task) = setup(b, "continue_on_failure");
    let events = record_events(&c);
    let ctx = c.run_task(task).unwrap();
    assert_eq!(ctx.task_state, State::Complete);
    assert_eq!(
        (ctx.total_steps, ctx.completed_steps, ctx.failed_steps),
        (7, 6, 1)
    );
    assert_eq!(ctx.permanently_blocked_steps, 0, "tolerated, not blocking");
    assert_eq!(ctx.completion_percentage, 100.0);
    assert_eq!(ctx.execution_status, ExecutionStatus::AllComplete);
    assert_eq!(ctx.health, Health::Healthy);
    let view = c.task_view(task).unwrap();
    let failed = view.step("work_003").unwrap();
    assert_eq!(failed.state, State::Error, "the failure keeps its state");
    let results = failed.results.clone().unwrap();
    assert_eq!(results["tolerated"], json!(true));
    assert_eq!(results["error"]["class"], json!("BadBatch"));
    assert_eq!(
        view.step("total").unwrap().results.clone().unwrap(),
        json!({"ok": [1, 2, 4, 5], "failed": [{"batch": "work_003", "class": "BadBatch"}]})
    );
    assert_history_legal(&view);
    let last = failed.transitions.last().unwrap();
    assert_eq!(
        last.metadata["tolerated"],
        json!(true),
        "explicit in history"
    );
    assert_eq!(last.metadata["batch_failure"], json!("continue_on_failure"));
    let seen = events.lock().unwrap().clone();
    let fail = seen
        .iter()
        .find(|e| e.0 == "step.failed" && e.1.as_deref() == Some("work_003"))
        .expect("step.failed");
    assert_eq!(fail.2["tolerated"], json!(true));
    assert!(seen.iter().any(|e| e.0 == "task.completed"));
    assert!(!seen.iter().any(|e| e.0 == "task.failed"));
    // Final: the task already counted it as finished.
    let id = failed.step_id;
    for r in [c.retry_step(id), c.resolve_step(id, json!({}))] {
        assert!(matches!(r, Err(Error::IllegalTransition { .. })), "{r:?}");
    }
});

both_backends!(a_tolerated_failure_survives_cancellation, |b| {
    let (c, _db, _, task) = setup(b, "continue_on_failure");
    // Only split and the batches run (one by one, as a host queue delivers them): the
    // convergence is left pending.
    c.handle_step(step_id(&c, task, "split")).unwrap();
    for k in 1..=5 {
        c.handle_step(step_id(&c, task, &format!("work_00{k}")))
            .unwrap();
    }
    assert_eq!(
        c.task_view(task).unwrap().step("total").unwrap().state,
        State::Pending
    );
    assert!(c.cancel_task(task).unwrap());
    let view = c.task_view(task).unwrap();
    assert_eq!(view.step("work_003").unwrap().state, State::Error);
    assert_eq!(view.step("total").unwrap().state, State::Cancelled);
    assert_history_legal(&view);
});

both_backends!(isolate_parks_the_batch_until_it_is_retried, |b| {
    let (c, _db, broken, task) = setup(b, "isolate");
    let events = record_events(&c);
    let ctx = c.run_task(task).unwrap();
    assert_eq!(ctx.task_state, State::InProgress, "the task is not failed");
    assert_eq!(ctx.execution_status, ExecutionStatus::BlockedByFailures);
    assert_eq!(ctx.health, Health::Blocked);
    assert_eq!(ctx.permanently_blocked_steps, 1);
    assert_eq!(
        (ctx.total_steps, ctx.completed_steps, ctx.failed_steps),
        (7, 5, 1)
    );
    assert_eq!(ctx.completion_percentage, 71.43);
    let view = c.task_view(task).unwrap();
    for k in [1, 2, 4, 5] {
        let s = view.step(&format!("work_00{k}")).unwrap();
        assert_eq!(s.state, State::Complete, "the other batches ran");
    }
    assert_eq!(
        view.step("total").unwrap().state,
        State::Pending,
        "waits for the parked batch"
    );
    let parked = view.step("work_003").unwrap();
    assert_eq!(
        parked.transitions.last().unwrap().metadata["isolated"],
        json!(true)
    );
    assert_history_legal(&view);
    assert!(!events.lock().unwrap().iter().any(|e| e.0 == "task.failed"));
    // Fixed and retried: the convergence runs with every batch.
    broken.store(false, Ordering::SeqCst);
    assert!(c.retry_step(parked.step_id).unwrap());
    let ctx = c.run_task(task).unwrap();
    assert_eq!(ctx.task_state, State::Complete);
    assert_eq!(ctx.completion_percentage, 100.0);
    let view = c.task_view(task).unwrap();
    assert_eq!(
        view.step("total").unwrap().results.clone().unwrap(),
        json!({"ok": [1, 2, 3, 4, 5], "failed": []})
    );
    assert_history_legal(&view);
});

both_backends!(isolate_a_resolved_batch_releases_the_convergence, |b| {
    let (c, _db, _, task) = setup(b, "isolate");
    c.run_task(task).unwrap();
    let parked = step_id(&c, task, "work_003");
    assert!(c.resolve_step(parked, json!({"k": 30})).unwrap());
    let ctx = c.run_task(task).unwrap();
    assert_eq!(ctx.task_state, State::Complete);
    let view = c.task_view(task).unwrap();
    assert_eq!(
        view.step("total").unwrap().results.clone().unwrap(),
        json!({"ok": [1, 2, 30, 4, 5], "failed": []})
    );
    assert_history_legal(&view);
});

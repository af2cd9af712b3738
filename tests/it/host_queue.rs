//! Host-queue mode: a recording injector, tasks completed by handling exactly the enqueued ids.

use crate::common::*;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tasker::{QueueInjector, State, StepOutcome};

#[derive(Default)]
struct Recorder {
    log: Mutex<Vec<(String, i64, u64)>>,
    queue: Mutex<VecDeque<(String, i64, u64)>>,
}

impl QueueInjector for Recorder {
    fn enqueue_task(&self, task_id: i64, delay: Duration) -> Result<(), String> {
        let e = ("task".to_string(), task_id, delay.as_millis() as u64);
        self.log.lock().unwrap().push(e.clone());
        self.queue.lock().unwrap().push_back(e);
        Ok(())
    }
    fn enqueue_step(&self, step_id: i64, delay: Duration) -> Result<(), String> {
        let e = ("step".to_string(), step_id, delay.as_millis() as u64);
        self.log.lock().unwrap().push(e.clone());
        self.queue.lock().unwrap().push_back(e);
        Ok(())
    }
}

both_backends!(host_queue_runs_a_task_by_enqueued_ids, |b| {
    let (c, _db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(DIAMOND).unwrap();
    let q = Arc::new(Recorder::default());
    c.set_queue_injector(Some(q.clone()));
    let t = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("diamond", json!({"n": 2}))
        })
        .unwrap();
    let view = c.task_view(t.task_id).unwrap();
    let id = |n: &str| view.step(n).unwrap().step_id;
    assert_eq!(
        *q.log.lock().unwrap(),
        vec![("step".to_string(), id("a"), 0)]
    );
    // Work the queue like a host job system: only what was enqueued is handled. Duplicate
    // deliveries (a task look-up re-enqueues what is ready) are skipped harmlessly.
    let mut handled = Vec::new();
    let mut completed = 0;
    loop {
        let next = q.queue.lock().unwrap().pop_front();
        let Some((kind, id, _delay)) = next else {
            break;
        };
        if kind == "step" {
            handled.push(id);
            match c.handle_step(id).unwrap() {
                StepOutcome::Completed { .. } => completed += 1,
                StepOutcome::Skipped { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        } else {
            c.handle_task(id).unwrap();
        }
    }
    let v = c.task_view(t.task_id).unwrap();
    assert_eq!(v.state, State::Complete);
    assert_eq!(completed, 4);
    handled.sort();
    handled.dedup();
    let mut all: Vec<i64> = v.steps.iter().map(|s| s.step_id).collect();
    all.sort();
    assert_eq!(handled, all, "every step handled by its enqueued id");
    // b completing while c was still ready: the task was enqueued for a look with delay 0.
    let log_entries = q.log.lock().unwrap().clone();
    assert!(
        log_entries.contains(&("task".to_string(), t.task_id, 0)),
        "{log_entries:?}"
    );
    assert_eq!(log.len(), 4);
    // A duplicate delivery of a finished step is a harmless no-op.
    let again = c.handle_step(id("d")).unwrap();
    assert!(
        matches!(again, StepOutcome::Skipped { ref reason, .. } if reason == "step is complete"),
        "{again:?}"
    );
    assert_eq!(log.len(), 4);
    assert_eq!(c.task_view(t.task_id).unwrap(), v);
});

both_backends!(host_queue_retry_delays_and_early_delivery, |b| {
    let clock = tasker::ManualClock::new(1_000_000);
    let (c, _db) = client_with(b, tasker::Config::default(), Some(clock.clone()));
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml("name: f\nstep_templates:\n  - {name: s, handler: flaky, handler_config: {fail_times: 2, retry_after: 3}}\n  - {name: t, handler: square, depends_on_step: s}\n").unwrap();
    let q = Arc::new(Recorder::default());
    c.set_queue_injector(Some(q.clone()));
    let task = c.create_task(&req("f", json!({"n": 1}))).unwrap();
    let v = c.task_view(task.task_id).unwrap();
    let s = v.step("s").unwrap().step_id;
    let t = v.step("t").unwrap().step_id;
    // A child delivered before its parent is done is skipped.
    assert!(matches!(
        c.handle_step(t).unwrap(),
        StepOutcome::Skipped { .. }
    ));
    let out = c.handle_step(s).unwrap();
    assert!(
        matches!(
            out,
            StepOutcome::Failed {
                will_retry: true,
                retry_delay_ms: Some(3000),
                ..
            }
        ),
        "{out:?}"
    );
    // Early delivery: not due yet, re-enqueued with the remaining delay.
    clock.advance_ms(1000);
    let early = c.handle_step(s).unwrap();
    assert!(matches!(early, StepOutcome::Skipped { .. }), "{early:?}");
    clock.advance_ms(2000);
    assert!(matches!(
        c.handle_step(s).unwrap(),
        StepOutcome::Failed {
            retry_delay_ms: Some(3000),
            ..
        }
    ));
    clock.advance_ms(3000);
    assert!(matches!(
        c.handle_step(s).unwrap(),
        StepOutcome::Completed {
            task_completed: false,
            ..
        }
    ));
    assert!(matches!(
        c.handle_step(t).unwrap(),
        StepOutcome::Completed {
            task_completed: true,
            ..
        }
    ));
    let entries: Vec<(String, i64, u64)> = q.log.lock().unwrap().clone();
    let st = |id: i64, d: u64| ("step".to_string(), id, d);
    assert_eq!(
        entries,
        vec![st(s, 0), st(s, 3000), st(s, 2000), st(s, 3000), st(t, 0)]
    );
});

both_backends!(host_queue_reenqueue_delay_follows_backoff, |b| {
    // A task whose only runnable step is backing off: looked at again after backoff + 5 s.
    let clock = tasker::ManualClock::new(1_000_000);
    let (c, _db) = client_with(b, tasker::Config::default(), Some(clock.clone()));
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml("name: f\nstep_templates:\n  - {name: s, handler: flaky, handler_config: {fail_times: 1, retry_after: 20}}\n").unwrap();
    let q = Arc::new(Recorder::default());
    c.set_queue_injector(Some(q.clone()));
    let task = c.create_task(&req("f", json!({}))).unwrap();
    let s = c
        .task_view(task.task_id)
        .unwrap()
        .step("s")
        .unwrap()
        .step_id;
    c.handle_step(s).unwrap();
    q.log.lock().unwrap().clear();
    c.handle_task(task.task_id).unwrap();
    assert_eq!(
        *q.log.lock().unwrap(),
        vec![("task".to_string(), task.task_id, 25_000)]
    );
});

both_backends!(
    handle_step_of_a_task_cancelled_while_running_is_discarded,
    |b| {
        let (c, _db) = client(b);
        c.register_template_yaml(
        "name: cancel_me\nnamespace_name: tests\nstep_templates:\n  - {name: s, handler: canceller}\n",
    )
    .unwrap();
        let t = c
            .create_task(&tasker::TaskRequest {
                namespace: Some("tests".into()),
                ..req("cancel_me", json!({"n": 1}))
            })
            .unwrap();
        let c2 = c.clone();
        let task_id = t.task_id;
        c.register_fn("canceller", move |_ctx| {
            assert!(c2.cancel_task(task_id).unwrap());
            Ok(json!({"value": 1}))
        })
        .unwrap();
        let view = c.task_view(t.task_id).unwrap();
        let s = view.step("s").unwrap().step_id;
        // A success arriving after the cancel: ABI.md promises `discarded`.
        assert_eq!(
            c.handle_step(s).unwrap(),
            StepOutcome::Discarded {
                step_id: s,
                task_id
            }
        );
        let v = c.task_view(t.task_id).unwrap();
        assert_eq!(v.state, State::Cancelled);
        assert_eq!(v.step("s").unwrap().results, None, "result discarded");
    }
);

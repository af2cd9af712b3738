//! Task deadlines on both backends: past its deadline an unfinished task fails (`error`,
//! metadata reason `deadline`, class `Deadline`), its unfinished steps are cancelled (a running
//! handler sees `Cancelled`, later steps never run), whether the workers' scan
//! (`enforce_deadlines`) or the inline run finds it; each deadline is checked once; the request
//! overrides the template; out-of-range deadlines are refused.

use crate::common::*;
use serde_json::json;
use std::sync::{Arc, Mutex};
use tasker::{Client, Error, ManualClock, State, StepError, StopReason, TaskRequest};

const T0: i64 = 1_000_000;

/// What `a`'s handler saw: its stop reason after the scan it ran.
type Seen = Arc<Mutex<Vec<Option<StopReason>>>>;

/// `a` advances the clock by `context.run_ms`, then, when `context.scan` is set, runs the
/// deadline scan from another thread (as a worker would) and records its stop reason; `b`
/// records that it ran.
fn setup(c: &Client, clock: &Arc<ManualClock>, template_deadline: &str) -> (ExecLog, Seen) {
    let log = ExecLog::default();
    let seen: Seen = Arc::default();
    let (l, s, clock, weak) = (log.clone(), seen.clone(), clock.clone(), c.downgrade());
    c.register_fn("advance", move |ctx| {
        l.record(ctx);
        let c = weak.upgrade().ok_or_else(|| StepError::permanent("gone"))?;
        clock.advance_ms(ctx.task.context["run_ms"].as_i64().unwrap_or(0));
        if ctx.task.context["scan"] == json!(true) {
            let c2 = c.clone();
            std::thread::spawn(move || c2.enforce_deadlines().unwrap())
                .join()
                .unwrap();
            s.lock()
                .unwrap()
                .push(c.stop_reason(ctx.step.step_id, &ctx.claim_token).unwrap());
        }
        Ok(json!({"value": 1}))
    })
    .unwrap();
    let l = log.clone();
    c.register_fn("later", move |ctx| {
        l.record(ctx);
        Ok(json!({"value": 2}))
    })
    .unwrap();
    c.register_template_yaml(&format!(
        "name: dl\n{template_deadline}step_templates:\n  - {{name: a, handler: advance}}\n  - {{name: b, handler: later, depends_on_step: a}}\n"
    ))
    .unwrap();
    (log, seen)
}

fn with_deadline(context: serde_json::Value, deadline_ms: Option<u64>) -> TaskRequest {
    TaskRequest {
        deadline_ms,
        ..req("dl", context)
    }
}

/// The task failed by its deadline: `error`, the transition's metadata, every unfinished step
/// cancelled with reason `task_deadline`.
fn assert_failed_by_deadline(c: &Client, task_id: i64, deadline_at: i64) {
    let v = c.task_view(task_id).unwrap();
    assert_history_legal(&v);
    assert_eq!(v.state, State::Error);
    let last = v.transitions.last().unwrap();
    assert_eq!(last.to_state, State::Error);
    assert_eq!(
        last.metadata,
        json!({"reason": "deadline", "error_class": "Deadline", "deadline_at": deadline_at})
    );
    let b = v.step("b").unwrap();
    assert_eq!(b.state, State::Cancelled);
    assert_eq!(
        b.transitions.last().unwrap().metadata["reason"],
        json!("task_deadline")
    );
}

both_backends!(
    a_running_handler_sees_the_deadline_and_later_steps_never_run,
    |b| {
        let clock = ManualClock::new(T0);
        let (c, _db) = client_with(b, fast_config(), Some(clock.clone()));
        let (log, seen) = setup(&c, &clock, "");
        let t = c
            .create_task(&with_deadline(
                json!({"run_ms": 1500, "scan": true}),
                Some(1000),
            ))
            .unwrap()
            .task_id;
        c.run_once().unwrap();
        c.run_once().unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![Some(StopReason::Cancelled)]);
        assert_failed_by_deadline(&c, t, T0 + 1000);
        let v = c.task_view(t).unwrap();
        let a = v.step("a").unwrap();
        // The handler saw the scan fail its task; its outcome was not recorded.
        assert_eq!(a.state, State::Cancelled);
        assert_eq!(a.results, None);
        let names: Vec<String> = log.0.lock().unwrap().iter().map(|e| e.1.clone()).collect();
        assert_eq!(names, vec!["a".to_string()]);
        // Checked once: the next scan finds nothing.
        assert_eq!(c.enforce_deadlines().unwrap(), 0);
    }
);

both_backends!(the_inline_run_fails_its_task_past_the_deadline, |b| {
    let clock = ManualClock::new(T0);
    let (c, _db) = client_with(b, fast_config(), Some(clock.clone()));
    let (log, _) = setup(&c, &clock, "deadline_ms: 1000\n");
    // The template's deadline: `a` completes past it, so `b` is never handed to its handler.
    let t = c
        .create_task(&with_deadline(json!({"run_ms": 1500}), None))
        .unwrap()
        .task_id;
    let ctx = c.run_task(t).unwrap();
    assert_eq!(ctx.task_state, State::Error);
    assert_failed_by_deadline(&c, t, T0 + 1000);
    assert_eq!(
        c.task_view(t).unwrap().step("a").unwrap().state,
        State::Complete
    );
    assert_eq!(log.len(), 1);
});

both_backends!(the_request_overrides_the_template_deadline, |b| {
    let clock = ManualClock::new(T0);
    let (c, _db) = client_with(b, fast_config(), Some(clock.clone()));
    let (log, _) = setup(&c, &clock, "deadline_ms: 1000\n");
    let t = c
        .create_task(&with_deadline(json!({"run_ms": 1500}), Some(5000)))
        .unwrap()
        .task_id;
    assert_eq!(c.run_task(t).unwrap().task_state, State::Complete);
    assert_eq!(log.len(), 2);
    // Past the deadline now, but finished: the scan leaves it alone (and checks it once).
    clock.advance_ms(10_000);
    assert_eq!(c.enforce_deadlines().unwrap(), 0);
    assert_eq!(c.task_view(t).unwrap().state, State::Complete);
});

both_backends!(
    the_scan_fails_only_unfinished_tasks_past_their_deadline,
    |b| {
        let clock = ManualClock::new(T0);
        let (c, _db) = client_with(b, fast_config(), Some(clock.clone()));
        setup(&c, &clock, "");
        let ctx = |i: i64| json!({"i": i});
        let early = c
            .create_task(&with_deadline(ctx(1), Some(1000)))
            .unwrap()
            .task_id;
        let late = c
            .create_task(&with_deadline(ctx(2), Some(60_000)))
            .unwrap()
            .task_id;
        let none = c.create_task(&with_deadline(ctx(3), None)).unwrap().task_id;
        assert_eq!(c.enforce_deadlines().unwrap(), 0);
        // Exactly at the deadline is in time (as for step timeouts); a millisecond later is past.
        clock.advance_ms(1000);
        assert_eq!(c.enforce_deadlines().unwrap(), 0);
        clock.advance_ms(1);
        assert_eq!(c.enforce_deadlines().unwrap(), 1);
        assert_failed_by_deadline(&c, early, T0 + 1000);
        let v = c.task_view(early).unwrap();
        assert_eq!(v.step("a").unwrap().state, State::Cancelled);
        assert_eq!(v.step("a").unwrap().attempts, 0);
        for t in [late, none] {
            assert_eq!(c.task_view(t).unwrap().state, State::Pending);
        }
        // A failed task can still be cancelled by an operator.
        assert!(c.cancel_task(early).unwrap());
    }
);

both_backends!(out_of_range_deadlines_are_refused, |b| {
    let (c, _db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(LINEAR).unwrap();
    for bad in [0, tasker::MAX_DEADLINE_MS + 1] {
        let r = c.create_task(&TaskRequest {
            namespace: Some("tests".into()),
            deadline_ms: Some(bad),
            ..req("linear", json!({}))
        });
        assert!(matches!(r, Err(Error::InvalidRequest(_))), "{bad}: {r:?}");
    }
    let r = c.register_template_yaml(
        "name: bad\ndeadline_ms: 0\nstep_templates:\n  - {name: a, handler: square}\n",
    );
    assert!(matches!(r, Err(Error::InvalidTemplate(_))), "{r:?}");
});

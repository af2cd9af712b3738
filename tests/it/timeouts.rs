//! Step timeouts on both backends: an outcome delivered past the attempt's deadline is a
//! retryable `Timeout` failure; the task request's `step_timeouts` overrides the template's
//! `timeout_ms`; a handler that never returns in time is reaped as `Timeout`, not
//! `LeaseExpired`; out-of-range and unknown-step timeouts are refused.

use crate::common::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tasker::{Client, Error, ManualClock, State, StepError, StopReason};

const T0: i64 = 1_000_000;

/// `slow`: on its first attempt advances the clock by `context.run_ms` and records what
/// `stop_reason` says then; later attempts return at once.
fn register_slow(c: &Client, clock: &Arc<ManualClock>) -> Arc<Mutex<Vec<Option<StopReason>>>> {
    let seen: Arc<Mutex<Vec<Option<StopReason>>>> = Arc::default();
    let (s, clock, weak) = (seen.clone(), clock.clone(), c.downgrade());
    c.register_fn("slow", move |ctx| {
        let c = weak.upgrade().ok_or_else(|| StepError::permanent("gone"))?;
        if ctx.step.attempt == 1 {
            clock.advance_ms(ctx.task.context["run_ms"].as_i64().unwrap_or(0));
            let reason = c
                .stop_reason(ctx.step.step_id, &ctx.claim_token)
                .map_err(|e| StepError::permanent(e.to_string()))?;
            s.lock().unwrap().push(reason);
            return Ok(json!({"late": true}));
        }
        Ok(json!({"on_time": true}))
    })
    .unwrap();
    c.register_template_yaml(
        "name: slow\nstep_templates:\n  - {name: s, handler: slow, timeout_ms: 1000, default_retry_limit: 2}\n",
    )
    .unwrap();
    seen
}

fn error_classes(c: &Client, task_id: i64) -> Vec<Value> {
    let v = c.task_view(task_id).unwrap();
    assert_history_legal(&v);
    v.step("s")
        .unwrap()
        .transitions
        .iter()
        .filter(|t| t.to_state == State::Error)
        .map(|t| t.metadata["error_class"].clone())
        .collect()
}

both_backends!(an_outcome_past_the_deadline_is_a_retryable_timeout, |b| {
    let clock = ManualClock::new(T0);
    let (c, _db) = client_with(b, fast_config(), Some(clock.clone()));
    let seen = register_slow(&c, &clock);
    let t = c
        .create_task(&req("slow", json!({"run_ms": 1500})))
        .unwrap()
        .task_id;
    c.run_once().unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Some(StopReason::TimedOut)]);
    assert_eq!(error_classes(&c, t), vec![json!("Timeout")]);
    clock.advance_ms(1_000);
    assert_eq!(c.run_task(t).unwrap().task_state, State::Complete);
    let v = c.task_view(t).unwrap();
    let s = v.step("s").unwrap();
    assert_eq!(s.attempts, 2);
    assert_eq!(
        s.results,
        Some(json!({"on_time": true})),
        "the late outcome was not recorded"
    );
});

both_backends!(an_outcome_within_the_deadline_completes, |b| {
    let clock = ManualClock::new(T0);
    let (c, _db) = client_with(b, fast_config(), Some(clock.clone()));
    let seen = register_slow(&c, &clock);
    let t = c
        .create_task(&req("slow", json!({"run_ms": 1000})))
        .unwrap()
        .task_id;
    assert_eq!(c.run_task(t).unwrap().task_state, State::Complete);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![None],
        "exactly at the deadline is in time"
    );
    assert_eq!(error_classes(&c, t), Vec::<Value>::new());
});

both_backends!(step_timeouts_override_the_template, |b| {
    let clock = ManualClock::new(T0);
    let (c, _db) = client_with(b, fast_config(), Some(clock.clone()));
    let seen = register_slow(&c, &clock);
    let mut r = req("slow", json!({"run_ms": 1500}));
    r.step_timeouts.insert("s".into(), 2_000);
    let t = c.create_task(&r).unwrap().task_id;
    assert_eq!(c.run_task(t).unwrap().task_state, State::Complete);
    assert_eq!(*seen.lock().unwrap(), vec![None]);
    let v = c.task_view(t).unwrap();
    assert_eq!(v.step("s").unwrap().results, Some(json!({"late": true})));

    let mut r = req("slow", json!({"run_ms": 600}));
    r.step_timeouts.insert("s".into(), 500);
    let t = c.create_task(&r).unwrap().task_id;
    c.run_once().unwrap();
    assert_eq!(
        error_classes(&c, t),
        vec![json!("Timeout")],
        "a shorter override holds too"
    );
});

both_backends!(
    a_handler_that_never_returns_in_time_is_reaped_as_timeout,
    |b| {
        let clock = ManualClock::new(T0);
        let mut cfg = fast_config();
        cfg.lease_check_interval_ms = 0;
        let (c, _db) = client_with(b, cfg, Some(clock.clone()));
        let (clock2, weak) = (clock.clone(), c.downgrade());
        let reasons: Arc<Mutex<Vec<Option<StopReason>>>> = Arc::default();
        let r2 = reasons.clone();
        c.register_fn("stuck", move |ctx| {
            let c = weak.upgrade().ok_or_else(|| StepError::permanent("gone"))?;
            if ctx.step.attempt == 1 {
                // Past the lease (2 s) and the timeout (1 s): another caller reaps the attempt.
                clock2.advance_ms(2_500);
                c.handle_task(ctx.task.task_id).unwrap();
                r2.lock()
                    .unwrap()
                    .push(c.stop_reason(ctx.step.step_id, &ctx.claim_token).unwrap());
                return Ok(json!({"late": true}));
            }
            Ok(json!({"on_time": true}))
        })
        .unwrap();
        c.register_template_yaml(
        "name: stuck\nstep_templates:\n  - {name: s, handler: stuck, lease_ms: 2000, timeout_ms: 1000}\n",
    )
    .unwrap();
        let t = c.create_task(&req("stuck", json!({}))).unwrap().task_id;
        assert_eq!(c.run_task(t).unwrap().task_state, State::Complete);
        assert_eq!(*reasons.lock().unwrap(), vec![Some(StopReason::ClaimLost)]);
        assert_eq!(error_classes(&c, t), vec![json!("Timeout")]);
        let v = c.task_view(t).unwrap();
        assert_eq!(v.step("s").unwrap().results, Some(json!({"on_time": true})));
    }
);

both_backends!(out_of_range_and_unknown_step_timeouts_are_refused, |b| {
    let (c, _db) = client(b);
    for bad in ["0", "86400001"] {
        let yaml =
            format!("name: bad\nstep_templates:\n  - {{name: s, handler: h, timeout_ms: {bad}}}\n");
        let err = c.register_template_yaml(&yaml).unwrap_err();
        assert!(matches!(err, Error::InvalidTemplate(_)), "{err}");
        assert!(err.to_string().contains("timeout_ms"), "{err}");
    }
    c.register_template_yaml("name: ok\nstep_templates:\n  - {name: s, handler: h}\n")
        .unwrap();
    for (step, ms, says) in [("s", 0, "timeout_ms"), ("nope", 10, "unknown step 'nope'")] {
        let mut r = req("ok", json!({}));
        r.step_timeouts.insert(step.into(), ms);
        let err = c.create_task(&r).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
});

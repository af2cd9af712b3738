//! Cancellation a handler can see, on both backends: `stop_reason` / `is_cancelled` report a
//! cancellation made while the handler runs (and nothing before it), the heartbeat then fails
//! with `StaleClaim`, and the outcome is discarded.

use crate::common::*;
use serde_json::json;
use std::sync::{Arc, Mutex};
use tasker::{Error, State, StepError, StepOutcome, StopReason};

both_backends!(a_running_handler_sees_its_task_cancelled, |b| {
    let (c, _db) = client(b);
    // (is_cancelled, stop_reason) before and after the cancellation, then the heartbeat's error.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (s, weak) = (seen.clone(), c.downgrade());
    c.register_fn("until_cancelled", move |ctx| {
        let c = weak.upgrade().ok_or_else(|| StepError::permanent("gone"))?;
        let (id, token) = (ctx.step.step_id, ctx.claim_token.clone());
        let look = |c: &tasker::Client| {
            format!(
                "{} {:?}",
                c.is_cancelled(id, &token).unwrap(),
                c.stop_reason(id, &token).unwrap()
            )
        };
        s.lock().unwrap().push(look(&c));
        // Cancelled from another thread, as an operator would.
        let (c2, task) = (c.clone(), ctx.task.task_id);
        std::thread::spawn(move || c2.cancel_task(task).unwrap())
            .join()
            .unwrap();
        s.lock().unwrap().push(look(&c));
        s.lock().unwrap().push(match c.heartbeat(id, &token) {
            Err(Error::StaleClaim(_)) => "heartbeat: stale_claim".into(),
            other => format!("heartbeat: {other:?}"),
        });
        Ok(json!({"stopped": true}))
    })
    .unwrap();
    c.register_template_yaml(
        "name: one\nstep_templates:\n  - {name: s, handler: until_cancelled}\n",
    )
    .unwrap();
    let t = c.create_task(&req("one", json!({}))).unwrap().task_id;
    let step = c.task_view(t).unwrap().step("s").unwrap().step_id;
    let outcome = c.handle_step(step).unwrap();
    assert!(
        matches!(outcome, StepOutcome::Discarded { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            "false None".to_string(),
            format!("true {:?}", Some(StopReason::Cancelled)),
            "heartbeat: stale_claim".into(),
        ]
    );
    let v = c.task_view(t).unwrap();
    assert_eq!(v.state, State::Cancelled);
    assert_eq!(v.step("s").unwrap().results, None);
});

both_backends!(an_unknown_step_is_not_found, |b| {
    let (c, _db) = client(b);
    assert!(matches!(
        c.stop_reason(987_654, "token"),
        Err(Error::StepNotFound(987_654))
    ));
});

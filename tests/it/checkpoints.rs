//! Step checkpoints on both backends: a retry resumes from the last checkpoint of the failed
//! attempt; only the last checkpoint is kept; a stale claim's checkpoint is refused; an
//! oversized or invalid one is refused with nothing written; purge deletes them.

use crate::common::*;
use crate::dashboard::get;
use crate::purge::rows;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tasker::{Client, Clock, DashboardConfig, Error, ManualClock, PurgeRequest, State, StepError};

/// What one attempt of the `batch` handler saw and did.
#[derive(Debug, Clone)]
struct Attempt {
    attempt: i64,
    claim_token: String,
    resumed_from: Option<Value>,
    processed: Vec<i64>,
}

const BATCH: &str =
    "name: batch\nstep_templates:\n  - {name: s, handler: batch, default_retry_limit: 3}\n";

/// `batch`: adds up `context.items` one by one from the checkpoint's cursor, recording
/// `{"cursor", "sum"}` after each item; the first attempt fails (retryably) at `fail_at`.
fn register_batch(c: &Client) -> Arc<Mutex<Vec<Attempt>>> {
    let log: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let (l, weak) = (log.clone(), c.downgrade());
    c.register_fn("batch", move |ctx| {
        let c = weak.upgrade().ok_or_else(|| StepError::permanent("gone"))?;
        let items: Vec<i64> = serde_json::from_value(ctx.task.context["items"].clone())
            .map_err(|e| StepError::permanent(e.to_string()))?;
        let fail_at = ctx.task.context["fail_at"].as_u64();
        let cp = ctx.checkpoint.clone().unwrap_or(Value::Null);
        let mut sum = cp["sum"].as_i64().unwrap_or(0);
        let start = cp["cursor"].as_u64().unwrap_or(0) as usize;
        let mut me = Attempt {
            attempt: ctx.step.attempt,
            claim_token: ctx.claim_token.clone(),
            resumed_from: ctx.checkpoint.clone(),
            processed: Vec::new(),
        };
        for (i, item) in items.iter().enumerate().skip(start) {
            if ctx.step.attempt == 1 && fail_at == Some(i as u64) {
                l.lock().unwrap().push(me);
                return Err(StepError::retryable(format!("failed at item {i}")));
            }
            sum += item;
            me.processed.push(*item);
            let checkpoint = json!({"cursor": i + 1, "sum": sum});
            c.checkpoint(ctx.step.step_id, &ctx.claim_token, &checkpoint)
                .map_err(|e| StepError::permanent(e.to_string()))?;
        }
        l.lock().unwrap().push(me);
        Ok(json!({ "sum": sum }))
    })
    .unwrap();
    c.register_template_yaml(BATCH).unwrap();
    log
}

both_backends!(a_retry_resumes_from_the_last_checkpoint, |b| {
    let (c, db) = client_with(b, fast_config(), None);
    let log = register_batch(&c);
    let context = json!({"items": [1, 2, 3, 4, 5], "fail_at": 3});
    let t = c.create_task(&req("batch", context)).unwrap().task_id;
    assert_eq!(c.run_task(t).unwrap().task_state, State::Complete);

    let attempts = log.lock().unwrap().clone();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0].attempt, 1);
    assert_eq!(attempts[0].resumed_from, None);
    assert_eq!(attempts[0].processed, vec![1, 2, 3]);
    // The retry starts where the first attempt's last checkpoint says: items 1..3 not again.
    assert_eq!(attempts[1].attempt, 2);
    assert_eq!(
        attempts[1].resumed_from,
        Some(json!({"cursor": 3, "sum": 6}))
    );
    assert_eq!(attempts[1].processed, vec![4, 5]);

    // Completion keeps the last checkpoint (for inspection); one row however many were written.
    let v = c.task_view(t).unwrap();
    let s = v.step("s").unwrap();
    assert_eq!(s.results, Some(json!({"sum": 15})));
    assert_eq!(s.checkpoint, Some(json!({"cursor": 5, "sum": 15})));
    assert_eq!(rows(&db.url, "tasker_step_checkpoints"), 1);

    // The first attempt's token was taken over by the retry, and the step is now complete:
    // both claims are stale, their writes refused and nothing changed.
    for a in &attempts {
        let r = c.checkpoint(s.step_id, &a.claim_token, &json!({"cursor": 99}));
        assert!(
            matches!(r, Err(Error::StaleClaim(id)) if id == s.step_id),
            "{r:?}"
        );
    }
    let after = c.task_view(t).unwrap();
    assert_eq!(
        after.step("s").unwrap().checkpoint,
        Some(json!({"cursor": 5, "sum": 15}))
    );
});

both_backends!(the_dashboard_step_page_shows_the_last_checkpoint, |b| {
    let (c, _db) = client_with(b, fast_config(), None);
    register_batch(&c);
    let with = c
        .create_task(&req("batch", json!({"items": [7, 8]})))
        .unwrap()
        .task_id;
    let without = c
        .create_task(&req("batch", json!({"items": []})))
        .unwrap()
        .task_id;
    c.run_task(with).unwrap();
    c.run_task(without).unwrap();
    let mut d = c
        .start_dashboard(&DashboardConfig {
            listen: "127.0.0.1:0".into(),
            ..Default::default()
        })
        .unwrap();
    let page = |t: i64| {
        let step = c.task_view(t).unwrap().step("s").unwrap().step_id;
        let reply = get(d.address(), &format!("/steps/{step}"));
        assert_eq!(reply.status, 200);
        reply.body
    };
    let body = page(with);
    let section = &body[body
        .find("id=\"checkpoint\"")
        .expect("a checkpoint section")..];
    assert!(section.contains("&quot;cursor&quot;: 2"), "{section}");
    assert!(!page(without).contains("id=\"checkpoint\""));
    d.stop();
});

both_backends!(a_step_without_checkpoints_shows_none, |b| {
    let (c, _db) = client_with(b, fast_config(), None);
    let log = register_batch(&c);
    let t = c
        .create_task(&req("batch", json!({"items": []})))
        .unwrap()
        .task_id;
    c.run_task(t).unwrap();
    assert_eq!(log.lock().unwrap()[0].resumed_from, None);
    assert_eq!(c.task_view(t).unwrap().step("s").unwrap().checkpoint, None);
});

both_backends!(
    an_oversized_or_invalid_checkpoint_is_refused_and_nothing_written,
    |b| {
        let (c, db) = client_with(b, fast_config(), None);
        let weak = c.downgrade();
        let refused: Arc<Mutex<Vec<String>>> = Arc::default();
        let r2 = refused.clone();
        c.register_fn("big", move |ctx| {
            let c = weak.upgrade().ok_or_else(|| StepError::permanent("gone"))?;
            let (id, token) = (ctx.step.step_id, ctx.claim_token.as_str());
            // Exactly at the limit is accepted; one byte more is refused (`{"p":""}` is 8).
            let pad = |n: usize| json!({ "p": "x".repeat(n - 8) });
            let at_limit = pad(tasker::MAX_CHECKPOINT_BYTES);
            assert_eq!(
                serde_json::to_vec(&at_limit).unwrap().len(),
                tasker::MAX_CHECKPOINT_BYTES
            );
            c.checkpoint(id, token, &at_limit).unwrap();
            c.checkpoint(id, token, &json!({"cursor": 1})).unwrap();
            for bad in [
                pad(tasker::MAX_CHECKPOINT_BYTES + 1),
                json!({"k": "nul\u{0}"}),
            ] {
                let e = c.checkpoint(id, token, &bad).unwrap_err();
                r2.lock().unwrap().push(format!("{e:?}"));
            }
            Ok(json!({}))
        })
        .unwrap();
        c.register_template_yaml("name: big\nstep_templates:\n  - {name: s, handler: big}\n")
            .unwrap();
        let t = c.create_task(&req("big", json!({}))).unwrap().task_id;
        assert_eq!(c.run_task(t).unwrap().task_state, State::Complete);
        let refused = refused.lock().unwrap().clone();
        assert_eq!(refused.len(), 2);
        assert!(
            refused[0].starts_with("PayloadTooLarge { what: \"checkpoint\", size: 65537"),
            "{}",
            refused[0]
        );
        assert!(refused[1].starts_with("InvalidDocument"), "{}", refused[1]);
        // The step's checkpoint is still the one written before the refused ones.
        let v = c.task_view(t).unwrap();
        assert_eq!(v.step("s").unwrap().checkpoint, Some(json!({"cursor": 1})));
        assert_eq!(rows(&db.url, "tasker_step_checkpoints"), 1);
    }
);

both_backends!(a_smaller_max_payload_bytes_bounds_checkpoints, |b| {
    let mut cfg = fast_config();
    cfg.max_payload_bytes = 100;
    let (c, _db) = client_with(b, cfg, None);
    let weak = c.downgrade();
    c.register_fn("small", move |ctx| {
        let c = weak.upgrade().ok_or_else(|| StepError::permanent("gone"))?;
        let e = c
            .checkpoint(ctx.step.step_id, &ctx.claim_token, &json!("y".repeat(99)))
            .unwrap_err();
        Ok(json!({ "refused": e.to_string() }))
    })
    .unwrap();
    c.register_template_yaml("name: small\nstep_templates:\n  - {name: s, handler: small}\n")
        .unwrap();
    let t = c.create_task(&req("small", json!({}))).unwrap().task_id;
    c.run_task(t).unwrap();
    let v = c.task_view(t).unwrap();
    let s = v.step("s").unwrap();
    assert_eq!(
        s.results,
        Some(json!({"refused": "payload too large: checkpoint is 101 bytes, the limit is 100"}))
    );
    assert_eq!(s.checkpoint, None);
});

both_backends!(purge_deletes_the_checkpoints_of_purged_tasks, |b| {
    let clock = ManualClock::new(1_000_000);
    let (c, db) = client_with(b, fast_config(), Some(clock.clone()));
    register_batch(&c);
    let task = |n: i64| {
        let t = c
            .create_task(&req("batch", json!({"items": [n, n + 1]})))
            .unwrap()
            .task_id;
        assert_eq!(c.run_task(t).unwrap().task_state, State::Complete);
        t
    };
    let (old1, old2) = (task(1), task(10));
    clock.advance_ms(60_000);
    let cutoff = clock.now_ms();
    let kept = task(100);
    assert_eq!(rows(&db.url, "tasker_step_checkpoints"), 3);

    let report = c
        .purge_tasks(&PurgeRequest {
            finished_before: cutoff,
            ..Default::default()
        })
        .unwrap();
    assert_eq!((report.tasks, report.steps), (2, 2));
    for gone in [old1, old2] {
        assert!(matches!(c.task_view(gone), Err(Error::TaskNotFound(_))));
    }
    assert_eq!(rows(&db.url, "tasker_step_checkpoints"), 1);
    assert_eq!(
        c.task_view(kept).unwrap().step("s").unwrap().checkpoint,
        Some(json!({"cursor": 2, "sum": 201}))
    );
});

//! Delayed start (`run_at`, `delay_ms` on a task request): no step is claimable before the
//! start time, on both backends and on both creation paths (PostgreSQL's one-statement create
//! and the transactional one, taken by a task with a bypassed step).

use crate::common::*;
use serde_json::json;
use tasker::{Error, ManualClock, State};

const T0: i64 = 1_000_000;

/// A diamond whose `c` may be bypassed (which sends creation down the transactional path).
const DIAMOND_SKIPPABLE: &str = r#"
name: diamond
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: a, handler: square}
  - {name: b, handler: square, depends_on_step: a}
  - {name: c, handler: square, depends_on_step: a, skippable: true}
  - {name: d, handler: square, depends_on_steps: [b, c]}
"#;

fn delayed_client(b: Backend) -> (tasker::Client, TestDb, std::sync::Arc<ManualClock>) {
    let clock = ManualClock::new(T0);
    let mut cfg = tasker::Config::default();
    cfg.lease_check_interval_ms = 0;
    let (c, db) = client_with(b, cfg, Some(clock.clone()));
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(DIAMOND_SKIPPABLE).unwrap();
    (c, db, clock)
}

fn diamond(delay_ms: Option<u64>, run_at: Option<i64>, bypass: &[&str]) -> tasker::TaskRequest {
    let mut r = req("diamond", json!({"n": 2}));
    r.namespace = Some("tests".into());
    r.delay_ms = delay_ms;
    r.run_at = run_at;
    r.bypass_steps = bypass.iter().map(|s| s.to_string()).collect();
    r
}

both_backends!(delay_ms_holds_every_step_until_the_start, |b| {
    for bypass in [&[][..], &["c"][..]] {
        let (c, _db, clock) = delayed_client(b);
        let t = c.create_task(&diamond(Some(5_000), None, bypass)).unwrap();
        let view = c.task_view(t.task_id).unwrap();
        assert_eq!(view.step("a").unwrap().next_attempt_at, Some(T0 + 5_000));
        assert_eq!(
            c.run_once().unwrap(),
            0,
            "nothing claimable before the start"
        );
        let ctx = c.execution_context(t.task_id).unwrap();
        assert_eq!(ctx.ready_steps, 0);
        clock.advance_ms(4_999);
        assert_eq!(c.run_once().unwrap(), 0, "one millisecond early");
        clock.advance_ms(1);
        assert_eq!(c.execution_context(t.task_id).unwrap().ready_steps, 1);
        let ctx = c.run_task(t.task_id).unwrap();
        let view = c.task_view(t.task_id).unwrap();
        assert_eq!(view.state, State::Complete, "{ctx:?}");
        let a = view.step("a").unwrap();
        assert_eq!(a.last_attempted_at, Some(T0 + 5_000));
        assert_history_legal(&view);
    }
});

both_backends!(run_at_in_the_future_and_in_the_past, |b| {
    let (c, _db, clock) = delayed_client(b);
    let later = c
        .create_task(&diamond(None, Some(T0 + 60_000), &[]))
        .unwrap();
    let past = c
        .create_task(&diamond(None, Some(T0 - 60_000), &["c"]))
        .unwrap();
    assert_eq!(
        c.task_view(past.task_id)
            .unwrap()
            .step("a")
            .unwrap()
            .next_attempt_at,
        Some(T0),
        "a start in the past is now"
    );
    c.run_task(past.task_id).unwrap();
    assert_eq!(c.task_view(past.task_id).unwrap().state, State::Complete);
    // run_task does not wait for a delayed start: it runs what is claimable and returns.
    c.run_task(later.task_id).unwrap();
    assert_eq!(c.task_view(later.task_id).unwrap().state, State::Pending);
    clock.advance_ms(60_000);
    c.run_task(later.task_id).unwrap();
    assert_eq!(c.task_view(later.task_id).unwrap().state, State::Complete);
});

both_backends!(bad_start_requests_are_rejected_and_write_nothing, |b| {
    let (c, _db, _clock) = delayed_client(b);
    let both = c.create_task(&diamond(Some(1), Some(T0), &[]));
    assert!(
        matches!(&both, Err(Error::InvalidRequest(m)) if m.contains("exclusive")),
        "{both:?}"
    );
    let huge = c.create_task(&diamond(Some(u64::MAX), None, &[]));
    assert!(
        matches!(&huge, Err(Error::InvalidRequest(m)) if m.contains("maximum")),
        "{huge:?}"
    );
    let page = c.list_tasks(&tasker::TaskFilter::default()).unwrap();
    assert!(page.items.is_empty(), "nothing written: {:?}", page.items);
});

//! Priorities with aging (docs/SCHEDULING.md): claims take higher priorities first, and a step
//! waiting longer than (priority difference) x AGING_STEP_MS goes before newer higher-priority
//! work. Driven by a manual clock and one-step claims, so the order is exact.

use crate::common::*;
use serde_json::json;
use tasker::{Clock, Error, ManualClock, AGING_STEP_MS};

const T0: i64 = 1_000_000;

/// `routine` has no template priority (0); `urgent` has template priority 10.
const ROUTINE: &str = "name: routine\nstep_templates:\n  - {name: routine, handler: square}\n";
const URGENT: &str =
    "name: urgent\npriority: 10\nstep_templates:\n  - {name: urgent, handler: square}\n";

fn one_step_claims(b: Backend) -> (tasker::Client, TestDb, std::sync::Arc<ManualClock>, ExecLog) {
    let clock = ManualClock::new(T0);
    let mut cfg = fast_config();
    cfg.claim_batch = 1;
    cfg.adaptive_claim = false;
    cfg.lease_check_interval_ms = 0;
    let (c, db) = client_with(b, cfg, Some(clock.clone()));
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(ROUTINE).unwrap();
    c.register_template_yaml(URGENT).unwrap();
    (c, db, clock, log)
}

fn task(name: &str, n: i64, priority: Option<i64>) -> tasker::TaskRequest {
    let mut r = req(name, json!({"n": n}));
    r.priority = priority;
    r
}

fn last_ran(log: &ExecLog) -> String {
    log.0
        .lock()
        .unwrap()
        .last()
        .map(|e| e.1.clone())
        .unwrap_or_default()
}

both_backends!(
    a_high_priority_step_starts_before_a_low_priority_backlog,
    |b| {
        let (c, _db, clock, log) = one_step_claims(b);
        for n in 0..20 {
            c.create_task(&task("routine", n, Some(-10))).unwrap();
        }
        clock.advance_ms(1);
        // The template's priority (10) applies; the newest step is claimed first.
        c.create_task(&task("urgent", 0, None)).unwrap();
        assert_eq!(c.run_once().unwrap(), 1);
        assert_eq!(last_ran(&log), "urgent");
        assert_eq!(c.run_once().unwrap(), 1);
        assert_eq!(last_ran(&log), "routine");
    }
);

both_backends!(a_request_priority_overrides_the_template_priority, |b| {
    let (c, _db, clock, log) = one_step_claims(b);
    c.create_task(&task("routine", 0, None)).unwrap();
    clock.advance_ms(1);
    c.create_task(&task("urgent", 0, Some(-5))).unwrap();
    assert_eq!(c.run_once().unwrap(), 1);
    assert_eq!(last_ran(&log), "routine", "urgent was lowered below 0");
});

both_backends!(aging_starts_a_low_priority_step_within_its_bound, |b| {
    let (c, _db, clock, log) = one_step_claims(b);
    c.create_task(&task("routine", 0, None)).unwrap();
    // Bound: (10 - 0) x AGING_STEP_MS after the routine step became ready at T0.
    let bound = 10 * AGING_STEP_MS;
    let tick = 100;
    // A steady stream: every tick one new urgent step, and one claim.
    let mut n = 0;
    loop {
        clock.advance_ms(tick);
        n += 1;
        c.create_task(&task("urgent", n, None)).unwrap();
        assert_eq!(c.run_once().unwrap(), 1);
        let waited = clock.now_ms() - T0;
        if last_ran(&log) == "routine" {
            // Ties go to the older step: it starts as soon as its wait reaches the bound.
            assert_eq!(waited, bound, "the routine step started at its bound");
            break;
        }
        assert!(
            waited < bound,
            "the routine step starved past its bound ({waited} ms)"
        );
    }
    // The urgent steps it stood aside for are still all there to run.
    assert_eq!(c.run_once().unwrap(), 1);
    assert_eq!(last_ran(&log), "urgent");
});

both_backends!(a_priority_outside_the_range_is_rejected, |b| {
    let (c, _db, _clock, _log) = one_step_claims(b);
    for p in [101, -101, i64::MAX] {
        match c.create_task(&task("routine", 0, Some(p))) {
            Err(Error::InvalidRequest(m)) => assert!(m.contains("-100..=100"), "{m}"),
            other => panic!("priority {p}: {other:?}"),
        }
    }
    let bad = "name: bad\npriority: 500\nstep_templates:\n  - {name: a, handler: square}\n";
    match c.register_template_yaml(bad) {
        Err(Error::InvalidTemplate(m)) => assert!(m.contains("priority"), "{m}"),
        other => panic!("{other:?}"),
    }
});

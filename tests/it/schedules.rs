//! Cron schedules on both backends: validation, one task per tick however many clients race
//! for it, skip vs catch-up after downtime, disable, delete, purge; and the acceptance test:
//! 4 worker processes × 3 threads and a schedule ticking every second for ~10 s.

use crate::common::*;
use serde_json::json;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tasker::{
    Client, Clock, Error, ManualClock, MissedTicks, PurgeRequest, ScheduleSpec, State, TaskFilter,
};

/// 2026-01-01T00:00:00Z: a whole second, so every-second ticks fall on T0 + k * 1000.
const T0: i64 = 1_767_225_600_000;

const NIGHTLY: &str = r#"
name: nightly
namespace_name: ops
version: 1.0.0
step_templates:
  - {name: only, handler: noop}
"#;

fn scheduled_client(b: Backend) -> (Client, TestDb, Arc<ManualClock>) {
    let clock = ManualClock::new(T0);
    let (c, db) = client_with(b, fast_config(), Some(clock.clone()));
    c.register_template_yaml(NIGHTLY).unwrap();
    c.register_fn("noop", |_| Ok(json!({}))).unwrap();
    (c, db, clock)
}

fn every_second(name: &str) -> ScheduleSpec {
    let mut s = ScheduleSpec::new(name, "nightly", "* * * * * *");
    s.namespace = Some("ops".into());
    s.context = json!({"report": name});
    s
}

fn fired_ticks(c: &Client, name: &str) -> Vec<i64> {
    let ticks = c.schedule_ticks(name).unwrap();
    assert!(ticks.iter().all(|t| t.state == "fired"), "{ticks:?}");
    ticks.iter().map(|t| t.tick_at).collect()
}

both_backends!(invalid_schedules_are_refused_with_what_is_wrong, |b| {
    let (c, _db, _clock) = scheduled_client(b);
    let cases: Vec<(ScheduleSpec, &str)> = vec![
        (
            ScheduleSpec {
                cron: "61 * * * *".into(),
                ..every_second("a")
            },
            "cron expression '61 * * * *'",
        ),
        (
            ScheduleSpec {
                cron: "every day".into(),
                ..every_second("a")
            },
            "cron expression 'every day'",
        ),
        (
            ScheduleSpec {
                time_zone: "Mars/Olympus".into(),
                ..every_second("a")
            },
            "unknown time zone 'Mars/Olympus'",
        ),
        (every_second(" padded"), "name ' padded'"),
        (every_second(""), "name ''"),
        (
            ScheduleSpec {
                max_catch_up: Some(3),
                ..every_second("a")
            },
            "max_catch_up applies to missed: catch_up only",
        ),
        (
            ScheduleSpec {
                missed: MissedTicks::CatchUp,
                max_catch_up: Some(0),
                ..every_second("a")
            },
            "max_catch_up is 0",
        ),
        (
            ScheduleSpec {
                context: json!([1]),
                ..every_second("a")
            },
            "context must be a map",
        ),
    ];
    for (spec, expected) in cases {
        let e = c.upsert_schedule(&spec).unwrap_err();
        assert!(matches!(e, Error::InvalidSchedule(_)), "{e:?}");
        assert!(e.to_string().contains(expected), "{e} / {expected}");
    }
    let e = c
        .upsert_schedule(&ScheduleSpec {
            template: "missing".into(),
            ..every_second("a")
        })
        .unwrap_err();
    assert!(matches!(e, Error::UnknownTemplate(_)), "{e:?}");
    assert!(c.schedules().unwrap().is_empty(), "nothing stored");
});

both_backends!(a_tick_creates_one_task_with_the_schedule_context, |b| {
    let (c, _db, clock) = scheduled_client(b);
    let s = c.upsert_schedule(&every_second("report")).unwrap();
    assert_eq!(s.next_tick_at, T0 + 1_000);
    assert_eq!(s.time_zone, "UTC");
    assert_eq!((s.missed, s.max_catch_up), (MissedTicks::Skip, 1));
    assert_eq!(c.fire_due_schedules(clock.now_ms()).unwrap(), 0, "not due");
    clock.advance_ms(1_000);
    assert_eq!(c.fire_due_schedules(clock.now_ms()).unwrap(), 1);
    assert_eq!(
        c.fire_due_schedules(clock.now_ms()).unwrap(),
        0,
        "fired once"
    );
    let ticks = c.schedule_ticks("report").unwrap();
    assert_eq!(ticks.len(), 1);
    assert_eq!(ticks[0].tick_at, T0 + 1_000);
    let view = c.task_view(ticks[0].task_id.unwrap()).unwrap();
    assert_eq!(view.context, json!({"report": "report"}));
    assert_eq!(view.initiator, "schedule:report");
    assert_eq!(view.source_system, "tasker-schedule");
    assert_eq!(
        (view.namespace.as_str(), view.name.as_str()),
        ("ops", "nightly")
    );
    let s = c.schedule("report").unwrap().unwrap();
    assert_eq!(
        (s.last_tick_at, s.next_tick_at),
        (Some(T0 + 1_000), T0 + 2_000)
    );
    // The task runs like any other.
    assert_eq!(c.run_task(view.task_id).unwrap().task_id, view.task_id);
    assert_eq!(c.task_view(view.task_id).unwrap().state, State::Complete);
});

both_backends!(two_clients_racing_fire_each_tick_once, |b| {
    let clock = ManualClock::new(T0);
    let db = new_db(b);
    let clients: Vec<Client> = (0..2)
        .map(|_| Client::connect_with(&db.url, fast_config(), Some(clock.clone())).unwrap())
        .collect();
    clients[0].register_template_yaml(NIGHTLY).unwrap();
    let mut spec = every_second("race");
    spec.missed = MissedTicks::CatchUp;
    clients[0].upsert_schedule(&spec).unwrap();
    let mut created = 0;
    for _ in 0..10 {
        clock.advance_ms(1_000);
        let now = clock.now_ms();
        let barrier = Arc::new(std::sync::Barrier::new(clients.len() * 2));
        let handles: Vec<_> = clients
            .iter()
            .flat_map(|c| [c.clone(), c.clone()])
            .map(|c| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    c.fire_due_schedules(now).unwrap()
                })
            })
            .collect();
        let round: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(round, 1, "one task for the tick at {now}");
        created += round;
    }
    let ticks = fired_ticks(&clients[1], "race");
    assert_eq!(ticks, (1..=10).map(|k| T0 + k * 1_000).collect::<Vec<_>>());
    let page = clients[1].list_tasks(&TaskFilter::default()).unwrap();
    assert_eq!(page.items.len(), created);
});

both_backends!(missed_ticks_skip_or_catch_up_after_downtime, |b| {
    let (c, _db, clock) = scheduled_client(b);
    c.upsert_schedule(&every_second("skipper")).unwrap();
    let mut spec = every_second("catcher");
    spec.missed = MissedTicks::CatchUp;
    spec.max_catch_up = Some(3);
    c.upsert_schedule(&spec).unwrap();
    // Ten seconds without any check (every process down).
    clock.advance_ms(10_500);
    assert_eq!(c.fire_due_schedules(clock.now_ms()).unwrap(), 4);
    assert_eq!(fired_ticks(&c, "skipper"), vec![T0 + 10_000]);
    assert_eq!(
        fired_ticks(&c, "catcher"),
        vec![T0 + 8_000, T0 + 9_000, T0 + 10_000]
    );
    for name in ["skipper", "catcher"] {
        assert_eq!(c.schedule(name).unwrap().unwrap().next_tick_at, T0 + 11_000);
    }
    // Re-declaring an unchanged schedule (a restart) keeps its place; a new expression
    // starts after now.
    clock.advance_ms(2_000);
    let again = c.upsert_schedule(&spec).unwrap();
    assert_eq!(again.next_tick_at, T0 + 11_000);
    spec.cron = "*/5 * * * * *".into();
    let changed = c.upsert_schedule(&spec).unwrap();
    assert_eq!(changed.next_tick_at, T0 + 15_000);
});

both_backends!(disabled_schedules_do_not_fire, |b| {
    let (c, _db, clock) = scheduled_client(b);
    let mut spec = every_second("paused");
    spec.missed = MissedTicks::CatchUp;
    spec.enabled = false;
    c.upsert_schedule(&spec).unwrap();
    clock.advance_ms(3_000);
    assert_eq!(c.fire_due_schedules(clock.now_ms()).unwrap(), 0);
    assert!(c.set_schedule_enabled("paused", true).unwrap());
    // The ticks while disabled never fire.
    assert_eq!(c.fire_due_schedules(clock.now_ms()).unwrap(), 0);
    clock.advance_ms(1_000);
    assert_eq!(c.fire_due_schedules(clock.now_ms()).unwrap(), 1);
    assert!(c.set_schedule_enabled("paused", false).unwrap());
    clock.advance_ms(5_000);
    assert_eq!(c.fire_due_schedules(clock.now_ms()).unwrap(), 0);
    assert_eq!(fired_ticks(&c, "paused"), vec![T0 + 4_000]);
    assert!(!c.set_schedule_enabled("nobody", true).unwrap());
});

both_backends!(deleting_a_schedule_keeps_its_tasks, |b| {
    let (c, _db, clock) = scheduled_client(b);
    c.upsert_schedule(&every_second("gone")).unwrap();
    clock.advance_ms(1_000);
    assert_eq!(c.fire_due_schedules(clock.now_ms()).unwrap(), 1);
    let task = c.schedule_ticks("gone").unwrap()[0].task_id.unwrap();
    assert!(c.delete_schedule("gone").unwrap());
    assert!(!c.delete_schedule("gone").unwrap());
    assert!(c.schedule("gone").unwrap().is_none());
    assert!(c.schedule_ticks("gone").unwrap().is_empty());
    clock.advance_ms(1_000);
    assert_eq!(c.fire_due_schedules(clock.now_ms()).unwrap(), 0);
    assert_eq!(c.task_view(task).unwrap().task_id, task);
});

both_backends!(purging_a_task_removes_its_tick, |b| {
    let (c, _db, clock) = scheduled_client(b);
    c.upsert_schedule(&every_second("purged")).unwrap();
    clock.advance_ms(1_000);
    c.fire_due_schedules(clock.now_ms()).unwrap();
    let task = c.schedule_ticks("purged").unwrap()[0].task_id.unwrap();
    c.run_task(task).unwrap();
    clock.advance_ms(1_000);
    let report = c
        .purge_tasks(&PurgeRequest {
            finished_before: clock.now_ms(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(report.tasks, 1);
    assert!(c.schedule_ticks("purged").unwrap().is_empty());
    // The purged tick does not fire again.
    assert_eq!(c.fire_due_schedules(clock.now_ms()).unwrap(), 1);
    assert_eq!(fired_ticks(&c, "purged"), vec![T0 + 2_000]);
});

both_backends!(a_tick_whose_template_is_gone_is_recorded_as_failed, |b| {
    let (c, db, clock) = scheduled_client(b);
    c.upsert_schedule(&every_second("broken")).unwrap();
    // Another process points the schedule at a template nobody registered.
    exec_sql(
        &db.url,
        "UPDATE tasker_schedules SET template = 'vanished' WHERE name = 'broken'",
    );
    clock.advance_ms(1_000);
    assert_eq!(c.fire_due_schedules(clock.now_ms()).unwrap(), 0);
    let ticks = c.schedule_ticks("broken").unwrap();
    assert_eq!(ticks.len(), 1);
    assert_eq!(
        (ticks[0].state.as_str(), ticks[0].task_id),
        ("failed", None)
    );
    assert!(
        ticks[0].error.as_deref().unwrap().contains("vanished"),
        "{ticks:?}"
    );
});

both_backends!(a_tick_abandoned_by_its_claimer_is_taken_over_once, |b| {
    let (c, db, clock) = scheduled_client(b);
    c.upsert_schedule(&every_second("orphan")).unwrap();
    // A claimer that died after claiming the tick and before creating its task.
    exec_sql(
        &db.url,
        &format!(
            "INSERT INTO tasker_schedule_ticks (schedule_id, tick_at, state, claimed_at) \
             SELECT schedule_id, {}, 'claimed', {T0} FROM tasker_schedules",
            T0 - 5_000
        ),
    );
    clock.advance_ms(59_000);
    c.fire_due_schedules(clock.now_ms()).unwrap();
    assert_eq!(
        c.schedule_ticks("orphan").unwrap()[0].state,
        "claimed",
        "not yet"
    );
    clock.advance_ms(1_001);
    c.fire_due_schedules(clock.now_ms()).unwrap();
    let ticks = c.schedule_ticks("orphan").unwrap();
    assert_eq!(ticks[0].state, "fired");
    assert!(ticks[0].task_id.is_some());
});

const CHILD_ENV: &str = "TASKER_TEST_SCHEDULE_CHILD";
const PROCESSES: usize = 4;
const THREADS: usize = 3;

/// A worker process of the acceptance test: `THREADS` workers until the stop file appears.
#[test]
#[ignore]
fn schedule_worker_entry() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let stop_file = PathBuf::from(std::env::var("TASKER_CHILD_STOP").unwrap());
    let config = tasker::Config {
        // Sub-second: every-second ticks must not wait for a whole second.
        schedule_check_interval_ms: 200,
        poll_interval_ms: 50,
        ..fast_config()
    };
    let c = Client::connect_with(&url, config, None).unwrap();
    c.register_fn("noop", |_| Ok(json!({}))).unwrap();
    run_workers_until(&c, THREADS, &stop_file);
}

both_backends!(every_second_for_ten_seconds_across_four_processes, |b| {
    let db = new_db(b);
    let c = Client::connect(&db.url).unwrap();
    c.register_template_yaml(NIGHTLY).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stop_file = dir.path().join("stop");
    let mut children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            spawn_test_entry(
                "schedules::schedule_worker_entry",
                &[
                    (CHILD_ENV, db.url.clone()),
                    ("TASKER_CHILD_STOP", stop_file.display().to_string()),
                ],
            )
        })
        .collect();
    let mut spec = every_second("acceptance");
    // Catch-up, so a check that comes late on a loaded machine still fires every tick.
    spec.missed = MissedTicks::CatchUp;
    let first = c.upsert_schedule(&spec).unwrap().next_tick_at;
    std::thread::sleep(Duration::from_secs(10));
    assert!(c.set_schedule_enabled("acceptance", false).unwrap());
    std::fs::write(&stop_file, b"stop").unwrap();
    for child in &mut children {
        assert!(child.wait().unwrap().success(), "a worker process failed");
    }
    let last = c
        .schedule("acceptance")
        .unwrap()
        .unwrap()
        .last_tick_at
        .unwrap();
    let ticks = fired_ticks(&c, "acceptance");
    let expected: Vec<i64> = (0..)
        .map(|k| first + k * 1_000)
        .take_while(|t| *t <= last)
        .collect();
    assert!(expected.len() >= 8, "ticks fired: {}", expected.len());
    assert_eq!(ticks, expected, "one tick per second, none missing");
    let tasks: HashSet<i64> = c
        .schedule_ticks("acceptance")
        .unwrap()
        .iter()
        .map(|t| t.task_id.unwrap())
        .collect();
    assert_eq!(tasks.len(), ticks.len(), "one distinct task per tick");
    let mut filter = TaskFilter::default();
    filter.limit = Some(1_000);
    let page = c.list_tasks(&filter).unwrap();
    assert_eq!(page.items.len(), ticks.len(), "no other task was created");
});

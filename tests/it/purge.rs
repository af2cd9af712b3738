//! `purge_tasks` on both backends: only complete and cancelled tasks finished before the cutoff
//! go, with every row that refers to them; batches are bounded; a dry run deletes nothing.

use crate::common::*;
use serde_json::json;
use tasker::{Clock, Error, ManualClock, PurgeRequest, PurgeTemplate, State, StepError};

/// Rows in `table` (either backend), on a connection of its own.
pub(crate) fn rows(url: &str, table: &str) -> i64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let sql = format!("SELECT COUNT(*) FROM {table}");
        if url.starts_with("postgres") {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap()
        } else {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap()
        }
    })
}

const TABLES: [&str; 5] = [
    "tasker_tasks",
    "tasker_workflow_steps",
    "tasker_workflow_step_edges",
    "tasker_task_transitions",
    "tasker_workflow_step_transitions",
];

both_backends!(purges_finished_tasks_before_the_cutoff_in_batches, |b| {
    let clock = ManualClock::new(1_000_000);
    let (c, db) = client_with(b, fast_config(), Some(clock.clone()));
    c.register_template_yaml(DIAMOND).unwrap();
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_fn("doomed", |_| Err(StepError::permanent("no")))
        .unwrap();
    c.register_template_yaml("name: doomed\nstep_templates:\n  - {name: x, handler: doomed}\n")
        .unwrap();
    let task = |n: i64| {
        let r = tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("diamond", json!({ "n": n }))
        };
        c.create_task(&r).unwrap().task_id
    };

    // Before the cutoff: two complete, one cancelled (purged); one in error, one pending (kept).
    let (done1, done2, cancelled, pending) = (task(1), task(2), task(3), task(4));
    c.run_task(done1).unwrap();
    c.run_task(done2).unwrap();
    assert!(c.cancel_task(cancelled).unwrap());
    let failed = c.create_task(&req("doomed", json!({}))).unwrap().task_id;
    assert_eq!(c.run_task(failed).unwrap().task_state, State::Error);
    clock.advance_ms(60_000);
    let cutoff = clock.now_ms();
    // After the cutoff: complete, kept.
    let late = task(5);
    c.run_task(late).unwrap();
    let before: Vec<i64> = TABLES.iter().map(|t| rows(&db.url, t)).collect();

    let purge = |dry_run, batch_size| {
        c.purge_tasks(&PurgeRequest {
            finished_before: cutoff,
            dry_run,
            batch_size,
            template: None,
        })
        .unwrap()
    };
    let dry = purge(true, None);
    assert_eq!(
        (dry.dry_run, dry.tasks, dry.steps, dry.batches),
        (true, 3, 12, 1)
    );
    let unchanged: Vec<i64> = TABLES.iter().map(|t| rows(&db.url, t)).collect();
    assert_eq!(unchanged, before, "a dry run deletes nothing");

    let report = purge(false, Some(2));
    assert_eq!((report.tasks, report.steps, report.batches), (3, 12, 2));
    for gone in [done1, done2, cancelled] {
        assert!(matches!(c.task_view(gone), Err(Error::TaskNotFound(_))));
    }
    for kept in [pending, failed, late] {
        c.task_view(kept).unwrap();
    }
    // Every row of the three purged diamonds went: 4 steps, 4 edges and their transitions each.
    let after: Vec<i64> = TABLES.iter().map(|t| rows(&db.url, t)).collect();
    assert_eq!(after[0], before[0] - 3);
    assert_eq!(after[1], before[1] - 12);
    assert_eq!(after[2], before[2] - 12);
    assert!(after[3] < before[3] && after[4] < before[4]);
    // What is left is exactly the kept tasks' history.
    let kept_steps: usize = [pending, failed, late]
        .iter()
        .map(|t| c.task_view(*t).unwrap().steps.len())
        .sum();
    assert_eq!(after[1], kept_steps as i64);

    // Nothing more to purge; the kept tasks still run; a bad batch size is refused.
    assert_eq!(purge(false, None).tasks, 0);
    assert_eq!(c.run_task(pending).unwrap().task_state, State::Complete);
    let err = c
        .purge_tasks(&PurgeRequest {
            finished_before: cutoff,
            batch_size: Some(0),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(err, Error::InvalidDocument { .. }), "{err}");
});

both_backends!(a_template_filter_purges_only_that_templates_tasks, |b| {
    let clock = ManualClock::new(1_000_000);
    let (c, _db) = client_with(b, fast_config(), Some(clock.clone()));
    c.register_template_yaml(DIAMOND).unwrap();
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml("name: single\nstep_templates:\n  - {name: a, handler: square}\n")
        .unwrap();
    let diamond = |n: i64| {
        let r = tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("diamond", json!({ "n": n }))
        };
        c.create_task(&r).unwrap().task_id
    };
    let (d1, d2) = (diamond(1), diamond(2));
    let s1 = c.create_task(&req("single", json!({}))).unwrap().task_id;
    for t in [d1, d2, s1] {
        assert_eq!(c.run_task(t).unwrap().task_state, State::Complete);
    }
    clock.advance_ms(60_000);
    let request = |name: &str, namespace: Option<&str>, version: Option<&str>| PurgeRequest {
        finished_before: clock.now_ms(),
        template: Some(PurgeTemplate {
            name: name.into(),
            namespace: namespace.map(Into::into),
            version: version.map(Into::into),
        }),
        ..Default::default()
    };
    let purge = |name: &str, namespace: Option<&str>, version: Option<&str>| {
        c.purge_tasks(&request(name, namespace, version)).unwrap()
    };

    // A namespace, version or name that matches no template purges nothing.
    assert_eq!(purge("diamond", Some("default"), None).tasks, 0);
    assert_eq!(purge("diamond", None, Some("9.9.9")).tasks, 0);
    assert_eq!(purge("unknown", None, None).tasks, 0);
    // An empty name, namespace or version is refused (it would silently purge nothing).
    for (name, namespace, version, path) in [
        ("", None, None, "template.name"),
        ("diamond", Some(" "), None, "template.namespace"),
        ("diamond", None, Some(""), "template.version"),
    ] {
        let err = c
            .purge_tasks(&request(name, namespace, version))
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidDocument { path: p, .. } if p == path),
            "{err}"
        );
    }
    // The `single` task stays; the diamonds go.
    let report = purge("diamond", Some("tests"), None);
    assert_eq!((report.tasks, report.steps), (2, 8));
    for gone in [d1, d2] {
        assert!(matches!(c.task_view(gone), Err(Error::TaskNotFound(_))));
    }
    assert_eq!(c.task_view(s1).unwrap().state, State::Complete);
});

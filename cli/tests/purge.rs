//! `tasker purge` run as a binary on SQLite and PostgreSQL: a dry run counts, a purge deletes
//! only the finished tasks before the time given.

mod common;

use common::*;

#[test]
fn purge_deletes_finished_tasks_before_the_date() {
    for backend in BACKENDS {
        let (db, _c, failed) = failed_task(backend);
        let ok = client(&db, false);
        let done = create_task(&ok, "B-1");
        ok.run_task(done).expect("run");
        let pending = create_task(&ok, "B-2");
        let future = "2200-01-01T00:00:00Z";

        let dry = tasker(
            &db.url,
            &["purge", "--finished-before", future, "--dry-run", "--json"],
        )
        .ok()
        .json();
        assert_eq!(
            dry,
            serde_json::json!({"dry_run": true, "tasks": 1, "steps": 4, "batches": 1}),
            "{backend:?}"
        );
        // Nothing finished before 2020.
        let none = tasker(
            &db.url,
            &["purge", "--finished-before", "2020-01-01T00:00:00Z"],
        )
        .ok()
        .stdout;
        assert_eq!(
            none,
            "purged 0 finished tasks (0 steps) finished before 2020-01-01T00:00:00Z in 0 batches\n"
        );
        let text = tasker(&db.url, &["purge", "--finished-before", future])
            .ok()
            .stdout;
        assert!(
            text.starts_with("purged 1 finished tasks (4 steps)"),
            "{text}"
        );
        assert_eq!(task_ids(&db), vec![pending, failed], "{backend:?}");

        let bad = tasker(&db.url, &["purge", "--finished-before", "last week"]);
        assert_eq!(bad.code, 2, "{bad:?}");
        let missing = tasker(&db.url, &["purge"]);
        assert_eq!(missing.code, 2, "{missing:?}");
        let zero = tasker(
            &db.url,
            &["purge", "--finished-before", future, "--batch-size", "0"],
        );
        assert_eq!(zero.code, 3, "{zero:?}");
    }
}

#[test]
fn purge_with_a_template_deletes_only_that_templates_tasks() {
    for backend in BACKENDS {
        let db = fresh_db(backend);
        let c = client(&db, false);
        c.register_template_yaml("name: other\nnamespace_name: cli_test\nstep_templates:\n  - {name: only, handler: ok}\n")
            .expect("template");
        let fulfil = create_task(&c, "C-1");
        c.run_task(fulfil).expect("run");
        let other = c
            .create_task(&tasker::TaskRequest {
                name: "other".into(),
                namespace: Some(NAMESPACE.into()),
                ..Default::default()
            })
            .expect("create")
            .task_id;
        c.run_task(other).expect("run");
        let future = "2200-01-01T00:00:00Z";

        // The wrong version or namespace matches nothing.
        for extra in [["--version", "9.9.9"], ["--namespace", "elsewhere"]] {
            let mut args = vec!["purge", "--finished-before", future, "--template", TEMPLATE];
            args.extend(extra);
            let none = tasker(&db.url, &args).ok().stdout;
            assert!(none.starts_with("purged 0 finished tasks"), "{none}");
        }
        let report = tasker(
            &db.url,
            &[
                "purge",
                "--finished-before",
                future,
                "--template",
                TEMPLATE,
                "--namespace",
                NAMESPACE,
                "--version",
                "1.2.0",
                "--json",
            ],
        )
        .ok()
        .json();
        assert_eq!(report["tasks"], 1, "{backend:?}");
        assert_eq!(task_ids(&db), vec![other], "{backend:?}");
        // A namespace without a template is refused by the argument parser.
        let bad = tasker(
            &db.url,
            &[
                "purge",
                "--finished-before",
                future,
                "--namespace",
                NAMESPACE,
            ],
        );
        assert_eq!(bad.code, 2, "{bad:?}");
    }
}

/// The ids `tasker tasks ls` lists, newest first.
fn task_ids(db: &TestDb) -> Vec<i64> {
    let left = tasker(&db.url, &["tasks", "ls", "--json"]).ok().json();
    left["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|t| t["task_id"].as_i64())
        .collect()
}

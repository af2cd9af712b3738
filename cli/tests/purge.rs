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
        let left = tasker(&db.url, &["tasks", "ls", "--json"]).ok().json();
        let ids: Vec<i64> = left["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|t| t["task_id"].as_i64())
            .collect();
        assert_eq!(ids, vec![pending, failed], "{backend:?}");

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

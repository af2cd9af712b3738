//! `tasker tasks ls` and `tasker steps ls` run as a binary on SQLite and PostgreSQL: every
//! filter flag reaches the library's filter, pages follow their cursor, `--all` follows them
//! all, bad values exit with 2.

mod common;

use common::*;
use serde_json::{json, Value};
use tasker::{Client, TaskRequest};

/// The ids of a listing's items, in order.
fn ids(page: &Value, key: &str) -> Vec<i64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i[key].as_i64())
        .collect()
}

fn create(c: &Client, order: &str, initiator: &str, tags: &[&str]) -> i64 {
    let req = TaskRequest {
        name: TEMPLATE.into(),
        namespace: Some(NAMESPACE.into()),
        context: json!({ "order": order }),
        initiator: Some(initiator.into()),
        source_system: Some(format!("{initiator}-system")),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    };
    c.create_task(&req).expect("task").task_id
}

#[test]
fn tasks_ls_filters_pages_and_prints_a_table() {
    for backend in BACKENDS {
        let db = fresh_db(backend);
        let c = client(&db, true);
        let failed = create(&c, "A-1", "alice", &["rush"]);
        c.run_task(failed).expect("run");
        let second = create(&c, "A-2", "bob", &["rush", "gift"]);
        let third = create(&c, "A-3", "bob", &[]);
        let ls = |args: &[&str]| {
            let mut all = vec!["tasks", "ls", "--json"];
            all.extend_from_slice(args);
            ids(&tasker(&db.url, &all).ok().json(), "task_id")
        };

        assert_eq!(ls(&[]), vec![third, second, failed], "{backend:?}");
        assert_eq!(ls(&["--state", "error"]), vec![failed], "{backend:?}");
        assert_eq!(
            ls(&["--state", "error", "--state", "pending"]),
            vec![third, second, failed]
        );
        assert_eq!(ls(&["--status", "blocked_by_failures"]), vec![failed]);
        assert_eq!(ls(&["--initiator", "bob"]), vec![third, second]);
        assert_eq!(ls(&["--source-system", "alice-system"]), vec![failed]);
        assert_eq!(ls(&["--tag", "rush"]), vec![second, failed]);
        assert_eq!(ls(&["--tag", "rush", "--tag", "gift"]), vec![second]);
        assert_eq!(
            ls(&[
                "--namespace",
                NAMESPACE,
                "--name",
                TEMPLATE,
                "--version",
                "1.2.0"
            ])
            .len(),
            3
        );
        assert!(ls(&["--version", "9.9.9"]).is_empty());
        assert!(ls(&["--namespace", "elsewhere"]).is_empty());
        // Time ranges: every task was created after 2020 and none after 2200.
        assert_eq!(ls(&["--created-after", "2020-01-01T00:00:00Z"]).len(), 3);
        assert!(ls(&["--created-after", "2200-01-01T00:00:00+01:00"]).is_empty());
        assert!(ls(&["--created-before", "2020-01-01T00:00:00Z"]).is_empty());
        assert_eq!(ls(&["--updated-before", "2200-01-01T00:00:00Z"]).len(), 3);
        assert!(ls(&["--updated-after", "2200-01-01T00:00:00Z"]).is_empty());

        // Pages of two: the cursor of the first leads to the rest; --all follows it.
        let first = tasker(&db.url, &["tasks", "ls", "--limit", "2", "--json"])
            .ok()
            .json();
        assert_eq!(ids(&first, "task_id"), vec![third, second]);
        let cursor = first["next_cursor"].as_str().expect("a next page");
        let rest = tasker(
            &db.url,
            &["tasks", "ls", "--limit", "2", "--cursor", cursor, "--json"],
        )
        .ok()
        .json();
        assert_eq!(ids(&rest, "task_id"), vec![failed]);
        let all = tasker(&db.url, &["tasks", "ls", "--limit", "1", "--all", "--json"])
            .ok()
            .json();
        assert_eq!(ids(&all, "task_id"), vec![third, second, failed]);
        assert_eq!(all["next_cursor"], Value::Null);

        let text = tasker(&db.url, &["tasks", "ls", "--limit", "2"])
            .ok()
            .stdout;
        let mut lines = text.lines();
        assert_eq!(
            lines
                .next()
                .map(|l| l.split_whitespace().collect::<Vec<_>>()),
            Some(vec![
                "id",
                "template",
                "state",
                "status",
                "steps",
                "initiator",
                "created"
            ])
        );
        let row: Vec<&str> = lines.next().expect("a row").split_whitespace().collect();
        let third_id = third.to_string();
        assert_eq!(
            row[..6],
            [
                third_id.as_str(),
                "cli_test.fulfil@1.2.0",
                "pending",
                "has_ready_steps",
                "0/4",
                "bob"
            ],
            "{text}"
        );
        assert!(row[6].ends_with('Z') && row[6].len() == 20, "{text}");
        assert!(
            text.ends_with(&format!("more: --cursor {second}\n")),
            "{text}"
        );

        for bad in [
            vec!["tasks", "ls", "--state", "asleep"],
            vec!["tasks", "ls", "--created-after", "yesterday"],
            vec!["tasks", "ls", "--limit", "-1"],
        ] {
            let run = tasker(&db.url, &bad);
            assert_eq!(run.code, 2, "{bad:?}: {run:?}");
        }
        let run = tasker(&db.url, &["tasks", "ls", "--limit", "0", "--json"]);
        assert_eq!(run.code, 3, "{run:?}");
        assert_eq!(run.error()["kind"], "invalid");
        let run = tasker(&db.url, &["tasks", "ls", "--cursor", "nope"]);
        assert_eq!(run.code, 3, "{run:?}");
    }
}

#[test]
fn steps_ls_filters_by_state_handler_and_task() {
    for backend in BACKENDS {
        let (db, c, task) = failed_task(backend);
        let other = create_task(&c, "B-1");
        let charge = step_id(&c, task, "charge");
        let ls = |args: &[&str]| {
            let mut all = vec!["steps", "ls", "--json"];
            all.extend_from_slice(args);
            ids(&tasker(&db.url, &all).ok().json(), "step_id")
        };

        assert_eq!(ls(&[]).len(), 8, "{backend:?}");
        assert_eq!(ls(&["--task", &other.to_string()]).len(), 4);
        assert_eq!(ls(&["--state", "error"]), vec![charge], "{backend:?}");
        assert_eq!(ls(&["--condition", "exhausted"]), vec![charge]);
        let mut charges = ls(&["--handler", "charge"]);
        charges.sort_unstable();
        assert_eq!(charges, vec![charge, step_id(&c, other, "charge")]);
        // Newest first: `reserve` was created after `validate`.
        let task_id = task.to_string();
        let complete_ok = ls(&["--handler", "ok", "--task", &task_id, "--state", "complete"]);
        assert_eq!(
            complete_ok,
            vec![step_id(&c, task, "reserve"), step_id(&c, task, "validate")]
        );
        let all = tasker(&db.url, &["steps", "ls", "--limit", "3", "--all", "--json"])
            .ok()
            .json();
        assert_eq!(ids(&all, "step_id").len(), 8);

        let text = tasker(&db.url, &["steps", "ls", "--state", "error"])
            .ok()
            .stdout;
        assert!(text.starts_with("id "), "{text}");
        let row = text.lines().nth(1).expect("a row");
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells[..6],
            [
                charge.to_string().as_str(),
                &task.to_string(),
                "charge",
                "charge",
                "error",
                "1/3"
            ],
            "{text}"
        );
        let bad = tasker(&db.url, &["steps", "ls", "--condition", "sleepy"]);
        assert_eq!(bad.code, 2, "{bad:?}");
    }
}

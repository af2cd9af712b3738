//! `tasker metrics` run as a binary on SQLite and PostgreSQL: the database-wide gauges in the
//! Prometheus text format and as the `--json` document; the CLI's own step series are empty.

mod common;

use common::*;
use serde_json::json;

#[test]
fn metrics_prints_the_database_gauges() {
    for backend in BACKENDS {
        let (db, c, _failed) = failed_task(backend);
        create_task(&c, "A-2"); // its first step is ready

        let doc = tasker(&db.url, &["metrics", "--json"]).ok().json();
        assert_eq!(doc["steps"], json!([]), "{backend:?}");
        assert_eq!(doc["ready_steps"], 1, "{backend:?}");
        let tasks = doc["tasks_by_state"].as_array().expect("states");
        assert_eq!(tasks.len(), 6);
        assert!(tasks.contains(&json!({"state": "error", "tasks": 1})));
        assert!(tasks.contains(&json!({"state": "pending", "tasks": 1})));

        let text = tasker(&db.url, &["metrics"]).ok().stdout;
        for line in [
            "# TYPE tasker_steps_completed_total counter\n",
            "# TYPE tasker_step_duration_seconds histogram\n",
            "tasker_ready_steps 1\n",
            "tasker_tasks{state=\"error\"} 1\n",
            "tasker_tasks{state=\"complete\"} 0\n",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }
}

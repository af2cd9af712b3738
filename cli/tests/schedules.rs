//! `tasker schedules` run as a binary on SQLite and PostgreSQL: add (validated), list,
//! disable, enable, remove, with text and `--json` output and the documented exit codes.

mod common;

use common::*;

#[test]
fn schedules_are_added_listed_toggled_and_removed() {
    for backend in BACKENDS {
        let db = fresh_db(backend);
        let _c = client(&db, false);
        let add = |cron: &str, zone: &str, context: &str, extra: &[&str]| {
            let mut args = vec![
                "schedules",
                "add",
                "nightly",
                "--template",
                TEMPLATE,
                "--namespace",
                NAMESPACE,
                "--cron",
                cron,
                "--time-zone",
                zone,
                "--context",
                context,
            ];
            args.extend_from_slice(extra);
            tasker(&db.url, &args)
        };
        let (cron, zone, context) = ("0 2 * * *", "Europe/Paris", r#"{"order": "N-1"}"#);
        let stored = add(cron, zone, context, &["--missed", "catch_up", "--json"])
            .ok()
            .json();
        assert_eq!(stored["name"], "nightly", "{backend:?}");
        assert_eq!(stored["time_zone"], "Europe/Paris");
        assert_eq!(stored["missed"], "catch_up");
        assert_eq!(stored["max_catch_up"], 10);
        assert_eq!(stored["context"], serde_json::json!({"order": "N-1"}));
        assert_eq!(stored["enabled"], true);

        let text = tasker(&db.url, &["schedules", "ls"]).ok().stdout;
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("name "), "{text}");
        assert!(
            lines[1].starts_with("nightly  cli_test.fulfil  0 2 * * *  Europe/Paris  enabled"),
            "{text}"
        );

        let off = tasker(&db.url, &["schedules", "disable", "nightly", "--json"])
            .ok()
            .json();
        assert_eq!(off["enabled"], false);
        let on = tasker(&db.url, &["schedules", "enable", "nightly"])
            .ok()
            .stdout;
        assert!(
            on.starts_with("schedule nightly enabled; next tick "),
            "{on}"
        );

        let bad = add("0 25 * * *", zone, context, &["--json"]);
        assert_eq!(bad.code, 3, "{bad:?}");
        assert!(
            bad.error()["message"]
                .as_str()
                .unwrap()
                .contains("cron expression '0 25 * * *'"),
            "{bad:?}"
        );
        let bad_zone = add(cron, "Nowhere/City", context, &[]);
        assert_eq!(bad_zone.code, 3, "{bad_zone:?}");
        let bad_context = add(cron, zone, "{not json", &[]);
        assert_eq!(bad_context.code, 3, "{bad_context:?}");

        let rm = tasker(&db.url, &["schedules", "rm", "nightly", "--json"])
            .ok()
            .json();
        assert_eq!(rm, serde_json::json!({"deleted": "nightly"}));
        let listed = tasker(&db.url, &["schedules", "ls", "--json"]).ok().json();
        assert_eq!(listed, serde_json::json!([]));
        for cmd in ["rm", "enable", "disable"] {
            let missing = tasker(&db.url, &["schedules", cmd, "nightly"]);
            assert_eq!(missing.code, 4, "{cmd}: {missing:?}");
        }
    }
}

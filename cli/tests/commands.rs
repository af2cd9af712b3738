//! Every `tasker` command run as a binary on SQLite and PostgreSQL: `--json` output parsed,
//! text output checked for what a person reads, exit codes checked.

mod common;

use common::*;
use serde_json::Value;
use std::io::Write;

/// `templates show` of the test template, at `version` or the latest, as JSON.
fn show_template(url: &str, version: Option<&str>) -> Value {
    let mut args = vec![
        "templates",
        "show",
        TEMPLATE,
        "--namespace",
        NAMESPACE,
        "--json",
    ];
    args.extend(version.iter().flat_map(|v| ["--version", *v]));
    tasker(url, &args).ok().json()
}

/// One string field of every element of a JSON array.
fn strings<'a>(docs: &'a Value, key: &str) -> Vec<&'a str> {
    docs.as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d[key].as_str())
        .collect()
}

#[test]
fn migrate_health_and_registered_templates() {
    for backend in BACKENDS {
        let db = fresh_db(backend);
        let run = tasker(&db.url, &["migrate", "--json"]).ok();
        assert_eq!(
            run.json(),
            serde_json::json!({"migrated": true}),
            "{backend:?}"
        );

        let c = client(&db, true);
        create_task(&c, "A-1");
        create_task(&c, "A-2");

        let health = tasker(&db.url, &["health", "--json"]).ok().json();
        assert_eq!(health["total_tasks"], 2, "{backend:?}");
        assert_eq!(health["total_steps"], 8, "{backend:?}");
        let text = tasker(&db.url, &["health"]).ok().stdout;
        assert!(text.contains("tasks ") && text.contains("steps "), "{text}");

        let ls = tasker(&db.url, &["templates", "ls", "--json"]).ok().json();
        assert_eq!(strings(&ls, "name"), vec![TEMPLATE], "{backend:?}");
        let text = tasker(&db.url, &["templates", "ls"]).ok().stdout;
        assert!(
            text.contains("cli_test.fulfil@1.2.0  4 steps  a diamond"),
            "{text}"
        );

        let show = show_template(&db.url, None);
        assert_eq!(show["version"], "1.2.0");
        assert_eq!(show["step_templates"].as_array().map(Vec::len), Some(4));
        let text = tasker(
            &db.url,
            &["templates", "show", TEMPLATE, "--namespace", NAMESPACE],
        )
        .ok()
        .stdout;
        assert!(
            text.contains("layer 3\n  [ ] ship      <- reserve, charge\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "retry limit 3  concurrency 2 per handler  rate 5 per 1000 ms per handler\n"
            ),
            "{text}"
        );

        // Versions in semantic order (1.10.0 after 1.9.0); `show` without --version: the latest.
        for version in ["1.10.0", "1.9.0"] {
            c.register_template_yaml(&TEMPLATE_YAML.replace("1.2.0", version))
                .expect("template");
        }
        let ls = tasker(&db.url, &["templates", "ls", "--json"]).ok().json();
        assert_eq!(
            strings(&ls, "version"),
            vec!["1.2.0", "1.9.0", "1.10.0"],
            "{backend:?}"
        );
        assert_eq!(
            show_template(&db.url, None)["version"],
            "1.10.0",
            "{backend:?}"
        );
        assert_eq!(
            show_template(&db.url, Some("1.9.0"))["version"],
            "1.9.0",
            "{backend:?}"
        );

        // Not in this namespace, not at this version.
        let missing = tasker(&db.url, &["templates", "show", TEMPLATE, "--json"]);
        assert_eq!(missing.code, 4, "{missing:?}");
        assert_eq!(missing.error()["kind"], "not_found");
        let missing = tasker(
            &db.url,
            &[
                "templates",
                "show",
                TEMPLATE,
                "--namespace",
                NAMESPACE,
                "--version",
                "9.0.0",
            ],
        );
        assert_eq!(missing.code, 4, "{missing:?}");
    }
}

#[test]
fn task_show_prints_the_deadline_and_concurrency_limits() {
    for backend in BACKENDS {
        let db = fresh_db(backend);
        let c = client(&db, false);
        c.register_template_yaml(
            "name: limited\nnamespace_name: cli_test\nstep_templates:\n  \
             - {name: one, handler: ok, concurrency: {limit: 2, key: /order}}\n  \
             - {name: free, handler: ok}\n",
        )
        .expect("template");
        let task = c
            .create_task(&tasker::TaskRequest {
                name: "limited".into(),
                namespace: Some(NAMESPACE.into()),
                context: serde_json::json!({"order": "D-1"}),
                deadline_ms: Some(3_600_000),
                ..Default::default()
            })
            .expect("create")
            .task_id
            .to_string();
        let view = tasker(&db.url, &["task", "show", &task, "--json"])
            .ok()
            .json();
        let deadline = view["deadline_at"].as_i64().expect("deadline_at");
        assert!(deadline > 0, "{view}");
        let step = |name: &str| {
            view["steps"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["name"] == name))
                .cloned()
                .unwrap_or(Value::Null)
        };
        assert_eq!(step("one")["concurrency_key"], "handler:ok:D-1", "{view}");
        assert_eq!(step("one")["concurrency_limit"], 2, "{view}");
        assert_eq!(step("free")["concurrency_key"], Value::Null, "{view}");
        assert_eq!(step("free")["concurrency_limit"], Value::Null, "{view}");

        let text = tasker(&db.url, &["task", "show", &task]).ok().stdout;
        assert!(text.contains("\ndeadline 20"), "{text}");
        let row = |name: &str| {
            text.lines()
                .find(|l| l.contains(&format!(" {name} ")))
                .unwrap_or_default()
                .to_string()
        };
        assert!(row("one").contains(" 2 handler:ok:D-1 "), "{text}");
        assert!(!row("free").contains("handler:"), "{text}");
    }
}

#[test]
fn task_show_and_dag_in_every_format() {
    for backend in BACKENDS {
        let (db, _client, task) = failed_task(backend);
        let id = task.to_string();

        let view = tasker(&db.url, &["task", "show", &id, "--json"])
            .ok()
            .json();
        assert_eq!(view["task_id"], task, "{backend:?}");
        assert_eq!(view["state"], "error");
        let state_of = |name: &str| -> Value {
            view["steps"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["name"] == name))
                .map(|s| s["state"].clone())
                .unwrap_or(Value::Null)
        };
        assert_eq!(state_of("validate"), "complete");
        assert_eq!(state_of("charge"), "error");
        assert_eq!(state_of("ship"), "pending");
        assert_eq!(view["steps"][0]["priority"], 0, "{view}");
        assert_eq!(view["steps"][0]["timeout_ms"], Value::Null, "{view}");

        let text = tasker(&db.url, &["task", "show", &id]).ok().stdout;
        assert!(text.contains("cli_test.fulfil@1.2.0  error"), "{text}");
        assert!(text.contains(" attempts  priority  concurrency "), "{text}");
        assert!(!text.contains("deadline"), "{text}");
        let charge = text
            .lines()
            .find(|l| l.contains(" charge "))
            .expect("charge row");
        assert!(
            charge.contains("error") && charge.contains("1/3"),
            "{charge}"
        );
        assert!(
            charge.ends_with("PermanentError: card declined"),
            "{charge}"
        );
        assert!(
            text.contains("layer 2\n  [x] reserve   complete  <- validate\n"),
            "{text}"
        );

        let dag = tasker(&db.url, &["task", "dag", &id]).ok().stdout;
        assert!(
            dag.starts_with("layer 1\n  [x] validate  complete\n"),
            "{dag}"
        );
        assert!(dag.contains("[!] charge    error     <- validate"), "{dag}");
        let dot = tasker(&db.url, &["task", "dag", &id, "--format", "dot"])
            .ok()
            .stdout;
        assert!(
            dot.starts_with(&format!("digraph \"task {task}\" {{")),
            "{dot}"
        );
        assert!(dot.contains("\"charge\" -> \"ship\";"), "{dot}");
        let mermaid = tasker(&db.url, &["task", "dag", &id, "--format", "mermaid"])
            .ok()
            .stdout;
        assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
        assert!(mermaid.contains("charge<br/>error"), "{mermaid}");
        let doc = tasker(
            &db.url,
            &["task", "dag", &id, "--format", "mermaid", "--json"],
        )
        .ok()
        .json();
        assert_eq!(doc["format"], "mermaid");
        assert_eq!(doc["dag"], mermaid.as_str());
        let svg = tasker(&db.url, &["task", "dag", &id, "--format", "svg"])
            .ok()
            .stdout;
        assert!(svg.trim_start().starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(
            svg.contains("state-error"),
            "the failed step is drawn as such: {svg}"
        );
        assert!(svg.contains("state-complete"), "{svg}");
        assert_eq!(svg.matches("<g class=\"step ").count(), 4, "{svg}");

        let unknown = tasker(&db.url, &["task", "show", "999999", "--json"]);
        assert_eq!(unknown.code, 4, "{unknown:?}");
        assert_eq!(unknown.error()["kind"], "not_found");
        let unknown = tasker(&db.url, &["task", "dag", "999999"]);
        assert_eq!(unknown.code, 4, "{unknown:?}");
        let bad_format = tasker(&db.url, &["task", "dag", &id, "--format", "png"]);
        assert_eq!(bad_format.code, 2, "{bad_format:?}");
    }
}

#[test]
fn step_retry_and_resolve_unblock_the_task() {
    for backend in BACKENDS {
        let (db, c, task) = failed_task(backend);
        let charge = step_id(&c, task, "charge").to_string();

        let run = tasker(&db.url, &["step", "retry", &charge, "--json"]).ok();
        assert_eq!(
            run.json(),
            serde_json::json!({"step_id": step_id(&c, task, "charge"), "retried": true})
        );
        assert_eq!(
            c.task_view(task)
                .expect("view")
                .step("charge")
                .map(|s| s.state),
            Some(tasker::State::Pending),
            "{backend:?}"
        );

        c.run_task(task).expect("run again");
        let bad = tasker(
            &db.url,
            &["step", "resolve", &charge, "--results", "{not json"],
        );
        assert_eq!(bad.code, 3, "{bad:?}");
        let run = tasker(
            &db.url,
            &[
                "step",
                "resolve",
                &charge,
                "--results",
                r#"{"charged": "by hand"}"#,
            ],
        )
        .ok();
        assert_eq!(run.stdout, format!("step {charge} resolved manually\n"));
        let again = tasker(
            &db.url,
            &["step", "resolve", &charge, "--results", "{}", "--json"],
        );
        assert_eq!(again.code, 5, "{again:?}");
        assert_eq!(again.error()["kind"], "refused");

        let done = c.run_task(task).expect("run to the end");
        assert_eq!(done.task_state, tasker::State::Complete, "{backend:?}");
        let view = tasker(&db.url, &["task", "show", &task.to_string(), "--json"])
            .ok()
            .json();
        assert_eq!(view["state"], "complete");

        let validate = step_id(&c, task, "validate").to_string();
        let complete = tasker(&db.url, &["step", "retry", &validate, "--json"]);
        assert_eq!(complete.code, 5, "{complete:?}");
        assert_eq!(complete.error()["kind"], "refused");
        let unknown = tasker(&db.url, &["step", "retry", "999999"]);
        assert_eq!(unknown.code, 4, "{unknown:?}");
    }
}

#[test]
fn task_cancel_once() {
    for backend in BACKENDS {
        let db = fresh_db(backend);
        let c = client(&db, false);
        let task = create_task(&c, "A-1").to_string();
        let run = tasker(&db.url, &["task", "cancel", &task, "--json"]).ok();
        assert_eq!(run.json()["cancelled"], true, "{backend:?}");
        let again = tasker(&db.url, &["task", "cancel", &task]);
        assert_eq!(again.code, 5, "{again:?}");
        assert!(again.stderr.starts_with("tasker: "), "{again:?}");
        let view = tasker(&db.url, &["task", "show", &task, "--json"])
            .ok()
            .json();
        assert_eq!(view["state"], "cancelled");
    }
}

#[test]
fn task_watch_follows_a_task_to_its_end() {
    for backend in BACKENDS {
        let db = fresh_db(backend);
        let c = client(&db, false);
        let task = create_task(&c, "A-1");
        // Started before the task runs: it sees it pending, then follows it to the end.
        let watch = tasker_cmd(
            &db.url,
            &[
                "task",
                "watch",
                &task.to_string(),
                "--interval",
                "0.05",
                "--json",
            ],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("watch starts");
        c.run_task(task).expect("run");
        let run = wait(watch).ok();
        let docs: Vec<Value> = run
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        let (last, progress) = docs.split_last().expect("output");
        assert_eq!(last["task_id"], task, "{backend:?}");
        assert_eq!(last["state"], "complete");
        assert!(!progress.is_empty());
        assert!(
            progress.iter().all(|p| p["total_steps"] == 4),
            "{progress:?}"
        );
        assert_eq!(
            progress.last().map(|p| p["completion_percentage"].clone()),
            Some(serde_json::json!(100.0))
        );

        let text = tasker(&db.url, &["task", "watch", &task.to_string()])
            .ok()
            .stdout;
        assert!(text.contains("  step ship: complete\n"), "{text}");
        assert!(
            text.ends_with(&format!(
                "[{}] 100.00%  4/4 steps  complete\n",
                "#".repeat(30)
            )),
            "{text}"
        );

        // A task that ends in error: exit code 7.
        let failing = client(&db, true);
        let task = create_task(&failing, "A-2");
        failing.run_task(task).expect("run");
        let run = tasker(&db.url, &["task", "watch", &task.to_string(), "--json"]);
        assert_eq!(run.code, 7, "{run:?}");
        assert_eq!(run.error()["kind"], "unfinished");
        let bad = tasker(
            &db.url,
            &["task", "watch", &task.to_string(), "--interval", "0"],
        );
        assert_eq!(bad.code, 3, "{bad:?}");
    }
}

#[test]
fn the_database_url_option_wins_over_the_environment() {
    for backend in BACKENDS {
        let db = fresh_db(backend);
        let c = client(&db, false);
        create_task(&c, "A-1");
        let other = fresh_db(backend);
        let run = tasker(&other.url, &["health", "--json", "--database-url", &db.url]).ok();
        assert_eq!(run.json()["total_tasks"], 1, "{backend:?}");
    }
}

#[test]
fn an_unreachable_database_exits_with_6() {
    // Port 1 on the loopback interface: nothing listens there.
    let run = tasker(
        "postgres://nobody:s3cr3t-sentinel@127.0.0.1:1/none",
        &["health", "--json"],
    );
    assert_eq!(run.code, 6, "{run:?}");
    assert_eq!(run.error()["kind"], "unreachable");
    assert!(!run.stderr.contains("s3cr3t-sentinel"), "{run:?}");
}

fn template_file(yaml: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("file");
    f.write_all(yaml.as_bytes()).expect("write");
    f
}

#[test]
fn templates_validate_needs_no_database() {
    // An unreachable database: validation must not try to connect.
    let url = "postgres://nobody@127.0.0.1:1/none";
    let valid = template_file(TEMPLATE_YAML);
    let path = valid.path().to_str().expect("utf-8 path");
    let run = tasker(url, &["templates", "validate", path, "--json"]).ok();
    assert_eq!(
        run.json(),
        serde_json::json!({"valid": true, "template": "cli_test.fulfil@1.2.0", "steps": 4})
    );

    let cyclic = template_file(
        "name: loop\nstep_templates:\n  - {name: a, handler: h, depends_on_step: c}\n  \
         - {name: b, handler: h, depends_on_step: a}\n  - {name: c, handler: h, depends_on_step: b}\n",
    );
    let path = cyclic.path().to_str().expect("utf-8 path");
    let run = tasker(url, &["templates", "validate", path, "--json"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stdout.is_empty());
    let error = run.error();
    assert_eq!(error["kind"], "invalid");
    let cycle: Vec<&str> = error["cycle"]
        .as_array()
        .expect("cycle")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(cycle.len(), 4, "{error}");
    assert_eq!(cycle.first(), cycle.last());
    let text = tasker(url, &["templates", "validate", path]);
    assert_eq!(text.code, 3);
    assert!(
        text.stderr
            .starts_with("tasker: cycle in template 'loop': "),
        "{text:?}"
    );

    let unknown = template_file(
        "name: t\nstep_templates:\n  - {name: a, handler: h, depends_on_step: nowhere}\n",
    );
    let run = tasker(
        url,
        &[
            "templates",
            "validate",
            unknown.path().to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr
            .contains("step 'a' depends on unknown step 'nowhere'"),
        "{run:?}"
    );

    // An override that only the `staging` environment applies breaks the graph.
    let overridden = template_file(
        "name: t\nstep_templates:\n  - {name: a, handler: h}\nenvironments:\n  staging:\n    \
         step_templates:\n      - {name: a, depends_on_step: ghost}\n",
    );
    let path = overridden.path().to_str().expect("utf-8 path");
    tasker(url, &["templates", "validate", path]).ok();
    let run = tasker(
        url,
        &["templates", "validate", path, "--environment", "staging"],
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("unknown step 'ghost'"), "{run:?}");

    let run = tasker(
        url,
        &["templates", "validate", "/nonexistent/template.yaml"],
    );
    assert_eq!(run.code, 3, "{run:?}");
}

#[test]
fn usage_errors_exit_with_2() {
    let run = tasker("sqlite::memory:", &["task", "show", "not-a-number"]);
    assert_eq!(run.code, 2, "{run:?}");
    let run = tasker("sqlite::memory:", &["frobnicate"]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn help_never_shows_the_database_url_of_the_environment() {
    let run = tasker("postgres://ops:s3cr3t-sentinel@db.example/x", &["--help"]).ok();
    assert!(run.stdout.contains("TASKER_DATABASE_URL"), "{run:?}");
    assert!(!run.stdout.contains("s3cr3t-sentinel"), "{run:?}");
}

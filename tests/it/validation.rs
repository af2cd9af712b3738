//! Template and request validation, identity, bad input: clear errors and nothing persisted.

use crate::common::*;
use serde_json::json;
use std::sync::Arc;
use tasker::{Error, State};

fn assert_nothing_persisted(c: &tasker::Client) {
    let h = c.health().unwrap();
    assert_eq!((h.total_tasks, h.total_steps), (0, 0), "nothing persisted");
}

both_backends!(cyclic_and_invalid_templates_are_rejected, |b| {
    let (c, _db) = client(b);
    let err = c
        .register_template_yaml("name: t\nstep_templates:\n  - {name: A, handler: h, depends_on_step: B}\n  - {name: B, handler: h, depends_on_step: A}\n")
        .unwrap_err();
    assert!(
        matches!(&err, Error::TemplateCycle { cycle, .. } if cycle == &["A", "B", "A"]),
        "{err}"
    );
    let err = c
        .register_template_yaml("name: t\nstep_templates:\n  - {name: A, handler: h, depends_on_step: C}\n  - {name: B, handler: h, depends_on_step: A}\n  - {name: C, handler: h, depends_on_step: B}\n")
        .unwrap_err();
    assert_eq!(err.to_string(), "cycle in template 't': A -> C -> B -> A");
    let err = c
        .register_template_yaml(
            "name: t\nstep_templates:\n  - {name: A, handler: h, depends_on_steps: [nope]}\n",
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("depends on unknown step 'nope'"),
        "{err}"
    );
    let err = c
        .register_template_yaml(
            "name: t\nstep_templates:\n  - {name: A, handler: h}\n  - {name: A, handler: h}\n",
        )
        .unwrap_err();
    assert!(err.to_string().contains("duplicate step name 'A'"), "{err}");
    let err = c
        .register_template_yaml(
            "name: t\nversion: banana\nstep_templates:\n  - {name: A, handler: h}\n",
        )
        .unwrap_err();
    assert!(err.to_string().contains("not a semantic version"), "{err}");
    let err = c
        .register_template_yaml("name: t\nstep_templates: [\n")
        .unwrap_err();
    assert!(err.to_string().contains("malformed YAML"), "{err}");
    let err = c
        .register_template_yaml(
            "name: t\nschema: {type: 12}\nstep_templates:\n  - {name: A, handler: h}\n",
        )
        .unwrap_err();
    assert!(err.to_string().contains("invalid JSON Schema"), "{err}");
    // The template was never registered, so no task can be made from it.
    let err = c.create_task(&req("t", json!({}))).unwrap_err();
    assert!(matches!(err, Error::UnknownTemplate(_)), "{err}");
    assert_nothing_persisted(&c);
});

const SCHEMA_TEMPLATE: &str = r#"
name: order
version: 2.0.0
schema:
  type: object
  required: [order_id, items]
  properties:
    order_id: {type: integer}
    items:
      type: array
      items:
        type: object
        required: [sku, qty]
        properties:
          sku: {type: string}
          qty: {type: integer, minimum: 1}
step_templates:
  - {name: validate, handler: square}
"#;

both_backends!(context_failing_schema_is_rejected_with_path, |b| {
    let (c, _db) = client(b);
    c.register_template_yaml(SCHEMA_TEMPLATE).unwrap();
    let err = c
        .create_task(&req(
            "order",
            json!({"order_id": 1, "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 0}]}),
        ))
        .unwrap_err();
    assert!(matches!(err, Error::SchemaValidation(_)), "{err}");
    assert!(err.to_string().contains("/items/1/qty"), "{err}");
    let err = c
        .create_task(&req("order", json!({"items": []})))
        .unwrap_err();
    assert!(err.to_string().contains("order_id"), "{err}");
    let err = c.create_task(&req("order", json!([1, 2]))).unwrap_err();
    assert!(err.to_string().contains("context must be a map"), "{err}");
    assert_nothing_persisted(&c);
    let ok = c
        .create_task(&req(
            "order",
            json!({"order_id": 1, "items": [{"sku": "a", "qty": 2}]}),
        ))
        .unwrap();
    assert!(ok.created);
});

both_backends!(unknown_template_version_and_namespace, |b| {
    let (c, _db) = client(b);
    c.register_template_yaml(SCHEMA_TEMPLATE).unwrap();
    c.register_template_yaml(&SCHEMA_TEMPLATE.replace("2.0.0", "10.0.0"))
        .unwrap();
    let e = c
        .create_task(&tasker::TaskRequest {
            version: Some("3.0.0".into()),
            ..req("order", json!({"order_id": 1, "items": []}))
        })
        .unwrap_err();
    assert_eq!(e.to_string(), "unknown template 'default.order@3.0.0'");
    let e = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("other".into()),
            ..req("order", json!({}))
        })
        .unwrap_err();
    assert!(matches!(e, Error::UnknownTemplate(_)));
    let e = c.create_task(&req("", json!({}))).unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)));
    // Latest version (semver order, not string order) is used when none is given.
    let t = c
        .create_task(&req("order", json!({"order_id": 1, "items": []})))
        .unwrap();
    assert_eq!(c.task_view(t.task_id).unwrap().version, "10.0.0");
});

both_backends!(identity_dedup, |b| {
    let (c, _db) = client(b);
    c.register_template_yaml(SCHEMA_TEMPLATE).unwrap();
    let ctx1: serde_json::Value =
        serde_json::from_str(r#"{"order_id": 7, "items": [{"sku": "x", "qty": 1}]}"#).unwrap();
    let ctx2: serde_json::Value =
        serde_json::from_str(r#"{"items": [{"qty": 1, "sku": "x"}], "order_id": 7}"#).unwrap();
    let a = c.create_task(&req("order", ctx1)).unwrap();
    let b2 = c.create_task(&req("order", ctx2)).unwrap();
    assert!(a.created);
    assert!(
        !b2.created,
        "same request in another key order is the same task"
    );
    assert_eq!(a.task_id, b2.task_id);
    let other = c
        .create_task(&req("order", json!({"order_id": 8, "items": []})))
        .unwrap();
    assert!(other.created);
    assert_ne!(other.task_id, a.task_id);
    assert_eq!(c.health().unwrap().total_tasks, 2);
    // With reject_duplicates the same request is an error naming the existing task.
    let cfg = tasker::Config {
        reject_duplicates: true,
        ..fast_config()
    };
    let strict = tasker::Client::connect_with(&_db.url, cfg, None).unwrap();
    let e = strict
        .create_task(&req("order", json!({"order_id": 8, "items": []})))
        .unwrap_err();
    assert!(
        matches!(e, Error::DuplicateTask(id) if id == other.task_id),
        "{e}"
    );
});

both_backends!(bad_input_is_reported_cleanly, |b| {
    let mut cfg = fast_config();
    cfg.max_payload_bytes = 1024;
    let (c, _db) = client_with(b, cfg, None);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml("name: t\nstep_templates:\n  - {name: a, handler: square}\n  - {name: b, handler: not_registered, depends_on_step: a}\n").unwrap();
    // Oversized context: rejected, nothing written.
    let big = "x".repeat(2000);
    let e = c.create_task(&req("t", json!({"blob": big}))).unwrap_err();
    assert!(
        matches!(e, Error::PayloadTooLarge { size, limit: 1024, .. } if size > 2000),
        "{e}"
    );
    assert_nothing_persisted(&c);
    // Bypass or inputs naming unknown steps are rejected.
    let e = c
        .create_task(&tasker::TaskRequest {
            bypass_steps: vec!["zzz".into()],
            ..req("t", json!({}))
        })
        .unwrap_err();
    assert!(e.to_string().contains("unknown step 'zzz'"), "{e}");
    assert_nothing_persisted(&c);
    // A step whose handler is not registered fails with a clear class, permanently.
    let t = c.create_task(&req("t", json!({"n": 3}))).unwrap();
    let ctx = c.run_task(t.task_id).unwrap();
    assert_eq!(ctx.task_state, State::Error);
    let v = c.task_view(t.task_id).unwrap();
    let s = v.step("b").unwrap();
    assert_eq!(s.attempts, 1);
    let err = &s.results.as_ref().unwrap()["error"];
    assert_eq!(err["class"], json!("HandlerNotFound"));
    assert!(err["message"].as_str().unwrap().contains("not_registered"));
    // Oversized results are a failed attempt, not a crash.
    c.register_fn("not_registered", |_ctx| {
        Ok(json!({"blob": "y".repeat(5000)}))
    })
    .unwrap();
    c.retry_step(s.step_id).unwrap();
    c.run_task(t.task_id).unwrap();
    let s = c
        .task_view(t.task_id)
        .unwrap()
        .steps
        .into_iter()
        .find(|s| s.name == "b")
        .unwrap();
    assert_eq!(
        s.results.as_ref().unwrap()["error"]["class"],
        json!("PayloadTooLarge")
    );
    // Unknown ids.
    assert!(matches!(
        c.task_view(999_999).unwrap_err(),
        Error::TaskNotFound(999_999)
    ));
    assert!(matches!(
        c.retry_step(999_999).unwrap_err(),
        Error::StepNotFound(999_999)
    ));
    assert!(matches!(
        c.handle_step(999_999).unwrap_err(),
        Error::StepNotFound(999_999)
    ));
});

#[test]
fn unsupported_url_and_bad_config() {
    let e = tasker::Client::connect("mysql://localhost/x").unwrap_err();
    assert!(e.to_string().contains("unsupported database URL"), "{e}");
    let cfg = tasker::Config {
        claim_batch: 0,
        ..Default::default()
    };
    let e = tasker::Client::connect_with("sqlite::memory:", cfg, None).unwrap_err();
    assert!(e.to_string().contains("claim_batch"), "{e}");
}

#[test]
fn in_memory_sqlite_works() {
    let c = tasker::Client::connect_with("sqlite::memory:", fast_config(), None).unwrap();
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(DIAMOND).unwrap();
    let t = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("diamond", json!({"n": 2}))
        })
        .unwrap();
    assert_eq!(c.run_task(t.task_id).unwrap().task_state, State::Complete);
}

both_backends!(
    template_registered_by_another_client_is_found_in_storage,
    |b| {
        let (c, db) = client(b);
        c.register_template_yaml(DIAMOND).unwrap();
        let other = tasker::Client::connect_with(&db.url, fast_config(), None).unwrap();
        let t = other
            .create_task(&tasker::TaskRequest {
                namespace: Some("tests".into()),
                ..req("diamond", json!({"n": 1}))
            })
            .unwrap();
        assert!(t.created);
        assert_eq!(other.task_view(t.task_id).unwrap().steps.len(), 4);
    }
);

/// `{"k": {"k": ... 1}}`, `depth` maps deep.
fn nested(depth: usize) -> serde_json::Value {
    let mut v = json!(1);
    for _ in 0..depth {
        v = json!({ "k": v });
    }
    v
}

both_backends!(poison_documents_never_reach_storage, |b| {
    let (c, _db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(LINEAR).unwrap();
    let linear = |context: serde_json::Value| tasker::TaskRequest {
        namespace: Some("tests".into()),
        ..req("linear", context)
    };
    // Each poison names its field and is refused before anything is written.
    let poisons: Vec<(&str, tasker::TaskRequest)> = vec![
        ("context.deep", linear(json!({ "deep": nested(64) }))),
        ("context.deep", linear(json!({ "deep": nested(500) }))),
        ("context.s[1]", linear(json!({ "s": ["ok", "a\u{0}b"] }))),
        ("context.a\\0", linear(json!({ "a\u{0}": 1 }))),
        (
            "initiator",
            tasker::TaskRequest {
                initiator: Some("me\u{0}".into()),
                ..linear(json!({ "n": 1 }))
            },
        ),
        (
            "step_inputs.b.k",
            tasker::TaskRequest {
                step_inputs: json!({ "b": nested(70) }).as_object().unwrap().clone(),
                ..linear(json!({ "n": 1 }))
            },
        ),
    ];
    let mut ordinary = Vec::new();
    for (i, (field, poison)) in poisons.into_iter().enumerate() {
        ordinary.push(c.create_task(&linear(json!({ "n": i }))).unwrap().task_id);
        let err = c.create_task(&poison).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidDocument { path, .. } if path.starts_with(field)),
            "{field}: {err}"
        );
    }
    // Fifty ordinary tasks in all around the poisons.
    while ordinary.len() < 49 {
        let n = ordinary.len();
        ordinary.push(c.create_task(&linear(json!({ "n": n }))).unwrap().task_id);
    }
    // The deepest context the policy allows is stored and read back by every backend.
    ordinary.push(
        c.create_task(&linear(json!({ "n": 2, "deep": nested(63) })))
            .unwrap()
            .task_id,
    );
    while c.run_once().unwrap() > 0 {}
    for id in &ordinary {
        assert_eq!(
            c.task_view(*id).unwrap().state,
            State::Complete,
            "task {id}"
        );
    }
    let h = c.health().unwrap();
    assert_eq!(h.total_tasks, ordinary.len() as i64, "no poison was stored");
});

both_backends!(poison_results_fail_the_step_and_resolve_refuses_them, |b| {
    let (c, _db) = client(b);
    for (name, handler) in [("deep_r", "deep_results"), ("deep_d", "deep_details")] {
        c.register_template_yaml(&format!(
            "name: {name}\nnamespace_name: tests\nstep_templates:\n  - {{name: s, handler: {handler}}}\n"
        ))
        .unwrap();
    }
    c.register_fn("deep_results", |_ctx| Ok(json!({ "r": nested(100) })))
        .unwrap();
    c.register_fn("deep_details", |_ctx| {
        Err(tasker::StepError {
            message: "bad\u{0}message".into(),
            details: nested(100),
            retryable: false,
            ..Default::default()
        })
    })
    .unwrap();
    let create = |name: &str| {
        c.create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req(name, json!({}))
        })
        .unwrap()
        .task_id
    };
    let (r, d) = (create("deep_r"), create("deep_d"));
    while c.run_once().unwrap() > 0 {}
    // Neither step stalls: both failures are recorded (permanent), and the tasks are blocked.
    let v = c.task_view(r).unwrap();
    assert_eq!(v.state, State::Error);
    let s = v.step("s").unwrap();
    assert_eq!(s.state, State::Error);
    let err = &s.results.as_ref().unwrap()["error"];
    assert_eq!(err["class"], "InvalidDocument", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("results.r"),
        "{err}"
    );
    let vd = c.task_view(d).unwrap();
    assert_eq!(vd.state, State::Error);
    let f = &vd.step("s").unwrap().results.as_ref().unwrap()["error"];
    assert_eq!(f["message"], "bad\\0message", "{f}");
    assert!(f["details"]["invalid_details"].is_string(), "{f}");
    // An operator's results obey the same policy.
    let err = c.resolve_step(s.step_id, nested(65)).unwrap_err();
    assert!(matches!(err, Error::InvalidDocument { .. }), "{err}");
    assert!(c
        .resolve_step(s.step_id, json!({"fixed": "\u{0}"}))
        .is_err());
    assert!(c.resolve_step(s.step_id, json!({"fixed": true})).unwrap());
    // A template's handler_config too.
    let err = c
        .register_template_value(json!({
            "name": "deep_config",
            "step_templates": [{"name": "s", "handler": "h", "handler_config": nested(65)}]
        }))
        .unwrap_err();
    assert!(err.to_string().contains("handler_config"), "{err}");
});

both_backends!(numbers_beyond_the_documented_maxima_are_refused, |b| {
    // Client options: a backoff or lease that storage cannot add to the time.
    let db = new_db(b);
    for (what, cfg) in [
        (
            "max_ms",
            tasker::Config {
                backoff: tasker::BackoffConfig {
                    max_ms: i64::MAX as u64,
                    ..Default::default()
                },
                ..fast_config()
            },
        ),
        (
            "base_ms",
            tasker::Config {
                backoff: tasker::BackoffConfig {
                    base_ms: 1_000_000_000_000_000_000,
                    factor: 10.0,
                    ..Default::default()
                },
                ..fast_config()
            },
        ),
        (
            "lease_ms",
            tasker::Config {
                lease_ms: i64::MAX as u64,
                ..fast_config()
            },
        ),
    ] {
        let err = tasker::Client::connect_with(&db.url, cfg, None).unwrap_err();
        assert!(
            matches!(&err, Error::Config(m) if m.contains(what)),
            "{what}: {err}"
        );
    }
    // Template values.
    let (c, _db) = client(b);
    for (what, extra) in [
        ("lease_ms", format!(", lease_ms: {}", i64::MAX)),
        (
            "default_retry_limit",
            format!(", default_retry_limit: {}", i64::MAX),
        ),
        ("max_ms", format!(", backoff: {{max_ms: {}}}", u64::MAX)),
        (
            "base_ms",
            ", backoff: {base_ms: 1000000000000000000, factor: 10}".to_string(),
        ),
    ] {
        let err = c
            .register_template_yaml(&format!(
                "name: big\nstep_templates:\n  - {{name: s, handler: h{extra}}}\n"
            ))
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidTemplate(m) if m.contains(what)),
            "{what}: {err}"
        );
    }
    assert_nothing_persisted(&c);
});

both_backends!(largest_allowed_numbers_work_on_every_backend, |b| {
    const DAY_MS: i64 = 24 * 60 * 60 * 1000;
    let clock = tasker::ManualClock::new(1_000_000);
    let cfg = tasker::Config {
        lease_check_interval_ms: 0,
        ..fast_config()
    };
    let (c, _db) = client_with(b, cfg, Some(clock.clone()));
    c.register_template_yaml(&format!(
        "name: big\nstep_templates:\n  - {{name: s, handler: huge_retry_after, lease_ms: {DAY_MS}, default_retry_limit: 1000, backoff: {{base_ms: {DAY_MS}, factor: 1000, max_ms: {DAY_MS}}}}}\n"
    ))
    .unwrap();
    c.register_fn("huge_retry_after", |ctx| {
        if ctx.step.attempt == 1 {
            return Err(tasker::StepError::retryable("later").retry_after(1e300));
        }
        Ok(json!({"attempt": ctx.step.attempt}))
    })
    .unwrap();
    let t = c.create_task(&req("big", json!({}))).unwrap();
    // A 24 h lease claims on PostgreSQL too; retry_after 1e300 s becomes the 24 h cap.
    assert_eq!(c.run_once().unwrap(), 1);
    let ctx = c.execution_context(t.task_id).unwrap();
    assert_eq!(ctx.next_retry_at, Some(1_000_000 + DAY_MS));
    clock.advance_ms(DAY_MS - 1);
    assert_eq!(c.run_once().unwrap(), 0, "still backing off");
    clock.advance_ms(1);
    assert_eq!(c.run_once().unwrap(), 1);
    assert_eq!(c.task_view(t.task_id).unwrap().state, State::Complete);
});

// PostgreSQL that is not there: the error comes within connect_timeout_ms and says where the
// client tried (host, port, URL without its password), why, and which variable to check.
#[test]
fn postgres_down_fails_fast_naming_host_port_and_cause() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: connections are refused
    let url = format!("postgres://app:s3cret@127.0.0.1:{port}/db");
    let cfg = tasker::Config {
        connect_timeout_ms: 2_000,
        ..tasker::Config::default()
    };
    let started = std::time::Instant::now();
    let err = tasker::Client::connect_with(&url, cfg, None).expect_err("no server");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let msg = err.to_string();
    assert!(matches!(err, tasker::Error::Connect(_)), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.to_lowercase().contains("connection refused"), "{msg}");
    assert!(msg.contains("TASKER_DATABASE_URL"), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");
}

// A server that accepts the TCP connection but never answers: connect_timeout_ms bounds it.
#[test]
fn postgres_that_never_answers_times_out_at_connect_timeout_ms() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("postgres://app:s3cret@127.0.0.1:{port}/db");
    let cfg = tasker::Config {
        connect_timeout_ms: 300,
        ..tasker::Config::default()
    };
    let started = std::time::Instant::now();
    let err = tasker::Client::connect_with(&url, cfg, None).expect_err("no answer");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let msg = err.to_string();
    assert!(msg.contains("no answer within 300 ms"), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");
    drop(listener);
}

#[test]
fn connect_timeout_ms_is_bounded() {
    for bad in [0, 600_001] {
        let cfg = tasker::Config {
            connect_timeout_ms: bad,
            ..tasker::Config::default()
        };
        let err = tasker::Client::connect_with("sqlite::memory:", cfg, None).expect_err("refused");
        assert!(err.to_string().contains("connect_timeout_ms"), "{err}");
    }
}

// Everything a step is handed or records is bounded by max_payload_bytes, not only the task
// context and the results: step_inputs (refused at create), a failure's message and details
// (recorded as a permanent PayloadTooLarge naming the field) and the aggregated dependency
// results of a wide fan-in (a permanent PayloadTooLarge before the handler runs).
both_backends!(
    step_inputs_failures_and_dependency_results_are_bounded,
    |b| {
        let mut cfg = fast_config();
        cfg.max_payload_bytes = 1024;
        let (c, _db) = client_with(b, cfg, None);
        let ran_join = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ran2 = ran_join.clone();
        c.register_fn("part", |_ctx| Ok(json!({"part": "p".repeat(500)})))
            .unwrap();
        c.register_fn("join", move |_ctx| {
            ran2.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(json!({}))
        })
        .unwrap();
        c.register_fn("loud_failure", |_ctx| {
            Err(tasker::StepError {
                message: "boom".into(),
                class: "Transient".into(),
                details: json!({"dump": "d".repeat(5000)}),
                ..Default::default()
            })
        })
        .unwrap();
        c.register_template_yaml(
        "name: fan\nstep_templates:\n  - {name: a, handler: part}\n  - {name: b, handler: part}\n  - {name: c, handler: part}\n  - {name: j, handler: join, depends_on_steps: [a, b, c]}\n",
    )
    .unwrap();
        c.register_template_yaml(
        "name: loud\nstep_templates:\n  - {name: a, handler: loud_failure, default_retry_limit: 3}\n",
    )
    .unwrap();
        // step_inputs: refused at create, naming the field; nothing written.
        let e = c
            .create_task(&tasker::TaskRequest {
                step_inputs: [("a".to_string(), json!({"blob": "x".repeat(2000)}))]
                    .into_iter()
                    .collect(),
                ..req("fan", json!({}))
            })
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::PayloadTooLarge {
                    what: "step_inputs",
                    limit: 1024,
                    ..
                }
            ),
            "{e}"
        );
        assert_nothing_persisted(&c);
        // Dependency results: three parents of ~510 bytes each hand the join ~1.5 KB.
        let t = c.create_task(&req("fan", json!({}))).unwrap();
        assert_eq!(c.run_task(t.task_id).unwrap().task_state, State::Error);
        assert!(!ran_join.load(std::sync::atomic::Ordering::SeqCst));
        let v = c.task_view(t.task_id).unwrap();
        let j = v.step("j").unwrap();
        assert_eq!(j.attempts, 1);
        let err = &j.results.as_ref().unwrap()["error"];
        assert_eq!(err["class"], json!("PayloadTooLarge"));
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .contains("dependency results"),
            "{err}"
        );
        // A failure with oversized details: recorded as PayloadTooLarge, permanently (no retries).
        let t = c.create_task(&req("loud", json!({}))).unwrap();
        assert_eq!(c.run_task(t.task_id).unwrap().task_state, State::Error);
        let v = c.task_view(t.task_id).unwrap();
        let a = v.step("a").unwrap();
        assert_eq!(a.attempts, 1);
        let err = &a.results.as_ref().unwrap()["error"];
        assert_eq!(err["class"], json!("PayloadTooLarge"));
        let msg = err["message"].as_str().unwrap();
        assert!(
            msg.contains("failure details") && msg.contains("Transient"),
            "{msg}"
        );
        assert!(serde_json::to_string(&a.results).unwrap().len() < 1024);
    }
);

// One name limit (64 characters, counted as PostgreSQL counts them) for every name in a
// template, checked with an error naming the field, so no name reaches a column it overflows.
both_backends!(template_names_share_one_documented_limit, |b| {
    let (c, _db) = client(b);
    c.register_fn("h", |_ctx| Ok(json!({}))).unwrap();
    let tpl = |name: &str, step: &str, system: &str| {
        format!("name: {name}\nnamespace_name: tests\nversion: 1.0.0\nstep_templates:\n  - {{name: {step}, handler: h, dependent_system: {system}}}\n")
    };
    let long = "n".repeat(65);
    for (yaml, field) in [
        (tpl(&long, "a", "sys"), "name"),
        (tpl("t", &long, "sys"), "step name"),
        (tpl("t", "a", &long), "dependent_system"),
    ] {
        let e = c.register_template_yaml(&yaml).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::InvalidTemplate(_)), "{msg}");
        assert!(
            msg.contains(field) && msg.contains("the limit is 64"),
            "{msg}"
        );
    }
    // 64 two-byte characters: at the limit (128 bytes), accepted and stored on both backends.
    let wide = "é".repeat(64);
    c.register_template_yaml(&tpl(&wide, &wide, &wide)).unwrap();
    let t = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req(&wide, json!({}))
        })
        .unwrap();
    assert_eq!(c.run_task(t.task_id).unwrap().task_state, State::Complete);
    assert!(c.task_view(t.task_id).unwrap().step(&wide).is_some());
});

// A worker whose iterations fail (here: a table it reads is gone) keeps retrying, and the host
// sees it in `health` (not only in log lines); one good iteration clears the run of failures.
both_backends!(worker_failures_are_visible_in_health, |b| {
    let (c, db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(LINEAR).unwrap();
    let h = c.health().unwrap();
    assert_eq!((h.worker_failures, h.worker_failures_in_a_row), (0, 0));
    assert_eq!(h.last_worker_error, None);
    let t = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("linear", json!({"n": 2}))
        })
        .unwrap();
    // Claims read the edges (dependency results); health does not.
    exec_sql(
        &db.url,
        "ALTER TABLE tasker_workflow_step_edges RENAME TO tasker_edges_away",
    );
    let stop = tasker::StopHandle::new();
    let worker = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || c.run_worker(&stop).unwrap())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let h = loop {
        let h = c.health().unwrap();
        if h.worker_failures_in_a_row >= 3 {
            break h;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failure seen: {h:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(h.worker_failures >= h.worker_failures_in_a_row);
    let last = h.last_worker_error.unwrap_or_default();
    assert!(last.contains("tasker_workflow_step_edges"), "{last}");
    exec_sql(
        &db.url,
        "ALTER TABLE tasker_edges_away RENAME TO tasker_workflow_step_edges",
    );
    let v = c.run_task(t.task_id).unwrap();
    assert_eq!(v.task_state, tasker::State::Complete);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while c.health().unwrap().worker_failures_in_a_row != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "failures never cleared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop.stop();
    worker.join().unwrap();
    assert!(c.health().unwrap().worker_failures >= 3, "the total stays");
});

// A stored document the engine cannot read back (here written behind its back, deeper than
// any decoder allows) fails its own step once, permanently, with the cause; the 50 ordinary
// tasks claimed around it all complete, and its task's view still reads.
both_backends!(an_unreadable_row_fails_its_step_alone, |b| {
    let (c, db) = client(b);
    let log = ExecLog::default();
    register_handlers(&c, &log);
    c.register_template_yaml(LINEAR).unwrap();
    let linear = |n: i64| tasker::TaskRequest {
        namespace: Some("tests".into()),
        ..req("linear", json!({ "n": n }))
    };
    let poison = c.create_task(&linear(0)).unwrap().task_id;
    let deep = format!("{}1{}", "{\"k\":".repeat(300), "}".repeat(300));
    exec_sql(
        &db.url,
        &format!("UPDATE tasker_tasks SET context = '{deep}' WHERE task_id = {poison}"),
    );
    let ordinary: Vec<i64> = (1..=50)
        .map(|n| c.create_task(&linear(n)).unwrap().task_id)
        .collect();
    // Workers claim batches that mix the poison's step with ordinary ones.
    let stop = tasker::StopHandle::new();
    let worker = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || c.run_worker(&stop).unwrap())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ordinary
        .iter()
        .any(|id| c.task_view(*id).unwrap().state != State::Complete)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "ordinary tasks stalled"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop.stop();
    worker.join().unwrap();
    let v = c.task_view(poison).unwrap();
    let first = &v.steps[0];
    assert_eq!(first.state, State::Error, "{v:?}");
    assert_eq!(first.attempts, 1, "a deterministic failure is not retried");
    let results = first.results.clone().unwrap_or_default();
    assert_eq!(results["error"]["class"], "UnreadableRow", "{results}");
    assert!(
        results["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot be read")),
        "{results}"
    );
    assert!(v.context.get("$unreadable").is_some(), "{:?}", v.context);
    assert_eq!(
        c.health().unwrap().worker_failures,
        0,
        "no iteration failed"
    );
});

// Errors a newcomer can act on (issue #12): a one-word template "text" is a missing file, an
// SQLite path in a missing directory names it, a second handler under one name is refused when
// asked, and a worker refuses to start (when asked) while templates name unregistered handlers.
both_backends!(setup_mistakes_are_reported_clearly, |b| {
    let cfg = tasker::Config {
        on_duplicate_handler: tasker::Strictness::Error,
        on_missing_handler: tasker::Strictness::Error,
        ..fast_config()
    };
    let (c, _db) = client_with(b, cfg, None);
    let e = c.register_template_yaml("templates/missing").unwrap_err();
    assert!(
        e.to_string().contains("no such file: 'templates/missing'"),
        "{e}"
    );
    c.register_fn("a", |_| Ok(json!({}))).unwrap();
    let e = c.register_fn("a", |_| Ok(json!({}))).unwrap_err();
    assert!(matches!(e, Error::HandlerSetup(_)), "{e:?}");
    assert!(e.to_string().contains("'a' is already registered"), "{e}");
    c.register_template_yaml(
        "name: two\nnamespace_name: tests\nversion: 1.0.0\nstep_templates:\n  - {name: first, handler: a}\n  - {name: second, handler: b, depends_on_step: first}\n",
    )
    .unwrap();
    let stop = tasker::StopHandle::new();
    let e = c.run_worker(&stop).unwrap_err();
    assert!(
        e.to_string()
            .contains("'b' (step 'second' of tests/two 1.0.0)"),
        "{e}"
    );
    c.register_fn("b", |_| Ok(json!({}))).unwrap();
    stop.stop();
    assert_eq!(
        c.run_worker(&stop).unwrap(),
        0,
        "starts once every handler is there"
    );
    // The defaults warn and go on: replacing works, the worker starts.
    let (d, _db2) = client(b);
    d.register_fn("a", |_| Ok(json!({}))).unwrap();
    d.register_fn("a", |_| Ok(json!({}))).unwrap();
});

#[test]
fn sqlite_path_in_a_missing_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/tasker.db");
    let Err(err) =
        tasker::Client::connect_with(&format!("sqlite://{}", path.display()), fast_config(), None)
    else {
        panic!("connect must fail")
    };
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{}", dir.path().join("no/such/dir").display())),
        "{msg}"
    );
    assert!(msg.contains("does not exist"), "{msg}");
}

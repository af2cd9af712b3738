//! The web dashboard over real HTTP (a plain TcpStream client): pages, the SVG DAG, the live
//! stream, actions and their protections, the access token. Both backends.

use crate::common::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use tasker::{Client, DashboardConfig, DashboardHandle, State};

pub(crate) struct Reply {
    pub(crate) status: u16,
    head: String,
    pub(crate) body: String,
}

fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

pub(crate) fn get(addr: SocketAddr, path: &str) -> Reply {
    http(addr, "GET", path, &[], "")
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

fn start(c: &Client, allow_actions: bool) -> DashboardHandle {
    c.start_dashboard(&DashboardConfig {
        listen: "127.0.0.1:0".into(),
        allow_actions,
        token: None,
    })
    .unwrap()
}

/// A finished diamond task and a task whose only step failed for good; returns their ids.
fn tasks(c: &Client) -> (i64, i64) {
    register_handlers(c, &ExecLog::default());
    c.register_template_yaml(DIAMOND).unwrap();
    c.register_template_yaml(FAILING).unwrap();
    let ns = |name: &str| tasker::TaskRequest {
        namespace: Some("tests".into()),
        ..req(name, json!({"n": 2}))
    };
    let diamond = c.create_task(&ns("diamond")).unwrap().task_id;
    c.run_task(diamond).unwrap();
    let failing = c.create_task(&ns("failing")).unwrap().task_id;
    c.run_task(failing).unwrap();
    (diamond, failing)
}

const FAILING: &str = r#"
name: failing
namespace_name: tests
version: 1.0.0
step_templates:
  - {name: charge, handler: permanent_fail}
"#;

fn step_id(c: &Client, task: i64, name: &str) -> i64 {
    c.task_view(task)
        .unwrap()
        .steps
        .iter()
        .find(|s| s.name == name)
        .unwrap()
        .step_id
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("an action form") + 19;
    page[at..at + 64].to_string()
}

/// The number a page shows in `<span data-count="key">`.
fn shown_count(page: &str, key: &str) -> i64 {
    let tag = format!("data-count=\"{key}\">");
    let at = page.find(&tag).expect("the count is shown") + tag.len();
    page[at..]
        .split('<')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .expect("a number")
}

// The overview shows figures read by one task of the server for every viewer (no read per
// page): they must still follow the database, and the failing handlers come from the
// partial index on steps in error, grouped by handler.
both_backends!(overview_figures_follow_the_database, |b| {
    let (c, _db) = client(b);
    let (_, _) = tasks(&c);
    let mut d = start(&c, false);
    let addr = d.address();
    let first = get(addr, "/");
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(shown_count(&first.body, "error_tasks"), 1);
    assert!(first.body.contains("Counts as of"));

    // Two more failures of the same handler, from outside the dashboard.
    for n in 3..5 {
        let t = c
            .create_task(&tasker::TaskRequest {
                namespace: Some("tests".into()),
                ..req("failing", json!({"n": n}))
            })
            .unwrap()
            .task_id;
        c.run_task(t).unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let page = loop {
        let page = get(addr, "/").body;
        if shown_count(&page, "error_tasks") == 3 {
            break page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the overview never showed the new failures"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let row = &page[page
        .find("<td>permanent_fail</td>")
        .expect("the failing handler")..];
    assert!(
        row.starts_with("<td>permanent_fail</td><td class=\"num\">3</td>"),
        "{row}"
    );
    d.stop();
});

both_backends!(dashboard_pages_answer, |b| {
    let (c, _db) = client(b);
    let (diamond, failing) = tasks(&c);
    let mut d = start(&c, false);
    let addr = d.address();

    let overview = get(addr, "/");
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(overview.body.contains("data-count=\"complete_tasks\""));
    assert!(
        overview.body.contains("permanent_fail"),
        "failing handlers are listed"
    );
    assert!(overview.head.contains("content-security-policy"));

    let list = get(addr, "/tasks");
    assert_eq!(list.status, 200);
    assert!(list.body.contains(&format!("href=\"/tasks/{diamond}\"")));
    let errors = get(addr, "/tasks?state=error");
    assert!(errors.body.contains(&format!("href=\"/tasks/{failing}\"")));
    assert!(!errors.body.contains(&format!("href=\"/tasks/{diamond}\"")));
    let first = get(addr, "/tasks?limit=1");
    assert!(
        first.body.contains("rel=\"next\""),
        "a second page is linked"
    );
    assert_eq!(get(addr, "/tasks?state=nonsense").status, 400);

    let task = get(addr, &format!("/tasks/{diamond}"));
    assert_eq!(task.status, 200);
    assert_eq!(
        task.body.matches("class=\"step state-complete\"").count(),
        4
    );
    assert_eq!(
        task.body.matches("class=\"edge\"").count(),
        4,
        "a->b, a->c, b->d, c->d"
    );
    let svg = get(addr, &format!("/tasks/{diamond}/dag.svg"));
    assert!(svg.head.contains("image/svg+xml") && svg.body.starts_with("<svg"));
    for tag in ["rect", "path", "g", "text", "title"] {
        let opened = svg.body.matches(&format!("<{tag} ")).count()
            + svg.body.matches(&format!("<{tag}>")).count();
        assert_eq!(
            opened,
            svg.body.matches(&format!("</{tag}>")).count(),
            "every <{tag}> is closed"
        );
    }

    let step = get(addr, &format!("/steps/{}", step_id(&c, failing, "charge")));
    assert_eq!(step.status, 200);
    let last_error = &step.body[step.body.find("id=\"last-error\"").expect("a last error")..];
    assert!(
        last_error.contains("<td class=\"error-class\">InvalidCard</td>"),
        "{last_error}"
    );
    assert!(last_error.contains("<td class=\"error-message\">cannot ever work</td>"));
    assert!(
        !step.body.contains("name=\"csrf\""),
        "no action forms without allow_actions"
    );

    assert_eq!(get(addr, "/tasks/987654").status, 404);
    assert_eq!(get(addr, "/steps/987654").status, 404);
    assert_eq!(get(addr, "/assets/dashboard.js").status, 200);
    d.stop();
    assert!(
        TcpStream::connect(addr).is_err(),
        "stopped: nothing listens"
    );
});

both_backends!(dashboard_actions_are_refused_without_allow_actions, |b| {
    let (c, _db) = client(b);
    let (_, failing) = tasks(&c);
    let d = start(&c, false);
    let charge = step_id(&c, failing, "charge");
    let r = http(
        d.address(),
        "POST",
        &format!("/steps/{charge}/retry"),
        &[FORM],
        "csrf=x",
    );
    assert_eq!(r.status, 403);
    assert_eq!(c.task_view(failing).unwrap().steps[0].state, State::Error);
});

both_backends!(dashboard_actions_check_the_site_and_the_csrf_token, |b| {
    let (c, _db) = client(b);
    let (_, failing) = tasks(&c);
    let d = start(&c, true);
    let addr = d.address();
    let charge = step_id(&c, failing, "charge");
    let token = csrf_of(&get(addr, &format!("/steps/{charge}")).body);
    let path = format!("/steps/{charge}/retry");
    let body = format!("csrf={token}");
    let cross = http(
        addr,
        "POST",
        &path,
        &[FORM, ("Sec-Fetch-Site", "cross-site")],
        &body,
    );
    assert_eq!(cross.status, 403);
    let origin = http(
        addr,
        "POST",
        &path,
        &[FORM, ("Origin", "http://evil.example")],
        &body,
    );
    assert_eq!(origin.status, 403);
    assert_eq!(http(addr, "POST", &path, &[FORM], "csrf=0000").status, 403);
    assert_eq!(http(addr, "POST", &path, &[FORM], "").status, 403);
    assert_eq!(
        c.task_view(failing).unwrap().steps[0].state,
        State::Error,
        "nothing changed"
    );

    let own_origin = format!("http://{addr}");
    let ok = http(
        addr,
        "POST",
        &path,
        &[
            FORM,
            ("Sec-Fetch-Site", "same-origin"),
            ("Origin", &own_origin),
        ],
        &body,
    );
    assert_eq!(ok.status, 303, "{}", ok.body);
    let step = &c.task_view(failing).unwrap().steps[0];
    assert_eq!((step.state, step.attempts), (State::Pending, 0), "retried");

    let resolve = format!("/steps/{charge}/resolve");
    let bad = http(
        addr,
        "POST",
        &resolve,
        &[FORM],
        &format!("csrf={token}&results=%7Bnope"),
    );
    assert_eq!(bad.status, 400, "results that are not JSON");
    let good = format!("csrf={token}&results=%7B%22by%22%3A%22hand%22%7D");
    assert_eq!(http(addr, "POST", &resolve, &[FORM], &good).status, 303);
    let step = &c.task_view(failing).unwrap().steps[0];
    assert_eq!(step.state, State::ResolvedManually);
    assert_eq!(step.results, Some(json!({"by": "hand"})));

    let other = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("diamond", json!({"n": 9}))
        })
        .unwrap()
        .task_id;
    let cancel = http(
        addr,
        "POST",
        &format!("/tasks/{other}/cancel"),
        &[FORM],
        &body,
    );
    assert_eq!(cancel.status, 303);
    assert_eq!(c.task_view(other).unwrap().state, State::Cancelled);
});

both_backends!(dashboard_live_stream_sends_the_task_state, |b| {
    let (c, _db) = client(b);
    let (diamond, _) = tasks(&c);
    let mut d = start(&c, false);
    let mut s = TcpStream::connect(d.address()).unwrap();
    write!(
        s,
        "GET /live/tasks/{diamond} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    let mut lines = BufReader::new(s).lines();
    let data = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("data:").map(|d| d.trim().to_string()))
        .expect("an event");
    let v: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["state"], "complete");
    assert_eq!(v["steps"].as_array().unwrap().len(), 4);
    // Stopping ends the open stream instead of waiting for the browser to leave.
    d.stop();
    assert!(lines.map_while(Result::ok).all(|l| !l.starts_with("data:")));
});

both_backends!(dashboard_without_token_answers_only_loopback_names, |b| {
    let (c, _db) = client(b);
    let d = start(&c, true);
    // A page of evil.example whose name now resolves to 127.0.0.1 (DNS rebinding).
    let mut s = TcpStream::connect(d.address()).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 403"), "{raw}");
    assert_eq!(get(d.address(), "/").status, 200);
});

both_backends!(dashboard_off_loopback_requires_a_token, |b| {
    let (c, _db) = client(b);
    let refused = c.start_dashboard(&DashboardConfig {
        listen: "0.0.0.0:0".into(),
        ..DashboardConfig::default()
    });
    assert!(
        matches!(refused, Err(tasker::Error::Config(_))),
        "{refused:?}"
    );

    let d = c
        .start_dashboard(&DashboardConfig {
            listen: "0.0.0.0:0".into(),
            token: Some("s3cret".into()),
            ..DashboardConfig::default()
        })
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", d.address().port()).parse().unwrap();
    assert_eq!(get(addr, "/").status, 401);
    assert_eq!(get(addr, "/?token=wrong").status, 401);
    assert_eq!(
        http(addr, "GET", "/", &[("Authorization", "Bearer s3cret")], "").status,
        200
    );
    let once = get(addr, "/tasks?state=error&token=s3cret");
    assert_eq!(once.status, 303);
    assert!(once
        .head
        .to_lowercase()
        .contains("location: /tasks?state=error"));
    assert!(once
        .head
        .contains("tasker_dashboard_token=s3cret; Path=/; HttpOnly; SameSite=Strict"));
    let cookie = http(
        addr,
        "GET",
        "/tasks",
        &[("Cookie", "a=b; tasker_dashboard_token=s3cret")],
        "",
    );
    assert_eq!(cookie.status, 200);
});

#[test]
fn dashboard_summarises_a_10000_step_task() {
    let (c, _db) = client(Backend::Sqlite);
    register_handlers(&c, &ExecLog::default());
    // 100 layers of 100 steps, each step depending on one step of the layer before.
    let mut yaml =
        String::from("name: huge\nnamespace_name: tests\nversion: 1.0.0\nstep_templates:\n");
    for layer in 0..100 {
        for i in 0..100 {
            yaml.push_str(&format!("  - {{name: s{layer}_{i}, handler: square"));
            if layer > 0 {
                yaml.push_str(&format!(", depends_on_step: s{}_{i}", layer - 1));
            }
            yaml.push_str("}\n");
        }
    }
    c.register_template_yaml(&yaml).unwrap();
    let id = c
        .create_task(&tasker::TaskRequest {
            namespace: Some("tests".into()),
            ..req("huge", json!({}))
        })
        .unwrap()
        .task_id;
    let d = start(&c, false);
    let page = get(d.address(), &format!("/tasks/{id}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("class=\"dag summarised\""));
    assert_eq!(page.body.matches("class=\"layer\"").count(), 100);
    assert!(page.body.contains("data-steps=\"100\""));
    assert!(
        !page.body.contains("class=\"step state-"),
        "no per-step node drawn"
    );
}

both_backends!(dashboard_serves_metrics_in_the_prometheus_format, |b| {
    let (c, _db) = client(b);
    tasks(&c);
    let d = start(&c, false);
    let reply = get(d.address(), "/metrics");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply
            .head
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{}",
        reply.head
    );
    // Parsed by prometheus_client's parser (PyPI): the diamond's 4 completions, the failed
    // step, and the database's tasks by state.
    let families = crate::metrics::prometheus_parse(&reply.body);
    let samples = |family: &str| families[family]["samples"].as_array().cloned().unwrap();
    let completed: f64 = samples("tasker_steps_completed")
        .iter()
        .filter(|s| s[1]["template"] == "diamond")
        .map(|s| s[2].as_f64().unwrap())
        .sum();
    assert_eq!(completed, 4.0, "{}", reply.body);
    let failed: f64 = samples("tasker_steps_failed")
        .iter()
        .map(|s| s[2].as_f64().unwrap())
        .sum();
    assert_eq!(failed, 1.0, "{}", reply.body);
    let complete_tasks = samples("tasker_tasks")
        .into_iter()
        .find(|s| s[1]["state"] == "complete")
        .map(|s| s[2].as_f64().unwrap());
    assert_eq!(complete_tasks, Some(1.0), "{}", reply.body);
});

both_backends!(
    dashboard_shows_the_deadline_and_a_steps_concurrency_limit,
    |b| {
        let (c, _db) = client(b);
        c.register_template_yaml(
        "name: limited\nstep_templates:\n  - {name: one, handler: square, concurrency: {limit: 3}}\n  - {name: free, handler: square}\n",
    )
    .unwrap();
        let view = |deadline_ms| {
            let id = c
                .create_task(&tasker::TaskRequest {
                    deadline_ms,
                    ..req("limited", json!({ "deadline": deadline_ms }))
                })
                .unwrap()
                .task_id;
            c.task_view(id).unwrap()
        };
        let (with, without) = (view(Some(3_600_000)), view(None));
        let d = start(&c, false);
        let task = |v: &tasker::TaskView| get(d.address(), &format!("/tasks/{}", v.task_id)).body;
        assert!(task(&with).contains("<span class=\"deadline\">deadline "));
        assert!(!task(&without).contains("class=\"deadline\""));
        let step = |name: &str| {
            let id = with.step(name).unwrap().step_id;
            get(d.address(), &format!("/steps/{id}")).body
        };
        assert!(step("one").contains("3 in progress at most per <code>handler:square</code>"));
        assert!(!step("free").contains("class=\"concurrency\""));
    }
);

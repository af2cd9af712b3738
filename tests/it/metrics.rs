//! Metrics on both backends: this client's counters and histograms per template and handler
//! after steps that complete, fail, are retried and lose their lease; the database-wide gauges;
//! the Prometheus text rendering of the same numbers.

use crate::common::*;
use serde_json::json;
use tasker::{Client, ManualClock, State, StepError, StepMetrics};

const FLOW: &str = "
name: flow
namespace_name: m
version: 1.0.0
step_templates:
  - {name: a, handler: ok}
  - {name: b, handler: flaky, depends_on_step: a}
";
const DOOMED: &str = "
name: doomed
namespace_name: m
version: 2.0.0
step_templates:
  - {name: x, handler: doomed}
";
const SLOW: &str = "
name: slow
namespace_name: m
version: 1.0.0
step_templates:
  - {name: s, handler: slow}
";

fn create(c: &Client, name: &str, context: serde_json::Value) -> i64 {
    let r = tasker::TaskRequest {
        namespace: Some("m".into()),
        ..req(name, context)
    };
    c.create_task(&r).unwrap().task_id
}

/// The series of `template` and `handler`; fails the test when there is none.
fn series<'a>(steps: &'a [StepMetrics], template: &str, handler: &str) -> &'a StepMetrics {
    steps
        .iter()
        .find(|s| s.template == template && s.handler == handler)
        .unwrap_or_else(|| panic!("no series {template}/{handler} in {steps:#?}"))
}

/// (completed, failed, retried, lease_expired, handler runs, start delays observed)
fn counts(s: &StepMetrics) -> (u64, u64, u64, u64, u64, u64) {
    (
        s.completed,
        s.failed,
        s.retried,
        s.lease_expired,
        s.duration.count,
        s.start_delay.count,
    )
}

/// The families `prometheus_client.parser.text_string_to_metric_families` (PyPI
/// prometheus-client, installed by scripts/setup.sh) reads from `text`: name -> {type,
/// samples: [[name, labels, value]]}. A parse error fails the test.
pub(crate) fn prometheus_parse(text: &str) -> serde_json::Value {
    use std::io::Write;
    use std::process::{Command, Stdio};
    const SCRIPT: &str = "import json, sys\n\
from prometheus_client.parser import text_string_to_metric_families\n\
out = {f.name: {'type': f.type, 'samples': [[s.name, s.labels, s.value] for s in f.samples]}\n\
       for f in text_string_to_metric_families(sys.stdin.read())}\n\
print(json.dumps(out))\n";
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/setup.sh installs prometheus-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the text (or prometheus-client is missing: \
         scripts/setup.sh installs it): {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

both_backends!(counters_histograms_and_gauges, |b| {
    let clock = ManualClock::new(50_000_000);
    let mut cfg = tasker::Config::default();
    cfg.lease_ms = 1000;
    cfg.lease_check_interval_ms = 0;
    let (c, db) = client_with(b, cfg, Some(clock.clone()));
    for t in [FLOW, DOOMED, SLOW] {
        c.register_template_yaml(t).unwrap();
    }
    let clock_a = clock.clone();
    c.register_fn("ok", move |_| {
        // The child becomes claimable when this step finishes, 700 ms after the task was
        // created: its start delay counts from then, not from its creation.
        clock_a.advance_ms(700);
        Ok(json!({}))
    })
    .unwrap();
    c.register_fn("flaky", |ctx| match ctx.step.attempt {
        1 => Err(StepError::retryable("again")),
        _ => Ok(json!({})),
    })
    .unwrap();
    c.register_fn("doomed", |_| Err(StepError::permanent("no")))
        .unwrap();
    let (c_slow, clock_slow) = (c.clone(), clock.clone());
    c.register_fn("slow", move |ctx| {
        if ctx.step.attempt == 1 {
            // Past the lease; the reap (by this client) fails the attempt and this late
            // outcome is refused: neither completed nor failed.
            clock_slow.advance_ms(1500);
            c_slow.handle_task(ctx.task.task_id).unwrap();
        }
        Ok(json!({}))
    })
    .unwrap();

    let flow = create(&c, "flow", json!({}));
    assert_eq!(c.run_task(flow).unwrap().task_state, State::Complete);
    let doomed = create(&c, "doomed", json!({}));
    clock.advance_ms(2500); // the step waits 2.5 s before it is claimed
    assert_eq!(c.run_task(doomed).unwrap().task_state, State::Error);
    let slow = create(&c, "slow", json!({}));
    assert_eq!(c.run_task(slow).unwrap().task_state, State::Complete);
    create(&c, "flow", json!({"waiting": true})); // one ready step, one blocked behind it

    let m = c.metrics().unwrap();
    assert_eq!(m.steps.len(), 4, "{:#?}", m.steps);
    let ok = series(&m.steps, "flow", "ok");
    assert_eq!((ok.namespace.as_str(), ok.version.as_str()), ("m", "1.0.0"));
    assert_eq!(counts(ok), (1, 0, 0, 0, 1, 1));
    let flaky = series(&m.steps, "flow", "flaky");
    assert_eq!(counts(flaky), (1, 1, 1, 0, 2, 2));
    assert_eq!(
        flaky.start_delay.sum_seconds, 0.0,
        "ready when `a` finished"
    );
    let doomed_s = series(&m.steps, "doomed", "doomed");
    assert_eq!(doomed_s.version, "2.0.0");
    assert_eq!(counts(doomed_s), (0, 1, 0, 0, 1, 1));
    let delay = &doomed_s.start_delay;
    assert_eq!(delay.sum_seconds, 2.5);
    let le = |bound: f64| {
        delay
            .buckets
            .iter()
            .find(|x| x.le_seconds == bound)
            .map(|x| x.count)
    };
    assert_eq!((le(1.0), le(2.5), le(5.0)), (Some(0), Some(1), Some(1)));
    let slow_s = series(&m.steps, "slow", "slow");
    assert_eq!(counts(slow_s), (1, 0, 1, 1, 2, 2));

    assert_eq!(m.ready_steps, 1);
    let tasks: Vec<(State, i64)> = m
        .tasks_by_state
        .iter()
        .map(|t| (t.state, t.tasks))
        .collect();
    assert_eq!(
        tasks,
        vec![
            (State::Pending, 1),
            (State::InProgress, 0),
            (State::Complete, 2),
            (State::Error, 1),
            (State::Cancelled, 0),
            (State::ResolvedManually, 0),
        ]
    );

    let text = c.metrics_text().unwrap();
    for line in [
        "tasker_steps_completed_total{namespace=\"m\",template=\"flow\",version=\"1.0.0\",handler=\"flaky\"} 1\n",
        "tasker_steps_retried_total{namespace=\"m\",template=\"slow\",version=\"1.0.0\",handler=\"slow\"} 1\n",
        "tasker_steps_lease_expired_total{namespace=\"m\",template=\"slow\",version=\"1.0.0\",handler=\"slow\"} 1\n",
        "tasker_step_start_delay_seconds_bucket{namespace=\"m\",template=\"doomed\",version=\"2.0.0\",handler=\"doomed\",le=\"2.5\"} 1\n",
        "tasker_step_duration_seconds_count{namespace=\"m\",template=\"flow\",version=\"1.0.0\",handler=\"flaky\"} 2\n",
        "tasker_ready_steps 1\n",
        "tasker_tasks{state=\"complete\"} 2\n",
    ] {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }

    // The acceptance: the Prometheus client's own parser reads every family and sample.
    let parsed = prometheus_parse(&text);
    let family = |name: &str| parsed[name].clone();
    assert_eq!(family("tasker_steps_completed")["type"], "counter");
    assert_eq!(family("tasker_steps_lease_expired")["type"], "counter");
    assert_eq!(
        family("tasker_step_start_delay_seconds")["type"],
        "histogram"
    );
    assert_eq!(family("tasker_step_duration_seconds")["type"], "histogram");
    assert_eq!(family("tasker_ready_steps")["type"], "gauge");
    assert_eq!(family("tasker_tasks")["type"], "gauge");
    let sample = |family_name: &str, sample: &str, labels: serde_json::Value| {
        parsed[family_name]["samples"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s[0] == sample && s[1] == labels)
            .map(|s| s[2].as_f64().unwrap())
    };
    let flaky_labels =
        json!({"namespace": "m", "template": "flow", "version": "1.0.0", "handler": "flaky"});
    assert_eq!(
        sample(
            "tasker_steps_failed",
            "tasker_steps_failed_total",
            flaky_labels.clone()
        ),
        Some(1.0)
    );
    let mut inf = flaky_labels.clone();
    inf["le"] = json!("+Inf");
    assert_eq!(
        sample(
            "tasker_step_duration_seconds",
            "tasker_step_duration_seconds_bucket",
            inf
        ),
        Some(2.0)
    );
    assert_eq!(
        sample("tasker_tasks", "tasker_tasks", json!({"state": "error"})),
        Some(1.0)
    );
    // 4 counters × 4 series, 2 histograms × 4 series × (15 bounds + Inf + sum + count), 1 + 6 gauges.
    let samples: usize = parsed
        .as_object()
        .unwrap()
        .values()
        .map(|f| f["samples"].as_array().unwrap().len())
        .sum();
    assert_eq!(samples, 16 + 2 * 4 * 18 + 7);

    // The counters are this client's; the gauges are the database's.
    let other = Client::connect(&db.url).unwrap();
    let m2 = other.metrics().unwrap();
    assert!(m2.steps.is_empty());
    assert_eq!(m2.ready_steps, 1);
    assert_eq!(m2.tasks_by_state, m.tasks_by_state);
});

both_backends!(group_commits_of_a_worker_batch_are_counted, |b| {
    let mut cfg = fast_config();
    cfg.adaptive_claim = false;
    cfg.claim_batch = 8;
    let (c, _db) = client_with(b, cfg, None);
    c.register_template_yaml(
        DOOMED
            .replace("doomed", "batch")
            .replace("2.0.0", "1.0.0")
            .as_str(),
    )
    .unwrap();
    c.register_fn("batch", |ctx| match ctx.task.context["n"].as_i64() {
        Some(0) => Err(StepError::retryable("first one fails")),
        _ => Ok(json!({})),
    })
    .unwrap();
    for n in 0..4 {
        create(&c, "batch", json!({ "n": n }));
    }
    assert_eq!(c.run_once().unwrap(), 4, "one batch of four");
    let m = c.metrics().unwrap();
    let s = series(&m.steps, "batch", "batch");
    assert_eq!(counts(s), (3, 1, 1, 0, 4, 4));
});

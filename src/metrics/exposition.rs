//! The Prometheus text exposition format (0.0.4) of a `Metrics` document. Hand-rendered: the
//! format is a few line shapes (HELP, TYPE, samples with escaped label values), the values
//! already live in our atomics, and a client crate would add its own registry to copy them
//! into on every scrape (decision in docs/ARCHITECTURE.md).

use super::{DurationHistogram, Metrics, StepMetrics};
use std::fmt::Write;

/// One metric family: its name, type, help, and the samples it writes for one step series.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
}

/// A counter family and the value it reads from a step series.
type Counter = (Family, fn(&StepMetrics) -> u64);
/// A histogram family and the histogram it reads from a step series.
type Histogram = (Family, fn(&StepMetrics) -> &DurationHistogram);

const COUNTERS: [Counter; 4] = [
    (
        Family {
            name: "tasker_steps_completed_total",
            kind: "counter",
            help: "Step attempts whose completion this client wrote.",
        },
        |s| s.completed,
    ),
    (
        Family {
            name: "tasker_steps_failed_total",
            kind: "counter",
            help: "Step attempts whose handler failure this client wrote, retried or not.",
        },
        |s| s.failed,
    ),
    (
        Family {
            name: "tasker_steps_retried_total",
            kind: "counter",
            help:
                "Failed step attempts (handler or lease expiry) after which a retry was scheduled.",
        },
        |s| s.retried,
    ),
    (
        Family {
            name: "tasker_steps_lease_expired_total",
            kind: "counter",
            help: "Expired step leases this client wrote as failed attempts.",
        },
        |s| s.lease_expired,
    ),
];

const HISTOGRAMS: [Histogram; 2] = [
    (
        Family {
            name: "tasker_step_start_delay_seconds",
            kind: "histogram",
            help:
                "From a step becoming claimable to its handler being called (claim wait and claim).",
        },
        |s| &s.start_delay,
    ),
    (
        Family {
            name: "tasker_step_duration_seconds",
            kind: "histogram",
            help: "Time in the step handler (process and process_results).",
        },
        |s| &s.duration,
    ),
];

pub(super) fn render(m: &Metrics) -> String {
    let mut out = String::new();
    for (family, value) in &COUNTERS {
        header(&mut out, family);
        for s in &m.steps {
            let _ = writeln!(out, "{}{{{}}} {}", family.name, labels(s), value(s));
        }
    }
    for (family, value) in &HISTOGRAMS {
        header(&mut out, family);
        for s in &m.steps {
            let (h, l) = (value(s), labels(s));
            for b in &h.buckets {
                let _ = writeln!(
                    out,
                    "{}_bucket{{{l},le=\"{}\"}} {}",
                    family.name, b.le_seconds, b.count
                );
            }
            let _ = writeln!(out, "{}_bucket{{{l},le=\"+Inf\"}} {}", family.name, h.count);
            let _ = writeln!(out, "{}_sum{{{l}}} {}", family.name, h.sum_seconds);
            let _ = writeln!(out, "{}_count{{{l}}} {}", family.name, h.count);
        }
    }
    header(
        &mut out,
        &Family {
            name: "tasker_ready_steps",
            kind: "gauge",
            help: "Steps claimable now, database-wide.",
        },
    );
    let _ = writeln!(out, "tasker_ready_steps {}", m.ready_steps);
    header(
        &mut out,
        &Family {
            name: "tasker_tasks",
            kind: "gauge",
            help: "Tasks in each state, database-wide.",
        },
    );
    for t in &m.tasks_by_state {
        let _ = writeln!(out, "tasker_tasks{{state=\"{}\"}} {}", t.state, t.tasks);
    }
    out
}

fn header(out: &mut String, f: &Family) {
    let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
    let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
}

/// The labels of a step series, values escaped as the format requires.
fn labels(s: &StepMetrics) -> String {
    format!(
        "namespace=\"{}\",template=\"{}\",version=\"{}\",handler=\"{}\"",
        escape(&s.namespace),
        escape(&s.template),
        escape(&s.version),
        escape(&s.handler)
    )
}

/// Label value escaping: backslash, double quote and line feed.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{HistogramBucket, TaskStateCount};
    use crate::models::State;

    #[test]
    fn samples_carry_escaped_labels_and_cumulative_buckets() {
        let h = DurationHistogram {
            count: 3,
            sum_seconds: 0.5,
            buckets: vec![HistogramBucket {
                le_seconds: 0.25,
                count: 2,
            }],
        };
        let m = Metrics {
            steps: vec![StepMetrics {
                namespace: "ns".into(),
                template: "a\"b\\c\nd".into(),
                version: "1.0.0".into(),
                handler: "h".into(),
                completed: 7,
                failed: 0,
                retried: 0,
                lease_expired: 0,
                start_delay: h.clone(),
                duration: h,
            }],
            ready_steps: 4,
            tasks_by_state: vec![TaskStateCount {
                state: State::InProgress,
                tasks: 2,
            }],
        };
        let text = render(&m);
        let l = r#"namespace="ns",template="a\"b\\c\nd",version="1.0.0",handler="h""#;
        assert!(
            text.contains(&format!("tasker_steps_completed_total{{{l}}} 7\n")),
            "{text}"
        );
        assert!(text.contains(&format!(
            "tasker_step_duration_seconds_bucket{{{l},le=\"0.25\"}} 2\n"
        )));
        assert!(text.contains(&format!(
            "tasker_step_duration_seconds_bucket{{{l},le=\"+Inf\"}} 3\n"
        )));
        assert!(text.contains(&format!("tasker_step_duration_seconds_sum{{{l}}} 0.5\n")));
        assert!(text.contains("# TYPE tasker_step_start_delay_seconds histogram\n"));
        assert!(text.contains("tasker_ready_steps 4\n"));
        assert!(text.contains("tasker_tasks{state=\"in_progress\"} 2\n"));
    }
}

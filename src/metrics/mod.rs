//! Metrics: what this client counted about the steps it ran (per template and handler), and
//! gauges read from the database when they are requested. `Client::metrics` returns the
//! document, `Client::metrics_text` the Prometheus text format (exposition.rs).
//!
//! Per client (a process normally has one): `steps` — outcomes this client wrote, lease
//! expiries its reaper turned into failed attempts, start delays and handler durations of the
//! steps it ran. Since the client connected; not shared between processes. Database-wide, read
//! at each request: `ready_steps` and `tasks_by_state`.

mod exposition;
mod histogram;
mod registry;

pub(crate) use registry::{FailureCause, MetricsRegistry, StepSeries};

use crate::models::State;
use crate::orchestration::Client;
use crate::Result;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A step's template and handler: the labels of its counters and histograms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StepLabels {
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub handler: String,
}

/// What `metrics` returns. `steps` are this client's since it connected; `ready_steps` and
/// `tasks_by_state` are database-wide, read now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Metrics {
    /// One entry per template (namespace, name, version) and handler this client has seen,
    /// sorted by them.
    pub steps: Vec<StepMetrics>,
    /// Steps claimable now (due, every dependency finished, task pending or in progress).
    pub ready_steps: i64,
    /// Tasks in each state, every state listed (0 when none).
    pub tasks_by_state: Vec<TaskStateCount>,
}

/// This client's counts for the steps of one template run by one handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepMetrics {
    pub namespace: String,
    pub template: String,
    pub version: String,
    pub handler: String,
    /// Attempts whose completion this client wrote.
    pub completed: u64,
    /// Attempts whose handler failure this client wrote (errors, panics, no handler, oversized
    /// results), retried or not.
    pub failed: u64,
    /// Failed attempts (by the handler or by lease expiry) after which a retry was scheduled.
    pub retried: u64,
    /// Leases this client found expired and wrote as failed attempts (whoever held them).
    pub lease_expired: u64,
    /// From the step becoming claimable (`ready_at`, or its last parent finishing, whichever
    /// is later) to its handler being called: the wait for a claim plus the claim.
    pub start_delay: DurationHistogram,
    /// The handler's `process` and `process_results`.
    pub duration: DurationHistogram,
}

/// Observations in seconds, Prometheus-style.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DurationHistogram {
    pub count: u64,
    pub sum_seconds: f64,
    /// Cumulative: observations at or below each bound, smallest bound first (the `+Inf`
    /// bucket is `count`).
    pub buckets: Vec<HistogramBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HistogramBucket {
    pub le_seconds: f64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskStateCount {
    pub state: State,
    pub tasks: i64,
}

/// The document: this client's series, then the database's gauges (two short reads).
pub(crate) fn collect(client: &Client) -> Result<Metrics> {
    client.block(collect_async(client))
}

/// [`collect`] for callers already on the client's runtime (the dashboard's `/metrics`).
pub(crate) async fn collect_async(client: &Client) -> Result<Metrics> {
    let inner = &client.inner;
    let steps = inner.metrics.snapshot();
    let (ready_steps, counts) = inner.store.metric_gauges(client.now()).await?;
    let tasks_by_state = State::ALL
        .into_iter()
        .map(|state| TaskStateCount {
            state,
            tasks: counts
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n),
        })
        .collect();
    Ok(Metrics {
        steps,
        ready_steps,
        tasks_by_state,
    })
}

/// The document in the Prometheus text exposition format 0.0.4.
pub(crate) fn render(metrics: &Metrics) -> String {
    exposition::render(metrics)
}

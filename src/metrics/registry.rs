//! `MetricsRegistry`: this client's step counters and histograms, one `StepSeries` per
//! template and handler. Recording is lock-free (atomics in the series); finding a series takes
//! a read lock on one of 16 shards, written only the first time a label set is seen.

use super::histogram::AtomicHistogram;
use super::{StepLabels, StepMetrics};
use crate::models::{StepContext, StepOutcome};
use parking_lot::RwLock;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SHARDS: usize = 16;

/// Why a step attempt failed, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureCause {
    /// The handler reported a failure (an error, a panic, no handler, oversized results).
    Handler,
    /// The lease expired before an outcome was written (counted by the reaping client).
    LeaseExpired,
}

/// The counters and histograms of one template and handler.
#[derive(Debug, Default)]
pub(crate) struct StepSeries {
    labels: StepLabels,
    completed: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    lease_expired: AtomicU64,
    start_delay: AtomicHistogram,
    duration: AtomicHistogram,
}

impl StepSeries {
    /// A handler was called `delay` after its step became claimable and ran for `duration`.
    pub fn observe_run(&self, delay: Option<Duration>, duration: Duration) {
        if let Some(d) = delay {
            self.start_delay.observe(d);
        }
        self.duration.observe(duration);
    }

    /// Counts a persisted outcome (a lost claim or a discarded result counts nothing).
    pub fn count(&self, outcome: &StepOutcome, cause: FailureCause) {
        let add = |c: &AtomicU64| {
            c.fetch_add(1, Ordering::Relaxed);
        };
        match outcome {
            StepOutcome::Completed { .. } => add(&self.completed),
            StepOutcome::Failed { will_retry, .. } => {
                add(match cause {
                    FailureCause::Handler => &self.failed,
                    FailureCause::LeaseExpired => &self.lease_expired,
                });
                if *will_retry {
                    add(&self.retried);
                }
            }
            StepOutcome::Discarded { .. }
            | StepOutcome::Stale { .. }
            | StepOutcome::Skipped { .. } => {}
        }
    }

    fn snapshot(&self) -> StepMetrics {
        let l = &self.labels;
        StepMetrics {
            namespace: l.namespace.clone(),
            template: l.name.clone(),
            version: l.version.clone(),
            handler: l.handler.clone(),
            completed: self.completed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            lease_expired: self.lease_expired.load(Ordering::Relaxed),
            start_delay: self.start_delay.snapshot(),
            duration: self.duration.snapshot(),
        }
    }
}

type Shard = RwLock<Vec<Arc<StepSeries>>>;

#[derive(Debug, Default)]
pub(crate) struct MetricsRegistry {
    shards: [Shard; SHARDS],
}

impl MetricsRegistry {
    /// The series of a claimed step's template and handler.
    pub fn for_step(&self, ctx: &StepContext) -> Arc<StepSeries> {
        let t = &ctx.task;
        self.series(&t.namespace, &t.name, &t.version, &ctx.step.handler)
    }

    pub fn for_labels(&self, l: &StepLabels) -> Arc<StepSeries> {
        self.series(&l.namespace, &l.name, &l.version, &l.handler)
    }

    /// The series of these labels, created on first use. A shard holds few series (templates
    /// × handlers / 16), so a scan compares a handful of strings and allocates nothing.
    fn series(&self, namespace: &str, name: &str, version: &str, handler: &str) -> Arc<StepSeries> {
        let hash = BuildHasherDefault::<DefaultHasher>::default()
            .hash_one((namespace, name, version, handler));
        let shard = &self.shards[(hash % SHARDS as u64) as usize];
        let matches = |s: &&Arc<StepSeries>| {
            let l = &s.labels;
            l.handler == handler
                && l.name == name
                && l.namespace == namespace
                && l.version == version
        };
        if let Some(s) = shard.read().iter().find(matches) {
            return Arc::clone(s);
        }
        let mut w = shard.write();
        if let Some(s) = w.iter().find(matches) {
            return Arc::clone(s);
        }
        let s = Arc::new(StepSeries {
            labels: StepLabels {
                namespace: namespace.into(),
                name: name.into(),
                version: version.into(),
                handler: handler.into(),
            },
            ..Default::default()
        });
        w.push(Arc::clone(&s));
        s
    }

    /// Every series, sorted by template and handler.
    pub fn snapshot(&self) -> Vec<StepMetrics> {
        let mut all: Vec<StepMetrics> = self
            .shards
            .iter()
            .flat_map(|s| s.read().iter().map(|x| x.snapshot()).collect::<Vec<_>>())
            .collect();
        all.sort_by(|a, b| {
            (&a.namespace, &a.template, &a.version, &a.handler).cmp(&(
                &b.namespace,
                &b.template,
                &b.version,
                &b.handler,
            ))
        });
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(handler: &str) -> StepLabels {
        StepLabels {
            namespace: "ns".into(),
            name: "t".into(),
            version: "1.0.0".into(),
            handler: handler.into(),
        }
    }

    #[test]
    fn one_series_per_label_set_counting_each_outcome() {
        let r = MetricsRegistry::default();
        let a = r.for_labels(&labels("a"));
        assert!(Arc::ptr_eq(&a, &r.for_labels(&labels("a"))));
        let completed = StepOutcome::Completed {
            step_id: 1,
            task_id: 1,
            task_completed: false,
        };
        let failed = |will_retry| StepOutcome::Failed {
            step_id: 1,
            task_id: 1,
            will_retry,
            retry_delay_ms: None,
            task_blocked: false,
        };
        a.count(&completed, FailureCause::Handler);
        a.count(&failed(true), FailureCause::Handler);
        a.count(&failed(false), FailureCause::LeaseExpired);
        a.count(
            &StepOutcome::Stale {
                step_id: 1,
                task_id: 1,
            },
            FailureCause::Handler,
        );
        r.for_labels(&labels("b"))
            .observe_run(Some(Duration::from_millis(3)), Duration::from_millis(2));
        let s = r.snapshot();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (
                s[0].handler.as_str(),
                s[0].completed,
                s[0].failed,
                s[0].retried,
                s[0].lease_expired
            ),
            ("a", 1, 1, 1, 1)
        );
        assert_eq!((s[1].start_delay.count, s[1].duration.count), (1, 1));
    }
}

//! Throughput over the last minutes, for the overview: the server samples the database's
//! finished-task and completed-step counts once per `SAMPLE_EVERY` and keeps the last
//! `KEEP` samples; differences of successive samples are the rates. Sampling in the server
//! (instead of a query over transition times) keeps the overview cheap on large databases.

use crate::models::HealthCounts;
use parking_lot::Mutex;
use std::collections::VecDeque;

pub(crate) const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_secs(15);
/// Ten minutes of samples.
const KEEP: usize = 41;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    pub at_ms: i64,
    pub finished_tasks: i64,
    pub completed_steps: i64,
}

impl Sample {
    pub fn of(h: &HealthCounts, at_ms: i64) -> Sample {
        Sample {
            at_ms,
            finished_tasks: h
                .complete_tasks
                .saturating_add(h.resolved_manually_tasks)
                .saturating_add(h.cancelled_tasks),
            completed_steps: h.complete_steps.saturating_add(h.resolved_manually_steps),
        }
    }
}

/// One interval between two samples: when it ended and what finished during it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rate {
    pub until_ms: i64,
    pub seconds: i64,
    pub tasks: i64,
    pub steps: i64,
}

#[derive(Default)]
pub(crate) struct Throughput {
    samples: Mutex<VecDeque<Sample>>,
}

impl Throughput {
    pub fn record(&self, s: Sample) {
        let mut q = self.samples.lock();
        q.push_back(s);
        while q.len() > KEEP {
            q.pop_front();
        }
    }

    /// Oldest first. Counts can shrink (rows deleted by hand): a drop reads as zero.
    pub fn rates(&self) -> Vec<Rate> {
        let q = self.samples.lock();
        q.iter()
            .zip(q.iter().skip(1))
            .map(|(a, b)| Rate {
                until_ms: b.at_ms,
                seconds: b.at_ms.saturating_sub(a.at_ms) / 1000,
                tasks: b.finished_tasks.saturating_sub(a.finished_tasks).max(0),
                steps: b.completed_steps.saturating_sub(a.completed_steps).max(0),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at_ms: i64, tasks: i64, steps: i64) -> Sample {
        Sample {
            at_ms,
            finished_tasks: tasks,
            completed_steps: steps,
        }
    }

    #[test]
    fn rates_are_differences_of_successive_samples_and_never_negative() {
        let t = Throughput::default();
        t.record(s(0, 10, 40));
        t.record(s(15_000, 13, 52));
        t.record(s(30_000, 12, 52));
        let r = t.rates();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].seconds, r[0].tasks, r[0].steps), (15, 3, 12));
        assert_eq!((r[1].tasks, r[1].steps), (0, 0));
    }

    #[test]
    fn only_the_last_ten_minutes_are_kept() {
        let t = Throughput::default();
        for i in 0..100 {
            t.record(s(i * 15_000, i, i));
        }
        assert_eq!(t.rates().len(), KEEP - 1);
    }
}

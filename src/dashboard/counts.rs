//! The overview's figures (counts by state and the failing handlers), read by one task of the
//! server for every viewer. Counting by state reads every task and step row (an index on
//! `state` would cost the hot path its HOT updates), which takes 100–200 ms at 100,000 tasks:
//! paid per page load and per live viewer every second, it made the overview slow and the
//! database busy. Instead the pages show the latest figures at once (with their time), and a
//! viewer that finds them older than the refresh interval asks the reader for new ones, which
//! the live stream then delivers. The interval grows with the cost of a read (`COST_FACTOR`),
//! so the reader never keeps the database busy more than a tenth of the time.

use super::server::{App, PageError};
use super::throughput::{Sample, SAMPLE_EVERY};
use crate::models::{FailingHandler, HealthCounts};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// The failing handlers the overview lists (the most failing first).
pub(crate) const FAILING_HANDLERS_SHOWN: u32 = 50;
/// Figures are read again at most this often while someone looks at them...
const MIN_REFRESH_EVERY: Duration = Duration::from_secs(1);
/// ...and at most once per this many times the last read took.
const COST_FACTOR: u32 = 10;

/// One read of the figures.
#[derive(Debug, Clone)]
pub(crate) struct Counts {
    pub health: HealthCounts,
    pub failing: Vec<FailingHandler>,
    /// When they were read, on the client's clock (ms).
    pub read_at_ms: i64,
    /// How long the read took.
    pub took: Duration,
    read: Instant,
}

impl Counts {
    fn refresh_every(&self) -> Duration {
        MIN_REFRESH_EVERY.max(self.took.saturating_mul(COST_FACTOR))
    }
}

/// The latest figures and the way to ask for newer ones.
pub(crate) struct CountsCache {
    latest: watch::Sender<Option<Arc<Counts>>>,
    wanted: Notify,
}

impl Default for CountsCache {
    fn default() -> Self {
        CountsCache {
            latest: watch::Sender::new(None),
            wanted: Notify::new(),
        }
    }
}

impl CountsCache {
    /// The latest figures. Waits for the first read when there is none yet; when they are due
    /// for a refresh, asks the reader for one and answers with these meanwhile.
    pub async fn get(&self, app: &App) -> Result<Arc<Counts>, PageError> {
        let mut rx = self.latest.subscribe();
        let current = rx.borrow_and_update().clone();
        if let Some(c) = current {
            if c.read.elapsed() >= c.refresh_every() {
                self.wanted.notify_one();
            }
            return Ok(c);
        }
        self.wanted.notify_one();
        let mut stop = app.shutdown.clone();
        tokio::select! {
            r = rx.wait_for(|c| c.is_some()) => match r {
                Ok(c) => c.clone().ok_or(PageError(crate::Error::Closed)),
                Err(_) => Err(PageError(crate::Error::Closed)),
            },
            _ = stop.wait_for(|s| *s) => Err(PageError(crate::Error::Closed)),
        }
    }
}

/// Reads the figures whenever a viewer wants newer ones (at most once per refresh interval)
/// and at least every `SAMPLE_EVERY` for the throughput chart. Holds the client only while it
/// reads; ends when the server stops or the client is gone.
pub(crate) async fn reader(app: App) {
    let mut stop = app.shutdown.clone();
    let mut last_sample: Option<Instant> = None;
    loop {
        let Ok(client) = app.client() else { return };
        let started = Instant::now();
        let now = client.now();
        let read = async {
            let health = client.inner.store.health(now).await?;
            let failing = client
                .inner
                .store
                .failing_handlers(FAILING_HANDLERS_SHOWN)
                .await?;
            Ok::<_, crate::Error>((health, failing))
        }
        .await;
        drop(client);
        let pause = match read {
            Ok((health, failing)) => {
                if last_sample.is_none_or(|t| t.elapsed() >= SAMPLE_EVERY) {
                    app.throughput.record(Sample::of(&health, now));
                    last_sample = Some(started);
                }
                let counts = Counts {
                    health,
                    failing,
                    read_at_ms: now,
                    took: started.elapsed(),
                    read: started,
                };
                let pause = counts.refresh_every();
                app.counts.latest.send_replace(Some(Arc::new(counts)));
                pause
            }
            Err(e) => {
                tracing::debug!(error = %e, "dashboard counts read failed");
                MIN_REFRESH_EVERY
            }
        };
        // Not again before the interval (requests meanwhile leave a permit in `wanted`)...
        tokio::select! {
            _ = tokio::time::sleep(pause.saturating_sub(started.elapsed())) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        // ...then when someone wants newer figures or the next throughput sample is due.
        let sample_in =
            last_sample.map_or(Duration::ZERO, |t| SAMPLE_EVERY.saturating_sub(t.elapsed()));
        tokio::select! {
            _ = app.counts.wanted.notified() => {}
            _ = tokio::time::sleep(sample_in) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

//! Pooled PostgreSQL connections that a server restart left dead.
//!
//! Checking every connection before handing it out costs a round trip per checkout, so the
//! pool does not (see `pg.rs`). Instead, the first statement that meets a dead connection marks
//! the pool *suspect* for a few seconds: during that window every checkout is pinged first and
//! dead connections are dropped, and the failed statement is sent again (`Store` does that for
//! errors showing that the connection, not the statement, failed). Connections idle for long
//! (where firewalls and NAT drop them silently) are pinged too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long after a connection error every checkout is pinged.
const SUSPECT_FOR: Duration = Duration::from_secs(5);
/// Connections idle longer than this are pinged before use.
const PING_IDLE_OVER: Duration = Duration::from_secs(30);

/// Shared between the store (which marks) and the pool's checkout hook (which pings).
#[derive(Clone, Debug)]
pub struct StaleConnections {
    origin: Instant,
    /// Milliseconds after `origin` until which checkouts are pinged (0: not suspect).
    suspect_until_ms: Arc<AtomicU64>,
}

impl Default for StaleConnections {
    fn default() -> Self {
        StaleConnections {
            origin: Instant::now(),
            suspect_until_ms: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl StaleConnections {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A connection failed: test the pool's connections before use for a while.
    pub fn mark(&self) {
        let until = self.now_ms().saturating_add(SUSPECT_FOR.as_millis() as u64);
        self.suspect_until_ms.fetch_max(until, Ordering::Relaxed);
    }

    /// Whether a connection idle for `idle_for` must be pinged before it is handed out.
    pub fn should_ping(&self, idle_for: Duration) -> bool {
        idle_for > PING_IDLE_OVER || self.now_ms() < self.suspect_until_ms.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspect_after_mark_and_for_long_idle_connections() {
        let s = StaleConnections::default();
        assert!(!s.should_ping(Duration::from_millis(10)));
        assert!(s.should_ping(PING_IDLE_OVER + Duration::from_secs(1)));
        s.mark();
        assert!(s.should_ping(Duration::ZERO));
        s.clone().mark();
        assert!(s.should_ping(Duration::ZERO), "clones share the window");
    }
}

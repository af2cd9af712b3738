//! `LeaseReaper`: lease expiry and heartbeats. A step whose lease expired (worker lost or too
//! slow) becomes a failed attempt under its retry policy; a heartbeat extends a running lease.

use super::Client;
use crate::database::ClaimScope;
use crate::metrics::FailureCause;
use crate::models::{StepOutcome, StopReason};
use crate::step_handler::{RetryAnalyzer, StepHandlerFoundation};
use crate::Result;

/// How many expired leases one pass turns into failures.
const REAP_BATCH: i64 = 100;

pub(crate) struct LeaseReaper<'a> {
    client: &'a Client,
}

impl<'a> LeaseReaper<'a> {
    pub fn new(client: &'a Client) -> LeaseReaper<'a> {
        LeaseReaper { client }
    }

    /// Turns expired leases into failed attempts (at most once per `lease_check_interval_ms`
    /// for a client-wide scope). Returns how many it failed.
    pub fn reap(&self, scope: ClaimScope) -> Result<usize> {
        let c = self.client;
        let inner = &c.inner;
        let now = c.now();
        if scope == ClaimScope::Any
            && !super::periodic::take_turn(
                &inner.last_lease_check,
                now,
                inner.config.lease_check_interval_ms,
            )
        {
            return Ok(0);
        }
        let expired = c.block(inner.store.expired_leases(scope, now, REAP_BATCH))?;
        let foundation = StepHandlerFoundation::new(c);
        let mut n = 0;
        for x in expired {
            // Past its timeout, the attempt's failure is `Timeout` (docs/TIMEOUTS_AND_CANCELLATION.md).
            let failure = match x.deadline_at.filter(|d| now > *d) {
                Some(d) => RetryAnalyzer::lease_expired_after_timeout(d),
                None => RetryAnalyzer::lease_expired(),
            };
            let mut decision = RetryAnalyzer::for_step(&inner.config.backoff, &x.backoff).decide(
                x.retryable,
                &failure,
                x.attempts,
                x.retry_limit,
            );
            // Either way nothing ended the attempt before now: the retry keeps its place.
            decision.from_claim = true;
            let r = c.block(inner.store.fail_step(
                x.task_id,
                x.step_id,
                &x.claim_token,
                &failure,
                &decision,
                now,
            ));
            let (outcome, _) = foundation.settle(x.task_id, x.step_id, r)?;
            let series = inner.metrics.for_labels(&x.labels);
            series.count(&outcome, FailureCause::LeaseExpired);
            if let StepOutcome::Failed { .. } = outcome {
                n += 1;
            }
        }
        if n > 0 {
            tracing::info!(count = n, "expired leases turned into failed attempts");
            inner.ready.notify_waiters();
        }
        Ok(n)
    }

    /// Extends the lease of a running step. Fails with `StaleClaim` when the claim is no
    /// longer current.
    pub fn heartbeat(&self, step_id: i64, claim_token: &str) -> Result<i64> {
        let c = self.client;
        c.block(c.inner.store.heartbeat(step_id, claim_token, c.now()))
    }

    /// Why the attempt holding `claim_token` should stop, or None (one indexed read).
    pub fn stop_reason(&self, step_id: i64, claim_token: &str) -> Result<Option<StopReason>> {
        let c = self.client;
        c.block(c.inner.store.stop_reason(step_id, claim_token, c.now()))
    }
}

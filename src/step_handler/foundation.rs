//! `StepHandlerFoundation`: the lifecycle of one claimed step, in the order it happens.
//!
//! context (`step.before_handle`) → `process` → `process_results` → output processing (size
//! limit) → persist (completion, or the failure with its retry policy; fenced by the claim
//! token) → settle (events, wakeups, the `StepOutcome`).

use super::{OutputProcessor, RetryAnalyzer, TIMEOUT};
use crate::database::{Claimed, ClaimedStep, HeldClaim, LoadedStep, Recorded, StepSettled};
use crate::metrics::FailureCause;
use crate::models::{State, StepContext, StepError, StepOutcome};
use crate::orchestration::Client;
use crate::orchestration::{
    Choice, DecisionStep, InterruptScope, BATCHES_EVENT, DECISION_EVENT, STEP_CREATED_EVENT,
};
use crate::{Error, Result};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The error class of a step whose stored run context (task context, inputs, parents' results)
/// cannot be decoded.
pub const UNREADABLE_ROW: &str = "UnreadableRow";
/// Published before each handler call, with the attempt and the handler name.
const BEFORE_HANDLE_EVENT: &str = "step.before_handle";

/// First wait before writing an outcome again after a lost connection; it doubles up to
/// `PERSIST_RETRY_MAX`.
const PERSIST_RETRY_FIRST: Duration = Duration::from_millis(50);
const PERSIST_RETRY_MAX: Duration = Duration::from_secs(1);

/// Steps claimed in a completion's transaction, with the claim's transitions.
pub(crate) type NextClaims = (Vec<ClaimedStep>, Vec<Recorded>);

/// What handling one step produced.
pub(crate) struct Handled {
    pub outcome: StepOutcome,
    /// Children that became claimable.
    pub newly_ready: Vec<i64>,
    /// Steps of the same task claimed in the completion's transaction (inline runs), with the
    /// claim's transitions; the caller publishes them after this step's events.
    pub next: Option<NextClaims>,
    /// The finished task's execution context, when the completion read it.
    pub finished: Option<crate::models::ExecutionContext>,
}

/// Runs claimed steps through their lifecycle on the calling thread.
pub(crate) struct StepHandlerFoundation<'a> {
    client: &'a Client,
    /// The interrupt scope of the call this foundation serves (taken when it was made).
    interrupt: InterruptScope,
}

impl<'a> StepHandlerFoundation<'a> {
    pub fn new(client: &'a Client) -> StepHandlerFoundation<'a> {
        StepHandlerFoundation {
            client,
            interrupt: client.inner.interrupt.scope(),
        }
    }

    pub fn interrupt(&self) -> &InterruptScope {
        &self.interrupt
    }

    /// The whole lifecycle of one claimed step. With `claim_next > 0`, a completion also claims
    /// up to that many ready steps of the same task in its transaction (inline runs: one commit
    /// per step instead of two).
    pub fn handle(&self, step: ClaimedStep, claim_next: i64) -> Result<Handled> {
        // The claim was made just before: the lease counts from about here.
        let claimed = Instant::now();
        let result = self.run_hooks(&step.0, &step.1);
        self.finish(step, result, claim_next, claimed)
    }

    /// Persists and settles what the hooks of a claimed step returned. An outcome that comes
    /// back after the call was interrupted is not written: the claim is released (back to
    /// ready, the attempt not counted) and the call ends with `Interrupted`.
    pub fn finish(
        &self,
        step: ClaimedStep,
        result: std::result::Result<Value, StepError>,
        claim_next: i64,
        claimed: Instant,
    ) -> Result<Handled> {
        let (c, loaded) = step;
        let _span =
            tracing::info_span!("tasker.step", task_id = c.task_id, step_id = c.step_id).entered();
        if self.interrupt.is_interrupted() {
            self.release(&c)?;
            return Err(Error::Interrupted);
        }
        let mut next = None;
        // A decision's output also says which steps to create (orchestration/decision.rs).
        let (result, decision) = match result.map(|r| (self.decision_of(&loaded), r)) {
            Ok((Ok(Some(d)), r)) => match d.choose(&r) {
                Ok(chosen) => (Ok(r), Some((d, chosen))),
                Err(e) => (Err(e), None),
            },
            Ok((Ok(None), r)) => (Ok(r), None),
            Ok((Err(e), _)) => (Err(e), None),
            Err(e) => (Err(e), None),
        };
        let mut created = Vec::new();
        let persisted = match (result, &decision) {
            (Ok(results), Some((d, chosen))) => {
                let plan = d.plan(chosen);
                let results = chosen.stored_results(results);
                self.persist_retrying(c.step_id, claimed, loaded.lease_ms, || {
                    self.client.block(self.client.inner.store.complete_decision(
                        c.task_id,
                        c.step_id,
                        &c.claim_token,
                        &results,
                        self.client.now(),
                        &plan,
                    ))
                })
                .map(|(s, made)| {
                    created = made;
                    s
                })
            }
            (Ok(results), None) => self
                .persist_retrying(c.step_id, claimed, loaded.lease_ms, || {
                    self.persist_success(&c, &results, claim_next)
                })
                .map(|(s, n)| {
                    next = n;
                    s
                }),
            (Err(e), _) => self.persist_failure(&c, &loaded, e, claimed),
        };
        let (outcome, settled) = self.settle(c.task_id, c.step_id, persisted)?;
        if let (Some((d, chosen)), StepOutcome::Completed { .. }) = (&decision, &outcome) {
            self.publish_decision(&c, &d.names(chosen), chosen, &created);
        }
        self.count(&loaded, &outcome);
        Ok(Handled {
            outcome,
            newly_ready: settled.newly_ready,
            next,
            finished: settled.finished,
        })
    }

    /// Gives a claim back from the calling thread (interrupted call): the step is ready again
    /// and its attempt is not counted. A claim already gone is left alone.
    pub fn release(&self, c: &Claimed) -> Result<()> {
        let client = self.client;
        let rec = client.block(
            client
                .inner
                .store
                .release_claims(&[HeldClaim::from(c)], client.now()),
        )?;
        client.publish(&rec);
        Ok(())
    }

    /// Context, `process`, `process_results`, output processing. Nothing is persisted here.
    /// A step whose stored run context cannot be read fails permanently with the cause, without
    /// calling the handler: retrying cannot read it either, and the claim's other steps go on.
    pub fn run_hooks(
        &self,
        c: &Claimed,
        loaded: &LoadedStep,
    ) -> std::result::Result<Value, StepError> {
        let _span = tracing::info_span!("tasker.step", task_id = c.task_id, step_id = c.step_id, step = %c.name, attempt = c.attempts).entered();
        if let Some(cause) = &loaded.unreadable {
            tracing::error!(%cause, "the step's stored run context cannot be read; failing the step");
            return Err(StepError {
                message: cause.clone(),
                class: UNREADABLE_ROW.into(),
                retryable: false,
                ..Default::default()
            });
        }
        let ctx = &loaded.context;
        let inner = &self.client.inner;
        // The payload is built only for a subscriber (this runs once per step).
        if inner.events.wants(BEFORE_HANDLE_EVENT) {
            inner.events.publish_named(
                BEFORE_HANDLE_EVENT,
                c.task_id,
                Some((c.step_id, &c.name)),
                serde_json::json!({"attempt": c.attempts, "handler": ctx.step.handler}),
                self.client.now(),
            );
        }
        // Metrics: a relaxed atomic add per observation, no statement, no lock held.
        let series = inner.metrics.for_step(ctx);
        let delay = c.ready_since.map(|since| {
            Duration::from_millis(
                self.client
                    .now()
                    .saturating_sub(since)
                    .max(0)
                    .unsigned_abs(),
            )
        });
        let started = Instant::now();
        let result = {
            let _handling = crate::orchestration::HandlingTask::enter(c.task_id);
            self.call_handler(ctx)
        };
        series.observe_run(delay, started.elapsed());
        let result = self.past_deadline(loaded, result);
        match &result {
            Ok(_) => tracing::debug!("step completed"),
            Err(e) => {
                tracing::info!(class = %e.class, message = %e.message, "step attempt failed")
            }
        }
        result
    }

    /// An outcome delivered after the attempt's deadline (claim time + the step's timeout) is a
    /// retryable `Timeout` failure instead: the handler could not be stopped, but the timeout
    /// holds (docs/TIMEOUTS_AND_CANCELLATION.md).
    fn past_deadline(
        &self,
        loaded: &LoadedStep,
        result: std::result::Result<Value, StepError>,
    ) -> std::result::Result<Value, StepError> {
        let now = self.client.now();
        match loaded.deadline_at.filter(|d| now > *d) {
            None => result,
            Some(deadline_at) => Err(StepError {
                message:
                    "the step's attempt ran past its timeout; its late outcome was not recorded"
                        .into(),
                class: TIMEOUT.into(),
                retryable: true,
                details: serde_json::json!({
                    "deadline_at": deadline_at,
                    "late_outcome": if result.is_ok() { "completed" } else { "failed" },
                }),
                ..Default::default()
            }),
        }
    }

    /// The handler named by `ctx.step.handler`, its hooks (panics caught) and the results' size
    /// limit, without the database. An unregistered name fails permanently: retrying cannot
    /// help a process that lacks the handler.
    pub fn call_handler(&self, ctx: &StepContext) -> std::result::Result<Value, StepError> {
        let inner = &self.client.inner;
        let Some(handler) = inner.handlers.get(&ctx.step.handler) else {
            return Err(StepError {
                message: format!(
                    "no step handler registered under the name '{}'",
                    ctx.step.handler
                ),
                class: "HandlerNotFound".into(),
                retryable: false,
                ..Default::default()
            });
        };
        let output = OutputProcessor::new(inner.config.max_payload_bytes);
        output.check_context(ctx)?;
        OutputProcessor::run_hooks(handler.as_ref(), ctx).and_then(|v| output.check(v))
    }

    /// The decision behind a claimed step, or None. A template that cannot be loaded now (a
    /// lost connection) is a retryable failure: completing the step as a plain one would
    /// lose its choice.
    pub fn decision_of(
        &self,
        loaded: &LoadedStep,
    ) -> std::result::Result<Option<DecisionStep>, StepError> {
        DecisionStep::of(self.client, &loaded.context).map_err(|e| StepError {
            message: format!("the step's template could not be loaded: {e}"),
            class: "TemplateUnavailable".into(),
            retryable: true,
            ..Default::default()
        })
    }

    /// `step.created` for each step a decision created, then `decision.made` with the chosen
    /// and created names (after the decision's own transition events).
    /// A batchable's: `step.created` with `{"batchable": <name>}`, then `batches.created` with
    /// the number of batches and of steps created.
    fn publish_decision(
        &self,
        c: &Claimed,
        chosen: &[String],
        choice: &Choice,
        created: &[(i64, String)],
    ) {
        let events = &self.client.inner.events;
        let now = self.client.now();
        let by = if choice.batches.is_some() {
            "batchable"
        } else {
            "decision"
        };
        for (id, name) in created {
            events.publish_named(
                STEP_CREATED_EVENT,
                c.task_id,
                Some((*id, name)),
                serde_json::json!({ by: c.name }),
                now,
            );
        }
        if let Some(batches) = &choice.batches {
            events.publish_named(
                BATCHES_EVENT,
                c.task_id,
                Some((c.step_id, &c.name)),
                serde_json::json!({"worker": chosen.first(), "batches": batches.len(), "created": created.len()}),
                now,
            );
            return;
        }
        let made: Vec<&str> = created.iter().map(|(_, n)| n.as_str()).collect();
        events.publish_named(
            DECISION_EVENT,
            c.task_id,
            Some((c.step_id, &c.name)),
            serde_json::json!({"activate": chosen, "created": made}),
            now,
        );
    }

    /// Counts a settled outcome of a handler's attempt in its template's and handler's metrics.
    pub fn count(&self, loaded: &LoadedStep, outcome: &StepOutcome) {
        let series = self.client.inner.metrics.for_step(&loaded.context);
        series.count(outcome, FailureCause::Handler);
    }

    /// Writes a completion, fenced by the claim token (and claims `claim_next` more steps).
    fn persist_success(
        &self,
        c: &Claimed,
        results: &Value,
        claim_next: i64,
    ) -> Result<(StepSettled, Option<NextClaims>)> {
        let store = &self.client.inner.store;
        let now = self.client.now();
        if claim_next > 0 {
            let (settled, claimed, recorded) = self.client.block(store.complete_step_and_claim(
                c.task_id,
                c.step_id,
                &c.claim_token,
                results,
                now,
                claim_next,
            ))?;
            return Ok((settled, Some((claimed, recorded))));
        }
        let settled = self.client.block(store.complete_step(
            c.task_id,
            c.step_id,
            &c.claim_token,
            results,
            now,
        ))?;
        Ok((settled, None))
    }

    /// Runs `persist` again after connection-level errors, with a doubling backoff, while less
    /// than half of the lease has passed since `claimed`: the handler's work is not thrown away
    /// for a blip (a PostgreSQL restart), and the claim is still ours. Past that, the error is
    /// returned and the lease's expiry retries the step. A lost claim (StaleClaim) or a
    /// statement error is returned at once.
    pub fn persist_retrying<T>(
        &self,
        step_id: i64,
        claimed: Instant,
        lease_ms: i64,
        mut persist: impl FnMut() -> Result<T>,
    ) -> Result<T> {
        let budget = Duration::from_millis(u64::try_from(lease_ms).unwrap_or(0) / 2);
        let mut delay = PERSIST_RETRY_FIRST;
        loop {
            match persist() {
                Err(e) if e.is_connection() && claimed.elapsed() + delay < budget => {
                    tracing::warn!(
                        step_id,
                        error = %e,
                        retry_in_ms = delay.as_millis() as u64,
                        "outcome not written (database connection lost); retrying while the lease is valid"
                    );
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(PERSIST_RETRY_MAX);
                }
                r => return r,
            }
        }
    }

    /// Writes a failed attempt under the step's `RetryAnalyzer` (retry with backoff, or block
    /// the task), fenced by the claim token; retried after connection errors while less than
    /// half of the lease has passed since `claimed`.
    pub fn persist_failure(
        &self,
        c: &Claimed,
        loaded: &LoadedStep,
        e: StepError,
        claimed: Instant,
    ) -> Result<StepSettled> {
        let inner = &self.client.inner;
        let failure = RetryAnalyzer::failure_of(e, self.client.inner.config.max_payload_bytes);
        let step = &loaded.context.step;
        let decision = RetryAnalyzer::for_step(&inner.config.backoff, &loaded.backoff).decide(
            step.retryable,
            &failure,
            c.attempts,
            step.retry_limit,
        );
        self.persist_retrying(c.step_id, claimed, loaded.lease_ms, || {
            self.client.block(inner.store.fail_step(
                c.task_id,
                c.step_id,
                &c.claim_token,
                &failure,
                &decision,
                self.client.now(),
            ))
        })
    }

    /// Publishes what a persisted outcome changed, wakes idle workers when children became
    /// ready, and names the outcome. A lost claim is `Stale` (or `Discarded` when the task was
    /// cancelled meanwhile), not an error.
    pub fn settle(
        &self,
        task_id: i64,
        step_id: i64,
        persisted: Result<StepSettled>,
    ) -> Result<(StepOutcome, StepSettled)> {
        let s = match persisted {
            Ok(s) => s,
            Err(Error::StaleClaim(_)) => {
                // Cancelling a task settles its running steps (and clears their claim), so a
                // result arriving afterwards finds its claim gone: that is the documented
                // `discarded`, not a takeover.
                let cancelled = matches!(
                    self.client
                        .block(self.client.inner.store.step_status(step_id)),
                    Ok((_, State::Cancelled, _, _))
                );
                let outcome = if cancelled {
                    tracing::info!(
                        step_id,
                        "task cancelled while the step ran; result discarded"
                    );
                    StepOutcome::Discarded { step_id, task_id }
                } else {
                    tracing::warn!(
                        step_id,
                        "claim lost before the outcome was written; outcome dropped"
                    );
                    StepOutcome::Stale { step_id, task_id }
                };
                return Ok((outcome, StepSettled::default()));
            }
            Err(e) => return Err(e),
        };
        self.client.publish(&s.recorded);
        if !s.newly_ready.is_empty() {
            self.client.inner.ready.notify_waiters();
        }
        let outcome = if s.discarded {
            StepOutcome::Discarded { step_id, task_id }
        } else if s
            .recorded
            .iter()
            .any(|r| r.step_id == Some(step_id) && r.to == State::Complete)
        {
            StepOutcome::Completed {
                step_id,
                task_id,
                task_completed: s.task_finished,
            }
        } else {
            StepOutcome::Failed {
                step_id,
                task_id,
                will_retry: s.will_retry,
                retry_delay_ms: s.retry_delay_ms,
                task_blocked: s.task_blocked,
            }
        };
        Ok((outcome, s))
    }
}

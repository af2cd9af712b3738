//! `OrchestrationCoordinator`: claims ready steps, runs them in batches through the step
//! foundation (successes written as one group commit), and drives a single task to its end
//! on the calling thread (the inline run).

use super::deadlines::Deadlines;
use super::held_claims::{HeldClaims, Watchdog};
use super::interrupt::InterruptScope;
use super::lease_reaper::LeaseReaper;
use super::worker::StopHandle;
use super::{AdaptiveClaim, Client};
use crate::database::{ClaimScope, Claimed, ClaimedStep, Completion, LoadedStep, Recorded};
use crate::error::Error;
use crate::metrics::{FailureCause, StepSeries};
use crate::models::{ExecutionContext, ExecutionStatus, State, StepError, StepOutcome};
use crate::step_handler::{NextClaims, StepHandlerFoundation};
use crate::Result;
use serde_json::Value;
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a worker may hold a successful outcome of its batch for a group commit before it
/// writes the group (checked between handlers). Small: it bounds how much later than strictly
/// necessary dependents become ready; no-op-sized handlers still form whole groups.
const GROUP_COMMIT_WINDOW: Duration = Duration::from_millis(5);

/// Steps claimed in a completion's transaction (inline runs), already published.
type ClaimedNext = Option<Vec<ClaimedStep>>;

/// What one batch did: whether a task completed, the steps its last completion claimed, and
/// the finished task's execution context when that completion read it (`run_task` returns it).
#[derive(Default)]
struct Ran {
    done: bool,
    next: ClaimedNext,
    finished: Option<ExecutionContext>,
}

/// A success waiting for its group commit: the claim, the results, the step's lease (ms) and
/// its metrics series.
type Success = (Claimed, Value, i64, Arc<StepSeries>);

pub(crate) struct OrchestrationCoordinator<'a> {
    client: &'a Client,
    foundation: StepHandlerFoundation<'a>,
    /// The claims of this call whose handlers have not finished (released on stop/interrupt).
    held: Arc<HeldClaims>,
    /// The worker's stop handle: once stopped, no step is started and nothing more claimed.
    stop: Option<&'a StopHandle>,
    /// Handlers this coordinator has called (claimed steps given back are not counted).
    started: Cell<usize>,
}

impl<'a> OrchestrationCoordinator<'a> {
    pub fn new(client: &'a Client) -> OrchestrationCoordinator<'a> {
        OrchestrationCoordinator {
            client,
            foundation: StepHandlerFoundation::new(client),
            held: Arc::default(),
            stop: None,
            started: Cell::new(0),
        }
    }

    /// A worker's coordinator: it starts no further step once `stop` is signalled.
    pub fn stopped_by(mut self, stop: &'a StopHandle) -> OrchestrationCoordinator<'a> {
        self.stop = Some(stop);
        self
    }

    pub fn interrupt(&self) -> &InterruptScope {
        self.foundation.interrupt()
    }

    /// Gives this call's claims back while its thread is in a handler: at once on interrupt,
    /// or after the grace period of a stop.
    pub fn watchdog(&self, stop: Option<(StopHandle, Duration)>) -> Watchdog<'a> {
        Watchdog::start(
            self.client,
            Arc::clone(&self.held),
            self.interrupt().clone(),
            stop,
        )
    }

    /// Interrupted, or the worker was asked to stop.
    fn halted(&self) -> bool {
        self.interrupt().is_interrupted() || self.stop.is_some_and(StopHandle::is_stopped)
    }

    /// Gives back every claim not finished, then ends with `Interrupted` if that is why.
    fn release_held(&self) -> Result<()> {
        self.held.release(self.client)?;
        self.interrupt().check()
    }

    /// Claims ready steps of any task, as many as the client's `AdaptiveClaim` says (at most
    /// `claim_batch`), and runs them. Returns how many ran (steps given back on a stop are not
    /// counted).
    pub fn run_once(&self) -> Result<usize> {
        let inner = &self.client.inner;
        LeaseReaper::new(self.client).reap(ClaimScope::Any)?;
        let max = inner.config.claim_batch;
        let limit = inner.claim_size.limit(max, inner.config.adaptive_claim);
        let claimed = self.claim(ClaimScope::Any, i64::from(limit))?;
        let n = claimed.len();
        let before = self.started.get();
        if n > 0 {
            let started = Instant::now();
            self.run_batch(claimed, None)?;
            inner.claim_size.observe(limit, n, started.elapsed(), max);
        }
        Ok(self.started.get().saturating_sub(before))
    }

    /// The inline run: one task to the end on this thread (see `Client::run_task`).
    pub fn run_task(&self, task_id: i64) -> Result<ExecutionContext> {
        let client = self.client;
        if super::reentrancy::is_handling(task_id) {
            return Err(Error::ReentrantRun(task_id));
        }
        let _span = tracing::info_span!("tasker.task", task_id).entered();
        let _watchdog = self.watchdog(None);
        let interrupt = self.interrupt();
        // The inline run adapts its claims like a worker, on its own (one task's steps).
        let max = client.inner.config.claim_batch;
        let size = AdaptiveClaim::default();
        let mut queue: VecDeque<ClaimedStep> = VecDeque::new();
        // True when the last completion already claimed on our behalf (an empty answer then
        // means nothing is claimable right now; no second claim is needed to learn that).
        let mut claimed_already = false;
        // Checked on this thread's clock before each claim; the database only once it passed.
        let mut deadline = Deadlines::new(client).pending(task_id)?;
        loop {
            if deadline.is_some_and(|d| client.now() > d) {
                deadline = None;
                if Deadlines::new(client).enforce(task_id)? {
                    self.release_held()?;
                    return client.execution_context(task_id);
                }
            }
            if interrupt.is_interrupted() {
                // Claims queued by the last completion are held too: all go back.
                self.release_held()?;
            }
            let limit = size.limit(max, client.inner.config.adaptive_claim);
            if queue.is_empty() && !claimed_already {
                queue.extend(self.claim(ClaimScope::Task(task_id), i64::from(limit))?);
            }
            claimed_already = false;
            if !queue.is_empty() {
                let steps: Vec<ClaimedStep> = queue.drain(..).collect();
                let (n, started) = (steps.len(), Instant::now());
                let ran = self.run_batch(steps, Some((task_id, i64::from(limit))))?;
                size.observe(limit, n, started.elapsed(), max);
                if ran.done {
                    return match ran.finished {
                        Some(ctx) => Ok(ctx),
                        None => client.execution_context(task_id),
                    };
                }
                if let Some(next) = ran.next {
                    queue.extend(next);
                    claimed_already = true;
                }
                continue;
            }
            // Nothing claimable now. Expired leases become failed attempts (that may be retried
            // at once): looked for only here, not before every claim.
            if LeaseReaper::new(client).reap(ClaimScope::Task(task_id))? > 0 {
                continue;
            }
            let now = client.now();
            let ctx = client.execution_context(task_id)?;
            if !matches!(ctx.task_state, State::Pending | State::InProgress) {
                return Ok(ctx);
            }
            match ctx.execution_status {
                ExecutionStatus::HasReadySteps => continue,
                ExecutionStatus::Processing => {
                    self.wait(client.inner.config.poll_interval_ms.max(1))?;
                }
                ExecutionStatus::WaitingForDependencies => match ctx.next_retry_at {
                    Some(at) if at > now => self.wait(at.saturating_sub(now).unsigned_abs())?,
                    _ => return Ok(ctx),
                },
                ExecutionStatus::AllComplete | ExecutionStatus::BlockedByFailures => {
                    return Ok(ctx)
                }
            }
        }
    }

    /// Waits `ms` of the client's clock (a manual clock just advances), ending early with
    /// `Interrupted` when the call is interrupted.
    fn wait(&self, ms: u64) -> Result<()> {
        let client = self.client;
        if !client.inner.clock.sleeps_in_real_time() {
            client.inner.clock.sleep_ms(ms);
            return self.interrupt().check();
        }
        let interrupt = self.interrupt();
        // The timer is made inside the runtime: a Sleep made outside panics (no reactor).
        client.block(async move {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                _ = interrupt.interrupted() => {}
            }
        });
        interrupt.check()
    }

    /// Claims up to `limit` steps with their run contexts (one transaction), then publishes and
    /// starts pending tasks (see `after_claim`). The claims are held by this call until their
    /// handlers finish.
    pub fn claim(&self, scope: ClaimScope, limit: i64) -> Result<Vec<ClaimedStep>> {
        let c = self.client;
        let (claimed, recorded) = c.block(c.inner.store.claim_loaded(scope, limit, c.now()))?;
        self.held.hold(claimed.iter().map(|(s, _)| s));
        self.after_claim(&claimed, recorded)?;
        Ok(claimed)
    }

    /// Publishes a claim (`workflow.viable_steps_discovered`, its transitions) and starts the
    /// pending tasks it touched.
    fn after_claim(&self, claimed: &[ClaimedStep], recorded: Vec<Recorded>) -> Result<()> {
        let c = self.client;
        if let Some((first, _)) = claimed.first() {
            c.inner.events.publish_named(
                "workflow.viable_steps_discovered",
                first.task_id,
                None,
                serde_json::json!({"step_ids": claimed.iter().map(|(s, _)| s.step_id).collect::<Vec<_>>()}),
                c.now(),
            );
        }
        // A claim never waits on a task lock; pending tasks it could not start (their row was
        // locked) are started right after it.
        let mut started = Vec::new();
        for (s, _) in claimed {
            if s.task_state == State::Pending && !started.contains(&s.task_id) {
                started.push(s.task_id);
                let rec = c.block(c.inner.store.start_task(s.task_id, c.now()))?;
                c.publish(&rec);
            }
        }
        c.publish(&recorded);
        Ok(())
    }

    /// Publishes next claims made by a completion, after the completion's own events (as
    /// separate transactions would order them).
    fn next_claims(&self, next: Option<NextClaims>) -> Result<ClaimedNext> {
        match next {
            Some((claimed, recorded)) => {
                self.held.hold(claimed.iter().map(|(s, _)| s));
                self.after_claim(&claimed, recorded)?;
                Ok(Some(claimed))
            }
            None => Ok(None),
        }
    }

    /// Runs a claimed batch: handlers in order, successes committed as a group (one commit for
    /// the batch; a group is written early once its oldest outcome is `GROUP_COMMIT_WINDOW`
    /// old), failures written at once, alone. With `claim = Some((task_id, limit))` (inline
    /// runs) the last group's transaction also claims up to `limit` ready steps of that task,
    /// returned as `Some`. A batch of one takes the single-step path. Returns whether a task
    /// completed, and the next claims.
    fn run_batch(&self, steps: Vec<ClaimedStep>, claim: Option<(i64, i64)>) -> Result<Ran> {
        // The batch was claimed just before: its leases count from about here.
        let claimed = Instant::now();
        if steps.len() == 1 {
            let Some(step) = steps.into_iter().next() else {
                return Ok(Ran::default());
            };
            if self.halted() {
                self.release_held()?;
                return Ok(Ran::default());
            }
            let result = self.run_hooks(&step.0, &step.1);
            self.held.finished(step.0.step_id);
            let handled = self.foundation.finish(
                step,
                result,
                self.claim_next(claim).map_or(0, |(_, limit)| limit),
                claimed,
            )?;
            self.held.publish(self.client);
            return Ok(Ran {
                done: handled.outcome.task_completed(),
                next: self.next_claims(handled.next)?,
                finished: handled.finished,
            });
        }
        let mut done = false;
        // Each success with its step's lease (ms), for retrying a commit that lost its connection,
        // and its metrics.
        let mut group: Vec<Success> = Vec::with_capacity(steps.len());
        let mut oldest: Option<Instant> = None;
        for (c, loaded) in steps {
            if oldest.is_some_and(|t| t.elapsed() >= GROUP_COMMIT_WINDOW) {
                let (outcomes, _) = self.commit_group(&mut group, None, claimed)?;
                done |= outcomes.iter().any(StepOutcome::task_completed);
                oldest = None;
            }
            if self.halted() {
                // The steps not started (this one included) are given back below.
                break;
            }
            let result = self.run_hooks(&c, &loaded);
            self.held.finished(c.step_id);
            if self.interrupt().is_interrupted() {
                // Reported after the interrupt: not written, the claim goes back.
                self.foundation.release(&c)?;
                continue;
            }
            match result {
                // A decision creates steps as it completes: never part of a group.
                Ok(results) if !matches!(self.foundation.decision_of(&loaded), Ok(None)) => {
                    let handled = self
                        .foundation
                        .finish((c, loaded), Ok(results), 0, claimed)?;
                    done |= handled.outcome.task_completed();
                }
                Ok(results) => {
                    let series = self.client.inner.metrics.for_step(&loaded.context);
                    group.push((c, results, loaded.lease_ms, series));
                    oldest.get_or_insert_with(Instant::now);
                }
                Err(e) => {
                    let persisted = self.foundation.persist_failure(&c, &loaded, e, claimed);
                    let (outcome, _) = self.foundation.settle(c.task_id, c.step_id, persisted)?;
                    self.foundation.count(&loaded, &outcome);
                    done |= outcome.task_completed();
                }
            }
        }
        let claim = self.claim_next(claim);
        let (outcomes, next) = self.commit_group(&mut group, claim, claimed)?;
        if claim.is_none() {
            // Nothing claimed by this commit is held, only the steps not started (on a halt).
            self.release_held()?;
        } else {
            // Not halted when the commit claimed: every step ran; the next claims are held.
            self.held.publish(self.client);
        }
        Ok(Ran {
            done: done || outcomes.iter().any(StepOutcome::task_completed),
            next,
            finished: None,
        })
    }

    /// The step's hooks (`StepHandlerFoundation::run_hooks`), counted as run.
    fn run_hooks(&self, c: &Claimed, loaded: &LoadedStep) -> std::result::Result<Value, StepError> {
        self.started.set(self.started.get().saturating_add(1));
        self.foundation.run_hooks(c, loaded)
    }

    /// What a completion may claim next: nothing once the call is halted.
    fn claim_next(&self, claim: Option<(i64, i64)>) -> Option<(i64, i64)> {
        claim.filter(|_| !self.halted())
    }

    /// Persists a group of successful outcomes in one transaction, then settles each step in
    /// order. With `claim = Some((task_id, limit))` the same transaction also claims that
    /// task's next ready steps; they come back as `Some`, published after the group's events.
    /// A commit that lost its connection is retried while the shortest lease is half valid.
    fn commit_group(
        &self,
        group: &mut Vec<Success>,
        claim: Option<(i64, i64)>,
        claimed: Instant,
    ) -> Result<(Vec<StepOutcome>, ClaimedNext)> {
        if group.is_empty() {
            return Ok((Vec::new(), None));
        }
        let items: Vec<Completion> = group
            .iter_mut()
            .map(|(c, results, _, _)| Completion {
                task_id: c.task_id,
                step_id: c.step_id,
                claim_token: c.claim_token.clone(),
                results: std::mem::take(results),
            })
            .collect();
        let client = self.client;
        let lease_ms = group.iter().map(|g| g.2).min().unwrap_or(0);
        let first = group.first().map_or(0, |g| g.0.step_id);
        let (settled, next, recorded) =
            self.foundation
                .persist_retrying(first, claimed, lease_ms, || {
                    client.block(client.inner.store.complete_steps_and_claim(
                        &items,
                        client.now(),
                        claim,
                    ))
                })?;
        let mut outcomes = Vec::with_capacity(settled.len());
        for ((c, _, _, series), s) in group.drain(..).zip(settled) {
            let outcome = self.foundation.settle(c.task_id, c.step_id, s)?.0;
            series.count(&outcome, FailureCause::Handler);
            outcomes.push(outcome);
        }
        let next = self.next_claims(claim.map(|_| (next, recorded)))?;
        Ok((outcomes, next))
    }
}

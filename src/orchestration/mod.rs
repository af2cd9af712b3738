//! Orchestration: the client facade and the concepts it delegates to.
//!
//! - `client.rs`: `Client`, the facade (connection, runtime, short delegating methods).
//! - `coordinator.rs`: `OrchestrationCoordinator` (claims, batches, group commit, inline run).
//! - `adaptive_claim.rs`: `AdaptiveClaim`, how many steps the next claim takes.
//! - `worker.rs`: the built-in worker loop and its `StopHandle`.
//! - `interrupt.rs`: `Interrupt`, ending a client's blocking calls early from any thread.
//! - `held_claims.rs`: the claims a call holds, released on stop or interrupt (`Watchdog`).
//! - `call_gate.rs`: the calls running on a client, and `close`.
//! - `handler_check.rs`: handlers that registered templates name but nobody registered.
//! - `worker_health.rs`: failed worker iterations, reported through `health`.
//! - `host_queue.rs`: host-queue deliveries and re-enqueueing.
//! - `lease_reaper.rs`: lease expiry and heartbeats.
//! - `deadlines.rs`: task deadlines (an unfinished task past its deadline fails).
//! - `checkpoints.rs`: a running step's checkpoint, for its retry to resume from.
//! - `task_factory.rs`: task creation (validation, identity, bypass).
//! - `decision.rs`: decision points (the steps a task starts with, a decision's choice).
//! - `identity.rs`: the task identity hash.
//! - `templates.rs`: template registration and lookup.
//! - `operations.rs`: cancel, resolve, retry.
//! - `reentrancy.rs`: the tasks whose handlers run on this thread (re-entrant `run_task`).
//! - `purge.rs`: deleting finished tasks in bounded batches.
//! - `retention.rs`: the workers' own purge of old finished tasks (`Config::retention`).
//! - `periodic.rs`: a background duty's turn (at most once per interval in a client).
//! - `schedules.rs`: cron schedules (define, list, fire due ticks once across processes).
//! - `schedule_expression.rs`: a cron expression in a time zone, and its due ticks.

mod adaptive_claim;
pub(crate) mod batch;
mod call_gate;
mod checkpoints;
mod client;
mod coordinator;
mod deadlines;
mod decision;
mod handler_check;
mod held_claims;
mod host_queue;
mod identity;
mod interrupt;
mod lease_reaper;
mod operations;
mod reentrancy;
mod task_factory;
mod task_wait;
mod templates;
mod worker;
mod worker_health;

mod purge;
mod rate_starts;
mod retention;

mod periodic;
mod schedule_expression;
mod schedules;

pub(crate) use adaptive_claim::AdaptiveClaim;
pub use batch::{BATCHES_EVENT, BATCHES_KEY, INVALID_BATCHES, TOO_MANY_BATCHES};
pub use checkpoints::MAX_CHECKPOINT_BYTES;
pub use client::{Client, WeakClient, DEFAULT_DATABASE_URL};
pub(crate) use coordinator::OrchestrationCoordinator;
pub(crate) use decision::{Choice, DecisionStep};
pub use decision::{ACTIVATE_KEY, DECISION_EVENT, INVALID_DECISION, STEP_CREATED_EVENT};
pub use identity::identity_hash;
pub(crate) use interrupt::InterruptScope;
pub(crate) use reentrancy::HandlingTask;
pub use worker::StopHandle;
pub(crate) use worker_health::WorkerHealth;

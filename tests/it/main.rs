//! Integration tests of the core engine. Every storage test runs on SQLite and PostgreSQL.
#![allow(clippy::field_reassign_with_default, clippy::type_complexity)]

mod batch_failure_strategies;
mod batch_fanout;
mod cancellation_visible;
mod chaos;
mod checkpoints;
mod common;
mod concurrency;
mod dashboard;
mod decision_points;
mod decision_then_batch;
mod delayed_start;
mod engine;
mod fuzz;
mod host_queue;
mod metrics;
mod priority;
mod purge;
mod queries;
mod retention;
mod schedules;
mod shutdown;
mod storage;
mod task_deadline;
mod timeouts;
mod validation;

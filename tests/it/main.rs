//! Integration tests of the core engine. Every storage test runs on SQLite and PostgreSQL.
#![allow(clippy::field_reassign_with_default, clippy::type_complexity)]

mod batch_fanout;
mod cancellation_visible;
mod chaos;
mod checkpoints;
mod common;
mod concurrency;
mod concurrency_limits;
mod dashboard;
mod decision_points;
mod delayed_start;
mod engine;
mod fuzz;
mod host_queue;
mod metrics;
mod priority;
mod purge;
mod queries;
mod schedules;
mod shutdown;
mod storage;
mod timeouts;
mod validation;

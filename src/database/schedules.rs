//! The store's cron-schedule operations (SQL in backend/schedules.rs; docs/SCHEDULING.md).

use super::Store;
use crate::models::{Schedule, ScheduleTick};
use crate::Result;

impl Store {
    pub async fn upsert_schedule(&self, s: &Schedule, now: i64) -> Result<Schedule> {
        dispatch!(self, b => b.upsert_schedule(s, now).await)
    }

    pub async fn schedule(&self, name: &str) -> Result<Option<Schedule>> {
        dispatch_resending!(self, b => b.schedule(name).await)
    }

    pub async fn list_schedules(&self) -> Result<Vec<Schedule>> {
        dispatch_resending!(self, b => b.list_schedules().await)
    }

    pub async fn delete_schedule(&self, name: &str) -> Result<bool> {
        dispatch!(self, b => b.delete_schedule(name).await)
    }

    pub async fn set_schedule_enabled(
        &self,
        name: &str,
        enabled: bool,
        next_tick_at: i64,
        now: i64,
    ) -> Result<bool> {
        dispatch!(self, b => b.set_schedule_enabled(name, enabled, next_tick_at, now).await)
    }

    pub async fn schedule_due(&self, now: i64) -> Result<bool> {
        dispatch_resending!(self, b => b.schedule_due(now).await)
    }

    /// Claims due ticks (see `Backend::claim_due_ticks`). Not resent: a commit whose reply
    /// was lost leaves its ticks claimed, and the abandoned-tick check creates their tasks.
    pub async fn claim_due_ticks(
        &self,
        now: i64,
        limit: i64,
        plan: impl Fn(&Schedule) -> Result<(Vec<i64>, i64)>,
    ) -> Result<Vec<(Schedule, i64)>> {
        dispatch!(self, b => b.claim_due_ticks(now, limit, plan).await)
    }

    pub async fn abandoned_ticks(&self, before: i64, limit: i64) -> Result<Vec<(Schedule, i64)>> {
        dispatch_resending!(self, b => b.abandoned_ticks(before, limit).await)
    }

    pub async fn settle_tick(
        &self,
        schedule_id: i64,
        tick_at: i64,
        outcome: std::result::Result<i64, String>,
    ) -> Result<()> {
        dispatch_resending!(self, b => b.settle_tick(schedule_id, tick_at, outcome.clone()).await)
    }

    pub async fn schedule_ticks(&self, name: &str) -> Result<Vec<ScheduleTick>> {
        dispatch_resending!(self, b => b.schedule_ticks(name).await)
    }
}

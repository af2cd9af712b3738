//! `Schedules`: cron schedules defined by name (upsert, enable, disable, delete, list) and
//! firing their due ticks. Workers fire at most every `schedule_check_interval_ms`; a tick is
//! fired once across every process (its row's primary key, see `database/backend/schedules.rs`)
//! and its task is created through the ordinary task factory with an identity derived from
//! (schedule, tick), so taking over a tick whose claimer died cannot create a second task.

use super::schedule_expression::ScheduleExpression;
use super::task_factory::TaskFactory;
use super::templates::Templates;
use super::Client;
use crate::models::{document_policy, Schedule, ScheduleSpec, ScheduleTick, TaskRequest};
use crate::{Error, Result};
use serde_json::Value;

/// Schedules one check claims ticks of at most (the rest wait for the next check).
const CLAIM_SCHEDULES: i64 = 100;
/// A tick claimed this long ago whose task was never recorded (its claimer died between the
/// claim and the creation) is taken over by the next check.
const TICK_TAKEOVER_MS: i64 = 60_000;
/// The longest schedule name (the column's size).
const MAX_NAME: usize = 128;
/// The `source_system` of the tasks schedules create.
pub(crate) const SCHEDULE_SOURCE: &str = "tasker-schedule";

pub(crate) struct Schedules<'a> {
    client: &'a Client,
}

impl<'a> Schedules<'a> {
    pub fn new(client: &'a Client) -> Schedules<'a> {
        Schedules { client }
    }

    /// Validates and stores `spec` (replacing the schedule of the same name).
    pub fn upsert(&self, spec: &ScheduleSpec) -> Result<Schedule> {
        let c = self.client;
        let name = spec.name.trim();
        if name.is_empty() || name.len() > MAX_NAME || name != spec.name {
            return Err(Error::InvalidSchedule(format!(
                "name '{}' must be 1 to {MAX_NAME} bytes without surrounding spaces",
                spec.name
            )));
        }
        document_policy::check_text("name", &spec.name)?;
        let context = match &spec.context {
            Value::Null => Value::Object(Default::default()),
            Value::Object(_) => spec.context.clone(),
            _ => {
                return Err(Error::InvalidSchedule(
                    "context must be a map (or null)".into(),
                ))
            }
        };
        document_policy::check("context", &context)?;
        let bound = spec.catch_up_bound()?;
        let expression = ScheduleExpression::parse(&spec.cron, &spec.time_zone)?;
        let namespace = spec.namespace.clone().unwrap_or_else(|| "default".into());
        // The template must exist now (registered by any process), so a typo fails here rather
        // than at every tick.
        Templates::new(c).find(&namespace, &spec.template, spec.version.as_deref())?;
        let now = c.now();
        let schedule = Schedule {
            schedule_id: 0,
            name: spec.name.clone(),
            namespace,
            template: spec.template.clone(),
            version: spec.version.clone(),
            context,
            cron: spec.cron.clone(),
            time_zone: spec.time_zone.clone(),
            enabled: spec.enabled,
            missed: spec.missed,
            max_catch_up: bound,
            next_tick_at: expression.next_after(now)?,
            last_tick_at: None,
            created_at: now,
            updated_at: now,
        };
        let stored = c.block(c.inner.store.upsert_schedule(&schedule, now))?;
        tracing::info!(schedule = %stored.name, cron = %stored.cron, time_zone = %stored.time_zone,
            next_tick_at = stored.next_tick_at, "schedule stored");
        Ok(stored)
    }

    pub fn get(&self, name: &str) -> Result<Option<Schedule>> {
        let c = self.client;
        c.block(c.inner.store.schedule(name))
    }

    pub fn list(&self) -> Result<Vec<Schedule>> {
        let c = self.client;
        c.block(c.inner.store.list_schedules())
    }

    pub fn ticks(&self, name: &str) -> Result<Vec<ScheduleTick>> {
        let c = self.client;
        c.block(c.inner.store.schedule_ticks(name))
    }

    pub fn delete(&self, name: &str) -> Result<bool> {
        let c = self.client;
        c.block(c.inner.store.delete_schedule(name))
    }

    /// Enables or disables the named schedule; false when there is none.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<bool> {
        let c = self.client;
        let Some(s) = self.get(name)? else {
            return Ok(false);
        };
        let now = c.now();
        let next = ScheduleExpression::parse(&s.cron, &s.time_zone)?.next_after(now)?;
        c.block(c.inner.store.set_schedule_enabled(name, enabled, next, now))
    }

    /// Fires the ticks due at `now` (and takes over ticks abandoned by a dead claimer).
    /// Returns how many tasks were created.
    pub fn fire_due(&self, now: i64) -> Result<usize> {
        let c = self.client;
        let store = &c.inner.store;
        let mut ticks =
            c.block(store.abandoned_ticks(now.saturating_sub(TICK_TAKEOVER_MS), CLAIM_SCHEDULES))?;
        if c.block(store.schedule_due(now))? {
            ticks.extend(c.block(store.claim_due_ticks(now, CLAIM_SCHEDULES, |s| {
                ScheduleExpression::parse(&s.cron, &s.time_zone)?.due(
                    s.next_tick_at,
                    now,
                    s.max_catch_up,
                )
            }))?);
        }
        let mut created = 0;
        for (schedule, tick) in ticks {
            let outcome = match TaskFactory::new(c).create(&tick_request(&schedule, tick)) {
                Ok(t) => {
                    created += usize::from(t.created);
                    Ok(t.task_id)
                }
                // `reject_duplicates`: the tick's task exists (created by a claimer that died).
                Err(Error::DuplicateTask(id)) => Ok(id),
                Err(e) => {
                    tracing::warn!(schedule = %schedule.name, tick, error = %e,
                        "a schedule's tick could not create its task");
                    Err(e.to_string())
                }
            };
            c.block(store.settle_tick(schedule.schedule_id, tick, outcome))?;
        }
        Ok(created)
    }

    /// `fire_due` at the client's time, at most once per `schedule_check_interval_ms` in this
    /// client (the workers' loop calls it every iteration).
    pub fn fire_if_due(&self) -> Result<usize> {
        let c = self.client;
        let inner = &c.inner;
        let now = c.now();
        if !super::periodic::take_turn(
            &inner.last_schedule_check,
            now,
            inner.config.schedule_check_interval_ms,
        ) {
            return Ok(0);
        }
        self.fire_due(now)
    }
}

/// The task request of one tick. Its identity (template, context, initiator, source, reason)
/// is unique to (schedule, tick), so creating it twice returns the first task.
fn tick_request(s: &Schedule, tick: i64) -> TaskRequest {
    TaskRequest {
        name: s.template.clone(),
        namespace: Some(s.namespace.clone()),
        version: s.version.clone(),
        context: s.context.clone(),
        initiator: Some(format!("schedule:{}", s.name)),
        source_system: Some(SCHEDULE_SOURCE.into()),
        reason: Some(format!("tick {tick}")),
        ..Default::default()
    }
}

//! Cron schedules: their rows, and claiming due ticks. A tick is claimed by inserting its
//! `(schedule_id, tick_at)` row: the primary key lets one process win it, and the schedule's
//! `next_tick_at` moves past it in the same transaction, so later checks do not see it again.

use super::*;
use sqlx::types::Json;
use sqlx::Row;

const COLUMNS: &str = "schedule_id, name, namespace, template, version, context, cron, time_zone, \
     enabled, missed, max_catch_up, next_tick_at, last_tick_at, created_at, updated_at";

fn schedule_from_row(r: &<Db as sqlx::Database>::Row) -> Result<Schedule> {
    let context: Json<Value> = r.try_get("context")?;
    let missed: String = r.try_get("missed")?;
    let max_catch_up: i32 = r.try_get("max_catch_up")?;
    Ok(Schedule {
        schedule_id: r.try_get("schedule_id")?,
        name: r.try_get("name")?,
        namespace: r.try_get("namespace")?,
        template: r.try_get("template")?,
        version: r.try_get("version")?,
        context: context.0,
        cron: r.try_get("cron")?,
        time_zone: r.try_get("time_zone")?,
        enabled: r.try_get("enabled")?,
        missed: MissedTicks::parse(&missed)?,
        max_catch_up: u32::try_from(max_catch_up).unwrap_or(1),
        next_tick_at: r.try_get("next_tick_at")?,
        last_tick_at: r.try_get("last_tick_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Backend {
    /// Inserts or replaces the schedule named `s.name`. `s.next_tick_at` (the first tick after
    /// now) applies to a new schedule, or when the expression or time zone changed or the
    /// schedule was disabled; otherwise the stored one stays, so re-declaring a schedule at
    /// every start does not lose the ticks missed while down.
    pub async fn upsert_schedule(&self, s: &Schedule, now: i64) -> Result<Schedule> {
        let mut w = self.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO tasker_schedules (name, namespace, template, version, context, cron, \
             time_zone, enabled, missed, max_catch_up, next_tick_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
             ON CONFLICT (name) DO UPDATE SET namespace = excluded.namespace, \
             template = excluded.template, version = excluded.version, \
             context = excluded.context, enabled = excluded.enabled, missed = excluded.missed, \
             max_catch_up = excluded.max_catch_up, updated_at = excluded.updated_at, \
             next_tick_at = CASE WHEN tasker_schedules.cron = excluded.cron \
               AND tasker_schedules.time_zone = excluded.time_zone AND tasker_schedules.enabled \
               THEN tasker_schedules.next_tick_at ELSE excluded.next_tick_at END, \
             cron = excluded.cron, time_zone = excluded.time_zone \
             RETURNING {COLUMNS}"
        ))
        .bind(&s.name)
        .bind(&s.namespace)
        .bind(&s.template)
        .bind(&s.version)
        .bind(Json(&s.context))
        .bind(&s.cron)
        .bind(&s.time_zone)
        .bind(s.enabled)
        .bind(s.missed.as_str())
        .bind(i32::try_from(s.max_catch_up).unwrap_or(i32::MAX))
        .bind(s.next_tick_at)
        .bind(now)
        .fetch_one(&mut *w.tx)
        .await?;
        let stored = schedule_from_row(&row)?;
        w.tx.commit().await?;
        Ok(stored)
    }

    pub async fn schedule(&self, name: &str) -> Result<Option<Schedule>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tasker_schedules WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(schedule_from_row).transpose()
    }

    pub async fn list_schedules(&self) -> Result<Vec<Schedule>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tasker_schedules ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(schedule_from_row).collect()
    }

    /// Deletes the schedule and its tick history (the tasks stay). False when none had the name.
    pub async fn delete_schedule(&self, name: &str) -> Result<bool> {
        let mut w = self.begin().await?;
        let done = sqlx::query("DELETE FROM tasker_schedules WHERE name = $1")
            .bind(name)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Enables or disables a schedule. Enabling a disabled one starts at `next_tick_at` (the
    /// first tick after now): ticks while disabled never fire. False when none had the name.
    pub async fn set_schedule_enabled(
        &self,
        name: &str,
        enabled: bool,
        next_tick_at: i64,
        now: i64,
    ) -> Result<bool> {
        let mut w = self.begin().await?;
        let done = sqlx::query(
            "UPDATE tasker_schedules SET next_tick_at = CASE WHEN enabled THEN next_tick_at \
             ELSE $3 END, enabled = $2, updated_at = $4 WHERE name = $1",
        )
        .bind(name)
        .bind(enabled)
        .bind(next_tick_at)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether an enabled schedule has a tick due (a read, so idle checks take no write lock).
    pub async fn schedule_due(&self, now: i64) -> Result<bool> {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT schedule_id FROM tasker_schedules WHERE enabled AND next_tick_at <= $1 LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(due.is_some())
    }

    /// Claims the due ticks of up to `limit` enabled schedules in one transaction: `plan`
    /// says which ticks of a schedule fire and its next tick. Returns the claimed ticks.
    /// PostgreSQL skips schedules another process is claiming (it claims those ticks).
    pub async fn claim_due_ticks(
        &self,
        now: i64,
        limit: i64,
        plan: impl Fn(&Schedule) -> Result<(Vec<i64>, i64)>,
    ) -> Result<Vec<(Schedule, i64)>> {
        let mut w = self.begin().await?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tasker_schedules WHERE enabled AND next_tick_at <= $1 \
             ORDER BY schedule_id LIMIT $2{}",
            sql::LOCK_FREE_ROWS
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *w.tx)
        .await?;
        let mut claimed = Vec::new();
        for row in &rows {
            let s = schedule_from_row(row)?;
            let (ticks, next) = match plan(&s) {
                Ok(p) => p,
                Err(e) => {
                    // Validated when stored; only a changed time-zone database gets here.
                    tracing::error!(schedule = %s.name, error = %e, "schedule cannot be evaluated; skipped");
                    continue;
                }
            };
            for &tick in &ticks {
                let won = sqlx::query(
                    "INSERT INTO tasker_schedule_ticks (schedule_id, tick_at, state, claimed_at) \
                     VALUES ($1, $2, 'claimed', $3) ON CONFLICT DO NOTHING",
                )
                .bind(s.schedule_id)
                .bind(tick)
                .bind(now)
                .execute(&mut *w.tx)
                .await?;
                if won.rows_affected() == 1 {
                    claimed.push((s.clone(), tick));
                }
            }
            sqlx::query(
                "UPDATE tasker_schedules SET next_tick_at = $2, \
                 last_tick_at = COALESCE($3, last_tick_at) WHERE schedule_id = $1",
            )
            .bind(s.schedule_id)
            .bind(next)
            .bind(ticks.last().copied())
            .execute(&mut *w.tx)
            .await?;
        }
        w.tx.commit().await?;
        Ok(claimed)
    }

    /// Ticks claimed before `before` whose task was never recorded (their claimer died).
    pub async fn abandoned_ticks(&self, before: i64, limit: i64) -> Result<Vec<(Schedule, i64)>> {
        let cols = COLUMNS.replace(", ", ", s.");
        let rows = sqlx::query(&format!(
            "SELECT s.{cols}, k.tick_at FROM tasker_schedule_ticks k \
             JOIN tasker_schedules s ON s.schedule_id = k.schedule_id \
             WHERE k.state = 'claimed' AND k.claimed_at < $1 ORDER BY k.claimed_at LIMIT $2"
        ))
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((schedule_from_row(r)?, r.try_get("tick_at")?)))
            .collect()
    }

    /// Records what firing a claimed tick gave: its task, or why none was created.
    pub async fn settle_tick(
        &self,
        schedule_id: i64,
        tick_at: i64,
        outcome: std::result::Result<i64, String>,
    ) -> Result<()> {
        let (state, task_id, error) = match outcome {
            Ok(id) => ("fired", Some(id), None),
            Err(e) => ("failed", None, Some(e)),
        };
        let mut w = self.begin().await?;
        sqlx::query(
            "UPDATE tasker_schedule_ticks SET state = $3, task_id = $4, error = $5 \
             WHERE schedule_id = $1 AND tick_at = $2",
        )
        .bind(schedule_id)
        .bind(tick_at)
        .bind(state)
        .bind(task_id)
        .bind(error)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// The ticks of a schedule, oldest first.
    pub async fn schedule_ticks(&self, name: &str) -> Result<Vec<ScheduleTick>> {
        let rows = sqlx::query(
            "SELECT k.tick_at, k.state, k.task_id, k.error FROM tasker_schedule_ticks k \
             JOIN tasker_schedules s ON s.schedule_id = k.schedule_id WHERE s.name = $1 \
             ORDER BY k.tick_at",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ScheduleTick {
                    tick_at: r.try_get(0)?,
                    state: r.try_get(1)?,
                    task_id: r.try_get(2)?,
                    error: r.try_get(3)?,
                })
            })
            .collect()
    }
}

//! Schedule documents: a recurring task creation (template, context, cron expression in a time
//! zone) as callers define it (`ScheduleSpec`) and as it is stored (`Schedule`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The catch-up bound when a `catch_up` schedule names none, and the largest one allowed (not
/// `pub`: cbindgen would put them in the C header).
const DEFAULT_MAX_CATCH_UP: u32 = 10;
const MAX_CATCH_UP: u32 = 1_000;

/// What happens to ticks that passed while no worker looked (downtime, a stopped fleet): at
/// each check a schedule fires its most recent due ticks, at most `max_catch_up` of them
/// (`skip` is 1: only the latest due tick fires), and the older ones are skipped for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissedTicks {
    #[default]
    Skip,
    CatchUp,
}

impl MissedTicks {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MissedTicks::Skip => "skip",
            MissedTicks::CatchUp => "catch_up",
        }
    }

    pub(crate) fn parse(s: &str) -> crate::Result<MissedTicks> {
        match s {
            "skip" => Ok(MissedTicks::Skip),
            "catch_up" => Ok(MissedTicks::CatchUp),
            other => Err(crate::Error::Internal(format!(
                "unknown missed-tick policy '{other}' in storage"
            ))),
        }
    }
}

fn enabled_by_default() -> bool {
    true
}

fn utc() -> String {
    "UTC".into()
}

/// A schedule as its owner defines it (`Client::upsert_schedule`, by `name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Unique; upserting an existing name replaces its definition.
    pub name: String,
    /// The template's namespace (default `default`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The template's name.
    pub template: String,
    /// The template's version; the latest registered one at each tick when absent.
    #[serde(default)]
    pub version: Option<String>,
    /// The context of every task it creates (a map; null is an empty map).
    #[serde(default)]
    pub context: Value,
    /// Five fields (minute to day of week) or six (seconds first): `*/5 * * * *`,
    /// `* * * * * *`. Ranges, lists, steps, names (`MON`, `JAN`), `L`, `W` and `#`.
    pub cron: String,
    /// An IANA time zone (`Europe/Paris`) the expression is read in; default `UTC`.
    #[serde(default = "utc")]
    pub time_zone: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default)]
    pub missed: MissedTicks,
    /// With `catch_up`: how many of the missed ticks fire at most (default 10, at most 1,000).
    /// Not with `skip`.
    #[serde(default)]
    pub max_catch_up: Option<u32>,
}

impl ScheduleSpec {
    /// A spec with the defaults: enabled, UTC, `skip`, an empty context.
    pub fn new(name: &str, template: &str, cron: &str) -> ScheduleSpec {
        ScheduleSpec {
            name: name.into(),
            namespace: None,
            template: template.into(),
            version: None,
            context: Value::Null,
            cron: cron.into(),
            time_zone: utc(),
            enabled: true,
            missed: MissedTicks::Skip,
            max_catch_up: None,
        }
    }

    /// How many due ticks one check fires at most, checked.
    pub(crate) fn catch_up_bound(&self) -> crate::Result<u32> {
        match (self.missed, self.max_catch_up) {
            (MissedTicks::Skip, None) => Ok(1),
            (MissedTicks::Skip, Some(_)) => Err(crate::Error::InvalidSchedule(
                "max_catch_up applies to missed: catch_up only".into(),
            )),
            (MissedTicks::CatchUp, n) => match n.unwrap_or(DEFAULT_MAX_CATCH_UP) {
                n @ 1..=MAX_CATCH_UP => Ok(n),
                n => Err(crate::Error::InvalidSchedule(format!(
                    "max_catch_up is {n}: it must be within 1..={MAX_CATCH_UP}"
                ))),
            },
        }
    }
}

/// A stored schedule: its definition and where its ticks are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Schedule {
    pub schedule_id: i64,
    pub name: String,
    pub namespace: String,
    pub template: String,
    pub version: Option<String>,
    pub context: Value,
    pub cron: String,
    pub time_zone: String,
    pub enabled: bool,
    pub missed: MissedTicks,
    /// How many due ticks one check fires at most (1 for `skip`).
    pub max_catch_up: u32,
    /// The next tick to fire (epoch milliseconds).
    pub next_tick_at: i64,
    /// The latest tick fired, if any.
    pub last_tick_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One fired tick of a schedule (`Client::schedule_ticks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleTick {
    /// The tick (epoch milliseconds).
    pub tick_at: i64,
    /// `claimed` (its task is being created), `fired` (with `task_id`) or `failed` (with
    /// `error`: the task could not be created, e.g. its template is gone).
    pub state: String,
    /// None once the task was purged, or when it was never created.
    pub task_id: Option<i64>,
    pub error: Option<String>,
}

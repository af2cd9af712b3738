//! `tasker schedules ls | add | rm | enable | disable`: the cron schedules stored in the
//! database (the library's `upsert_schedule`, `schedules`, `delete_schedule`,
//! `set_schedule_enabled`). The workers fire them; the CLI only defines them.

use crate::error::CliError;
use crate::output::Output;
use crate::{rfc3339, table};
use clap::{Args, Subcommand, ValueEnum};
use tasker::{Client, MissedTicks, Schedule, ScheduleSpec};

#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// Lists every schedule with its next and last tick.
    Ls,
    /// Adds a schedule, or replaces the one of the same name.
    Add(AddArgs),
    /// Deletes a schedule and its tick history (its tasks stay).
    Rm { name: String },
    /// Enables a schedule; it starts at its first tick after now.
    Enable { name: String },
    /// Disables a schedule: no tick fires until it is enabled again.
    Disable { name: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Missed {
    Skip,
    CatchUp,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    name: String,
    /// The template's name.
    #[arg(long)]
    template: String,
    #[arg(long, default_value = "default")]
    namespace: String,
    /// The template's version; the latest at each tick when absent.
    #[arg(long)]
    version: Option<String>,
    /// Five fields (minute first) or six (seconds first), e.g. "0 2 * * *".
    #[arg(long)]
    cron: String,
    /// IANA time zone the expression is read in.
    #[arg(long, default_value = "UTC")]
    time_zone: String,
    /// The context of every task it creates, as a JSON object.
    #[arg(long)]
    context: Option<String>,
    /// Missed ticks (downtime): skip them (only the latest fires) or catch up.
    #[arg(long, value_enum, default_value = "skip")]
    missed: Missed,
    /// With --missed catch_up: how many missed ticks fire at most (default 10).
    #[arg(long)]
    max_catch_up: Option<u32>,
    /// Stores it disabled.
    #[arg(long)]
    disabled: bool,
}

pub fn run(client: &Client, cmd: SchedulesCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        SchedulesCommand::Ls => {
            let schedules = client.schedules()?;
            out.print(&schedules, || list_text(&schedules))
        }
        SchedulesCommand::Add(args) => {
            let stored = client.upsert_schedule(&spec(args)?)?;
            out.print(&stored, || {
                format!(
                    "schedule {} stored; next tick {}\n",
                    stored.name,
                    next_tick(&stored)
                )
            })
        }
        SchedulesCommand::Rm { name } => {
            if !client.delete_schedule(&name)? {
                return Err(not_found(&name));
            }
            out.print(&serde_json::json!({ "deleted": name }), || {
                format!("schedule {name} deleted\n")
            })
        }
        SchedulesCommand::Enable { name } => set_enabled(client, &name, true, out),
        SchedulesCommand::Disable { name } => set_enabled(client, &name, false, out),
    }
}

fn not_found(name: &str) -> CliError {
    CliError::NotFound(format!("schedule '{name}' not found"))
}

fn spec(a: AddArgs) -> Result<ScheduleSpec, CliError> {
    let context = match a.context.as_deref() {
        None => serde_json::Value::Null,
        Some(text) => serde_json::from_str(text)
            .map_err(|e| CliError::InvalidInput(format!("--context is not JSON: {e}")))?,
    };
    Ok(ScheduleSpec {
        namespace: Some(a.namespace),
        version: a.version,
        context,
        time_zone: a.time_zone,
        enabled: !a.disabled,
        missed: match a.missed {
            Missed::Skip => MissedTicks::Skip,
            Missed::CatchUp => MissedTicks::CatchUp,
        },
        max_catch_up: a.max_catch_up,
        ..ScheduleSpec::new(&a.name, &a.template, &a.cron)
    })
}

fn set_enabled(client: &Client, name: &str, enabled: bool, out: &Output) -> Result<(), CliError> {
    if !client.set_schedule_enabled(name, enabled)? {
        return Err(not_found(name));
    }
    let stored = client.schedule(name)?.ok_or_else(|| not_found(name))?;
    out.print(&stored, || {
        if enabled {
            format!(
                "schedule {name} enabled; next tick {}\n",
                next_tick(&stored)
            )
        } else {
            format!("schedule {name} disabled\n")
        }
    })
}

fn next_tick(s: &Schedule) -> String {
    if s.enabled {
        rfc3339::format(s.next_tick_at)
    } else {
        "-".into()
    }
}

fn list_text(schedules: &[Schedule]) -> String {
    let rows: Vec<[String; 7]> = schedules
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                format!("{}.{}", s.namespace, s.template),
                s.cron.clone(),
                s.time_zone.clone(),
                if s.enabled { "enabled" } else { "disabled" }.into(),
                next_tick(s),
                s.last_tick_at.map(rfc3339::format).unwrap_or_default(),
            ]
        })
        .collect();
    table::render(
        ["name", "template", "cron", "zone", "state", "next", "last"],
        &rows,
    )
}

//! `tasker steps ls`: steps matching filters, newest first, a page at a time (the library's
//! `list_steps`), or every page with `--all`.

use crate::error::CliError;
use crate::output::Output;
use crate::tasks::{more_text, named, Paging};
use crate::{rfc3339, table};
use clap::{Args, Subcommand};
use tasker::{Client, Page, State, StepCondition, StepFilter, StepSummary};

#[derive(Debug, Subcommand)]
pub enum StepsCommand {
    /// Lists steps, newest first (every filter given must match).
    Ls(StepsLs),
}

#[derive(Debug, Args)]
pub struct StepsLs {
    /// A step state (repeatable: any of them).
    #[arg(long = "state", value_parser = named::<State>)]
    states: Vec<State>,
    /// Steps run by this handler name.
    #[arg(long)]
    handler: Option<String>,
    /// Steps of this task.
    #[arg(long)]
    task: Option<i64>,
    /// in_backoff, exhausted, lease_expired or lease_active.
    #[arg(long, value_parser = named::<StepCondition>)]
    condition: Option<StepCondition>,
    #[command(flatten)]
    paging: Paging,
}

pub fn run(client: &Client, cmd: StepsCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        StepsCommand::Ls(ls) => {
            let filter = StepFilter {
                task_id: ls.task,
                states: ls.states,
                condition: ls.condition,
                handler: ls.handler,
                cursor: None,
                limit: ls.paging.limit,
            };
            let page = ls.paging.collect(|cursor| {
                client.list_steps(&StepFilter {
                    cursor,
                    ..filter.clone()
                })
            })?;
            out.print(&page, || steps_text(&page))
        }
    }
}

fn steps_text(page: &Page<StepSummary>) -> String {
    let rows: Vec<[String; 7]> = page
        .items
        .iter()
        .map(|s| {
            [
                s.step_id.to_string(),
                s.task_id.to_string(),
                s.name.clone(),
                s.handler.clone(),
                s.state.to_string(),
                format!("{}/{}", s.attempts, s.retry_limit),
                s.next_attempt_at
                    .map_or_else(|| "-".into(), rfc3339::format),
            ]
        })
        .collect();
    let header = [
        "id",
        "task",
        "step",
        "handler",
        "state",
        "attempts",
        "next attempt",
    ];
    table::render(header, &rows) + &more_text(page)
}

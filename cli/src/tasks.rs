//! `tasker tasks ls`: tasks matching filters, newest first, a page at a time (the library's
//! `list_tasks`), or every page with `--all`.

use crate::error::CliError;
use crate::output::{self, Output};
use crate::{rfc3339, table};
use clap::{Args, Subcommand};
use serde::de::DeserializeOwned;
use tasker::{Client, ExecutionStatus, Page, State, TaskFilter, TaskSummary};

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// Lists tasks, newest first (every filter given must match).
    Ls(TasksLs),
}

#[derive(Debug, Args)]
pub struct TasksLs {
    /// A task state (repeatable: any of them).
    #[arg(long = "state", value_parser = named::<State>)]
    states: Vec<State>,
    /// The derived execution status: has_ready_steps, processing, blocked_by_failures,
    /// all_complete, waiting_for_dependencies.
    #[arg(long, value_parser = named::<ExecutionStatus>)]
    status: Option<ExecutionStatus>,
    /// The template's namespace.
    #[arg(long)]
    namespace: Option<String>,
    /// The template's name.
    #[arg(long)]
    name: Option<String>,
    /// The template's version.
    #[arg(long)]
    version: Option<String>,
    #[arg(long)]
    initiator: Option<String>,
    #[arg(long)]
    source_system: Option<String>,
    /// A tag the task carries (repeatable: every one of them).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Created at or after this RFC 3339 time (e.g. 2026-12-01T12:00:00Z).
    #[arg(long, value_parser = rfc3339::parse)]
    created_after: Option<i64>,
    /// Created before this RFC 3339 time.
    #[arg(long, value_parser = rfc3339::parse)]
    created_before: Option<i64>,
    /// Updated at or after this RFC 3339 time.
    #[arg(long, value_parser = rfc3339::parse)]
    updated_after: Option<i64>,
    /// Updated before this RFC 3339 time.
    #[arg(long, value_parser = rfc3339::parse)]
    updated_before: Option<i64>,
    #[command(flatten)]
    paging: Paging,
}

/// Page options shared by the listing commands.
#[derive(Debug, Args)]
pub struct Paging {
    /// Items per page (1 to 1000; default 50).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Where to continue: the `next_cursor` a previous page printed.
    #[arg(long)]
    pub cursor: Option<String>,
    /// Follows every page to the end (one document with every item under --json).
    #[arg(long)]
    pub all: bool,
}

impl Paging {
    /// One page from `cursor`, or with `all` every page after it, as one page.
    pub fn collect<T>(
        &self,
        mut page: impl FnMut(Option<String>) -> tasker::Result<Page<T>>,
    ) -> Result<Page<T>, CliError> {
        let mut out = page(self.cursor.clone())?;
        if self.all {
            while let Some(cursor) = out.next_cursor.take() {
                let mut next = page(Some(cursor))?;
                out.items.append(&mut next.items);
                out.next_cursor = next.next_cursor;
            }
        }
        Ok(out)
    }
}

/// A value given by its serde name (`in_progress`, `has_ready_steps`), as `--json` prints it.
pub fn named<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| format!("'{text}' is not one of the documented names"))
}

pub fn run(client: &Client, cmd: TasksCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        TasksCommand::Ls(ls) => {
            let filter = TaskFilter {
                states: ls.states,
                execution_status: ls.status,
                namespace: ls.namespace,
                name: ls.name,
                version: ls.version,
                initiator: ls.initiator,
                source_system: ls.source_system,
                tags: ls.tags,
                created_from: ls.created_after,
                created_to: ls.created_before,
                updated_from: ls.updated_after,
                updated_to: ls.updated_before,
                cursor: None,
                limit: ls.paging.limit,
            };
            let page = ls.paging.collect(|cursor| {
                client.list_tasks(&TaskFilter {
                    cursor,
                    ..filter.clone()
                })
            })?;
            out.print(&page, || tasks_text(&page))
        }
    }
}

/// The `next_cursor` line under a listing's table, when more pages follow.
pub fn more_text<T>(page: &Page<T>) -> String {
    match &page.next_cursor {
        Some(c) => format!("more: --cursor {c}\n"),
        None => String::new(),
    }
}

fn tasks_text(page: &Page<TaskSummary>) -> String {
    let rows: Vec<[String; 7]> = page
        .items
        .iter()
        .map(|t| {
            let e = &t.execution;
            [
                t.task_id.to_string(),
                format!("{}.{}@{}", t.namespace, t.name, t.version),
                t.state.to_string(),
                output::name_of(&e.execution_status),
                format!("{}/{}", e.completed_steps, e.total_steps),
                t.initiator.clone(),
                rfc3339::format(t.created_at),
            ]
        })
        .collect();
    let header = [
        "id",
        "template",
        "state",
        "status",
        "steps",
        "initiator",
        "created",
    ];
    table::render(header, &rows) + &more_text(page)
}

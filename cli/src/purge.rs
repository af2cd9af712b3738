//! `tasker purge --finished-before DATE [--template NAME [--namespace NS] [--version V]]
//! [--dry-run]`: deletes complete and cancelled tasks finished before DATE (of one template when
//! named) with their steps and history, in bounded batches (the library's `purge_tasks`).

use crate::error::CliError;
use crate::output::Output;
use crate::rfc3339;
use clap::Args;
use tasker::{Client, PurgeReport, PurgeRequest, PurgeTemplate};

#[derive(Debug, Args)]
pub struct Purge {
    /// Tasks finished before this RFC 3339 time (e.g. 2026-11-01T00:00:00Z) are deleted.
    #[arg(long, value_parser = rfc3339::parse)]
    finished_before: i64,
    /// Counts what would be deleted; deletes nothing.
    #[arg(long)]
    dry_run: bool,
    /// Tasks per transaction (1 to 10000; default 500).
    #[arg(long)]
    batch_size: Option<u32>,
    /// Only the tasks of this template (every template when absent).
    #[arg(long)]
    template: Option<String>,
    /// The template's namespace (any when absent).
    #[arg(long, requires = "template")]
    namespace: Option<String>,
    /// The template's version (any when absent).
    #[arg(long, requires = "template")]
    version: Option<String>,
}

pub fn run(client: &Client, cmd: Purge, out: &Output) -> Result<(), CliError> {
    let report = client.purge_tasks(&PurgeRequest {
        finished_before: cmd.finished_before,
        dry_run: cmd.dry_run,
        batch_size: cmd.batch_size,
        template: cmd.template.map(|name| PurgeTemplate {
            name,
            namespace: cmd.namespace,
            version: cmd.version,
        }),
    })?;
    out.print(&report, || text(&report, cmd.finished_before))
}

fn text(r: &PurgeReport, before: i64) -> String {
    let verb = if r.dry_run { "would purge" } else { "purged" };
    format!(
        "{verb} {} finished tasks ({} steps) finished before {} in {} batches\n",
        r.tasks,
        r.steps,
        rfc3339::format(before),
        r.batches
    )
}

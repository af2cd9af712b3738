//! `Purge`: deletes finished tasks in bounded batches, each its own transaction (see
//! `PurgeRequest`), so a large purge never holds a long transaction and can be interrupted
//! between batches without leaving anything half-deleted.

use super::Client;
use crate::database::PurgeCutoffs;
use crate::models::{PurgeReport, PurgeRequest};
use crate::Result;

pub(crate) fn purge_tasks(client: &Client, req: &PurgeRequest) -> Result<PurgeReport> {
    let limit = req.batch()?;
    let interrupt = client.inner.interrupt.scope();
    let mut report = PurgeReport {
        dry_run: req.dry_run,
        ..Default::default()
    };
    let mut after = 0;
    loop {
        interrupt.check()?;
        let cut = PurgeCutoffs {
            complete_before: req.finished_before,
            cancelled_before: req.finished_before,
        };
        let (tasks, steps, last) = client.block(client.inner.store.purge_batch(
            (after, i64::MAX),
            cut,
            limit,
            req.dry_run,
        ))?;
        if tasks == 0 {
            break;
        }
        report.tasks = report.tasks.saturating_add(tasks);
        report.steps = report.steps.saturating_add(steps);
        report.batches = report.batches.saturating_add(1);
        tracing::info!(
            tasks,
            steps,
            dry_run = req.dry_run,
            "purged a batch of finished tasks"
        );
        after = last;
    }
    Ok(report)
}

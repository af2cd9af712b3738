//! `Purge`: deletes finished tasks in bounded batches, each its own transaction (see
//! `PurgeRequest`), so a large purge never holds a long transaction and can be interrupted
//! between batches without leaving anything half-deleted.

use super::Client;
use crate::database::PurgeCutoffs;
use crate::models::{PurgeReport, PurgeRequest};
use crate::Result;

pub(crate) fn purge_tasks(client: &Client, req: &PurgeRequest) -> Result<PurgeReport> {
    let limit = req.batch()?;
    req.check_template()?;
    let interrupt = client.inner.interrupt.scope();
    let mut report = PurgeReport {
        dry_run: req.dry_run,
        ..Default::default()
    };
    // A template filter is resolved once to its versions' ids; none registered: nothing to do.
    let named_tasks = match &req.template {
        Some(t) => Some(client.block(client.inner.store.named_task_ids(t))?),
        None => None,
    };
    if named_tasks.as_ref().is_some_and(Vec::is_empty) {
        return Ok(report);
    }
    let mut after = 0;
    loop {
        interrupt.check()?;
        let cut = PurgeCutoffs {
            complete_before: req.finished_before,
            cancelled_before: req.finished_before,
        };
        let batch = client.block(client.inner.store.purge_batch(
            (after, i64::MAX),
            cut,
            named_tasks.as_deref(),
            limit,
            req.dry_run,
        ))?;
        let (tasks, steps) = (batch.tasks, batch.steps);
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
        after = batch.last_task_id;
    }
    Ok(report)
}

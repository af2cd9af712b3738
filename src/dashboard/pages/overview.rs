//! The overview: task and step counts by state (live), throughput over the last minutes, and
//! the handlers whose steps are failing now.

use super::{frame, time};
use crate::dashboard::server::{App, PageError};
use crate::models::{State, StepFilter, MAX_PAGE_LIMIT};
use axum::extract::State as AxState;
use maud::{html, Markup};
use std::collections::BTreeMap;

const TASK_COUNTS: [(&str, &str); 7] = [
    ("total_tasks", "tasks"),
    ("pending_tasks", "pending"),
    ("in_progress_tasks", "in progress"),
    ("complete_tasks", "complete"),
    ("error_tasks", "error"),
    ("cancelled_tasks", "cancelled"),
    ("resolved_manually_tasks", "resolved manually"),
];
const STEP_COUNTS: [(&str, &str); 6] = [
    ("total_steps", "steps"),
    ("in_progress_steps", "in progress"),
    ("error_steps", "error"),
    ("in_backoff_steps", "in backoff"),
    ("exhausted_retry_steps", "out of retries"),
    ("expired_lease_steps", "lease expired"),
];

pub(crate) async fn page(AxState(app): AxState<App>) -> Result<Markup, PageError> {
    let client = app.client()?;
    let now = client.now();
    let health = client.inner.store.health(now).await?;
    let counts = serde_json::to_value(&health).unwrap_or_default();
    // The newest failing steps, grouped by handler (one page: enough to name the culprits).
    let failing = client
        .inner
        .store
        .list_steps(
            &StepFilter {
                states: vec![State::Error],
                limit: Some(MAX_PAGE_LIMIT),
                ..StepFilter::default()
            },
            now,
        )
        .await?;
    let mut by_handler: BTreeMap<&str, (usize, i64, i64)> = BTreeMap::new();
    for s in &failing.items {
        let e = by_handler
            .entry(&s.handler)
            .or_insert((0, s.step_id, s.updated_at));
        e.0 += 1;
    }
    let card = |key: &str, label: &str| {
        html! { div.card { span.n data-count=(key) { (counts.get(key).cloned().unwrap_or_default()) } span.l { (label) } } }
    };
    Ok(frame(
        "Overview",
        Some("/live/overview"),
        html! {
            h1 { "Overview" }
            h2 { "Tasks" }
            div.cards { @for (k, l) in TASK_COUNTS { (card(k, l)) } }
            h2 { "Steps" }
            div.cards { @for (k, l) in STEP_COUNTS { (card(k, l)) } }
            h2 { "Throughput" }
            (throughput(&app))
            h2 { "Failing handlers" }
            @if by_handler.is_empty() {
                p.muted { "No step is in error." }
            } @else {
                table {
                    tr { th { "handler" } th.num { "steps in error" } th { "newest" } th { "updated" } }
                    @for (handler, (n, step, at)) in &by_handler {
                        tr {
                            td { (handler) }
                            td.num { (n) @if failing.next_cursor.is_some() { "+" } }
                            td { a href={ "/steps/" (step) } { "step " (step) } }
                            td { (time(*at)) }
                        }
                    }
                }
            }
        },
    ))
}

/// Finished tasks per sampling interval since the server started, as bars (SVG: the page's
/// content security policy allows no inline styles).
fn throughput(app: &App) -> Markup {
    let rates = app.throughput.rates();
    if rates.is_empty() {
        return html! { p.muted { "Measured from the dashboard's start: the first figures appear after 15 seconds." } };
    }
    let top = rates.iter().map(|r| r.tasks).max().unwrap_or(0).max(1);
    let last = rates.last().copied();
    html! {
        svg.bars-chart xmlns="http://www.w3.org/2000/svg" width="640" height="90" viewBox="0 0 640 90" role="img" aria-label="finished tasks per interval" {
            @for (i, r) in rates.iter().enumerate() {
                @let h = (r.tasks.saturating_mul(80) / top).max(1);
                rect x=(i * 15) y=(85 - h) width="12" height=(h) fill="#2e8b57" {
                    title { (r.tasks) " tasks, " (r.steps) " steps in " (r.seconds) " s until " (time(r.until_ms)) }
                }
            }
        }
        @if let Some(r) = last {
            p.muted { "Last " (r.seconds) " s: " (r.tasks) " tasks finished, " (r.steps) " steps completed." }
        }
    }
}

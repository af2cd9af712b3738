//! The overview: task and step counts by state (live), throughput over the last minutes, and
//! the handlers whose steps are failing now.

use super::{frame, time};
use crate::dashboard::server::{App, PageError};
use axum::extract::State as AxState;
use maud::{html, Markup};

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
    let figures = app.counts.get(&app).await?;
    let counts = serde_json::to_value(&figures.health).unwrap_or_default();
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
            @if figures.failing.is_empty() {
                p.muted { "No step is in error." }
            } @else {
                table {
                    tr { th { "handler" } th.num { "steps in error" } th { "newest" } th { "last change" } }
                    @for f in &figures.failing {
                        tr {
                            td { (f.handler) }
                            td.num { (f.steps) }
                            td { a href={ "/steps/" (f.newest_step_id) } { "step " (f.newest_step_id) } }
                            td { (time(f.updated_at)) }
                        }
                    }
                }
            }
            p.muted {
                "Counts as of " span data-count="read_at" { (time(figures.read_at_ms)) }
                " (read in " (figures.took.as_millis()) " ms; read again while this page is open, at most every second or ten times the read's duration)."
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

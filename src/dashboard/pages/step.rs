//! One step: attempts, the last error's class and message, results, inputs, the last checkpoint
//! and the transition history; retry and resolve buttons when allowed.

use super::{badge, csrf_field, frame, json_block, opt_time, time};
use crate::dashboard::dag_svg::{format_ms, step_duration_ms};
use crate::dashboard::server::{App, PageError};
use crate::models::State;
use axum::extract::{Path, State as AxState};
use maud::{html, Markup};

pub(crate) async fn page(
    AxState(app): AxState<App>,
    Path(id): Path<i64>,
) -> Result<Markup, PageError> {
    let client = app.client()?;
    let now = client.now();
    let task_id = client.inner.store.step_task_id(id).await?;
    let v = client.inner.store.task_view(task_id, now).await?;
    let s = v
        .steps
        .iter()
        .find(|s| s.step_id == id)
        .ok_or(crate::Error::StepNotFound(id))?;
    // The last failure's transition records its class and message (the step's results keep
    // only the latest error, and lose it once a retry succeeds).
    let last_error = s
        .transitions
        .iter()
        .filter(|t| t.to_state == State::Error)
        .max_by_key(|t| t.sort_key)
        .map(|t| &t.metadata);
    let text = |e: &serde_json::Value, k: &str| {
        e.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
    };
    let live = format!("/live/tasks/{task_id}");
    Ok(frame(
        &format!("Step {id}"),
        Some(&live),
        html! {
            h1 data-step-id=(id) { "Step " (s.name) " "
                span data-live-step-state class={ "badge state-" (s.state.as_str()) } { (s.state.as_str()) } }
            p.muted { "of " a href={ "/tasks/" (task_id) } { "task " (task_id) " · " (v.namespace) "/" (v.name) } " · handler " (s.handler) }
            table {
                tr { th { "attempts" } td { (s.attempts) " of " (s.retry_limit) @if !s.retryable { " (not retryable)" } } }
                tr { th { "last attempt" } td { (opt_time(s.last_attempted_at)) } }
                tr { th { "duration" } td { (step_duration_ms(s).map(format_ms).unwrap_or_else(|| "—".into())) } }
                tr { th { "processed" } td { (opt_time(s.processed_at)) } }
                tr { th { "next attempt" } td { (opt_time(s.next_attempt_at)) } }
                tr { th { "depends on" } td { (s.parents.join(", ")) } }
                @if let (Some(limit), Some(key)) = (s.concurrency_limit, &s.concurrency_key) {
                    tr { th { "concurrency" } td.concurrency { (limit) " in progress at most per " code { (key) } } }
                }
            }
            @if let Some(e) = last_error {
                h2 { "Last error" }
                table id="last-error" {
                    tr { th { "class" } td.error-class { (text(e, "error_class")) } }
                    tr { th { "message" } td.error-message { (text(e, "error_message")) } }
                    tr { th { "attempt" } td { (e.get("attempt").cloned().unwrap_or_default()) } }
                }
            }
            @if app.config.allow_actions {
                h2 { "Actions" }
                @if s.state == State::Error {
                    form.action method="post" action={ "/steps/" (id) "/retry" } {
                        (csrf_field(&app))
                        button id="retry" type="submit" { "Retry step" }
                    }
                }
                @if matches!(s.state, State::Pending | State::Error) {
                    form.action method="post" action={ "/steps/" (id) "/resolve" } {
                        (csrf_field(&app))
                        textarea name="results" rows="2" cols="40" placeholder="results (JSON)" {}
                        " "
                        button.danger type="submit" { "Resolve by hand" }
                    }
                }
            }
            div.grid2 {
                div { h2 { "Results" } (json_block(s.results.as_ref().unwrap_or(&serde_json::Value::Null))) }
                div { h2 { "Inputs" } (json_block(&s.inputs)) }
            }
            @if let Some(checkpoint) = &s.checkpoint {
                div id="checkpoint" { h2 { "Last checkpoint" } (json_block(checkpoint)) }
            }
            h2 { "Transitions" }
            table id="transitions" {
                tr { th { "at" } th { "from" } th { "to" } th { "details" } }
                @for t in &s.transitions {
                    tr {
                        td { (time(t.created_at)) }
                        td { @if let Some(f) = t.from_state { (badge(f)) } }
                        td { (badge(t.to_state)) }
                        td { @if !t.metadata.is_null() && t.metadata != serde_json::json!({}) { code { (t.metadata) } } }
                    }
                }
            }
        },
    ))
}

//! One task: its state (live), its DAG as SVG (steps coloured by state, live), its steps with
//! attempts and durations, its transitions and context; the cancel button when allowed.

use super::{badge, csrf_field, frame, json_block, opt_time, time};
use crate::dashboard::dag_svg::{dag_markup, format_ms, step_duration_ms};
use crate::dashboard::server::{App, PageError};
use axum::extract::{Path, State as AxState};
use axum::http::header;
use axum::response::IntoResponse;
use maud::{html, Markup};

pub(crate) async fn page(
    AxState(app): AxState<App>,
    Path(id): Path<i64>,
) -> Result<Markup, PageError> {
    let client = app.client()?;
    let v = client.inner.store.task_view(id, client.now()).await?;
    let live = format!("/live/tasks/{id}");
    Ok(frame(
        &format!("Task {id}"),
        Some(&live),
        html! {
            h1 { "Task " (id) " · " (v.namespace) "/" (v.name) " " span.muted { (v.version) } " "
                span data-live-task-state class={ "badge state-" (v.state.as_str()) } { (v.state.as_str()) } }
            p.muted {
                "requested " (time(v.requested_at)) " · completed " (opt_time(v.completed_at))
                @if let Some(at) = v.deadline_at { " · " span.deadline { "deadline " (time(at)) } }
                " · " span data-live-task-completion { (v.execution.completion_percentage.round()) "%" } " done"
                " · initiator " (v.initiator) " · source " (v.source_system)
            }
            @if app.config.allow_actions && !v.complete && v.state != crate::models::State::Cancelled {
                form.action method="post" action={ "/tasks/" (id) "/cancel" } {
                    (csrf_field(&app))
                    button.danger type="submit" { "Cancel task" }
                }
            }
            h2 { "DAG" }
            div.dag-wrap { (dag_markup(&v, "/steps/")) }
            h2 { "Steps" }
            table id="steps" {
                tr { th { "step" } th { "handler" } th { "state" } th.num { "attempts" } th { "last attempt" } th.num { "duration" } th { "depends on" } }
                @for s in &v.steps {
                    tr data-step-id=(s.step_id) {
                        td { a href={ "/steps/" (s.step_id) } { (s.name) } }
                        td { (s.handler) }
                        td { span data-live-step-state class={ "badge state-" (s.state.as_str()) } { (s.state.as_str()) } }
                        td.num { span data-live-step-attempts { (s.attempts) } " / " (s.retry_limit) }
                        td { (opt_time(s.last_attempted_at)) }
                        td.num { (step_duration_ms(s).map(format_ms).unwrap_or_default()) }
                        td { (s.parents.join(", ")) }
                    }
                }
            }
            div.grid2 {
                div {
                    h2 { "Transitions" }
                    table {
                        tr { th { "at" } th { "from" } th { "to" } }
                        @for t in &v.transitions {
                            tr { td { (time(t.created_at)) } td { @if let Some(f) = t.from_state { (badge(f)) } } td { (badge(t.to_state)) } }
                        }
                    }
                }
                div { h2 { "Context" } (json_block(&v.context)) }
            }
        },
    ))
}

/// The DAG alone, as an SVG document (for embedding elsewhere).
pub(crate) async fn svg(
    AxState(app): AxState<App>,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, PageError> {
    let client = app.client()?;
    let v = client.inner.store.task_view(id, client.now()).await?;
    Ok((
        [(header::CONTENT_TYPE, "image/svg+xml")],
        dag_markup(&v, "/steps/").into_string(),
    ))
}

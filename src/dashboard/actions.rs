//! The operations the dashboard offers (retry a step, resolve it by hand, cancel a task): POST
//! only, refused with 403 unless the server was started with `allow_actions`, and protected
//! against cross-site requests twice: the browser's own `Sec-Fetch-Site` / `Origin` headers
//! must name this site, and the form must carry the server's random CSRF token (which a page of
//! another site cannot read).

use super::access::same_secret;
use super::server::{App, PageError};
use crate::Error;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;

type Fields = Result<Form<HashMap<String, String>>, FormRejection>;

fn forbidden(why: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        super::pages::error_page(StatusCode::FORBIDDEN, why),
    )
        .into_response()
}

/// Why the request may not act, if it may not.
fn refusal(app: &App, headers: &HeaderMap, fields: &Fields) -> Option<&'static str> {
    if !app.config.allow_actions {
        return Some("actions are disabled: start the dashboard with --allow-actions");
    }
    let text = |h| headers.get(h).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        if site != "same-origin" && site != "none" {
            return Some("cross-site request refused");
        }
    }
    if let Some(origin) = text(header::ORIGIN) {
        let host = text(header::HOST).unwrap_or("");
        if origin != format!("http://{host}") {
            return Some("cross-origin request refused");
        }
    }
    let token = fields.as_ref().ok().and_then(|f| f.0.get("csrf"));
    if !token.is_some_and(|t| same_secret(t, &app.csrf)) {
        return Some("the form's CSRF token is missing or wrong: reload the page");
    }
    None
}

/// One operation, run through the store on the server's runtime. Like the CLI's operations
/// (another process), it does not call this process's event subscribers or host-queue
/// callbacks: those run only on host threads that called into libtasker, never on the
/// runtime's. Local workers and `wait_task` are woken; other processes see the change as they
/// see the CLI's.
#[derive(Debug)]
enum Op {
    Retry(i64),
    Resolve(i64, serde_json::Value),
    Cancel(i64),
}

async fn perform(app: &App, op: Op) -> Result<(), PageError> {
    let client = app.client()?;
    let store = &client.inner.store;
    let now = client.now();
    let out = match op {
        Op::Retry(step) => store.retry_step(step, now).await?,
        Op::Resolve(step, results) => {
            crate::models::document_policy::check("results", &results)?;
            store.resolve_step(step, &results, now).await?
        }
        Op::Cancel(task) => store.cancel_task(task, now).await?,
    };
    if !out.newly_ready.is_empty() {
        client.inner.ready.notify_waiters();
    }
    client.inner.settled.notify_waiters();
    app.changed.notify_waiters();
    Ok(())
}

/// Checks the request, performs `op` and sends the browser back to `back`.
async fn act(
    app: &App,
    headers: &HeaderMap,
    fields: &Fields,
    back: String,
    op: impl FnOnce() -> crate::Result<Op>,
) -> Result<Response, PageError> {
    if let Some(why) = refusal(app, headers, fields) {
        return Ok(forbidden(why));
    }
    let op = op()?;
    tracing::info!(?op, "dashboard action");
    perform(app, op).await?;
    Ok(Redirect::to(&back).into_response())
}

pub(crate) async fn retry(
    State(app): State<App>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, PageError> {
    act(&app, &headers, &fields, format!("/steps/{id}"), || {
        Ok(Op::Retry(id))
    })
    .await
}

pub(crate) async fn resolve(
    State(app): State<App>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, PageError> {
    let text = fields
        .as_ref()
        .ok()
        .and_then(|f| f.0.get("results").cloned())
        .unwrap_or_default();
    let results = if text.trim().is_empty() {
        Ok(serde_json::Value::Null)
    } else {
        serde_json::from_str(&text).map_err(|e| Error::InvalidRequest(format!("results: {e}")))
    };
    act(&app, &headers, &fields, format!("/steps/{id}"), || {
        Ok(Op::Resolve(id, results?))
    })
    .await
}

pub(crate) async fn cancel(
    State(app): State<App>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, PageError> {
    act(&app, &headers, &fields, format!("/tasks/{id}"), || {
        Ok(Op::Cancel(id))
    })
    .await
}

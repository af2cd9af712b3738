//! The operations the dashboard offers (retry a step, resolve it by hand, cancel a task): POST
//! only, refused with 403 unless the server was started with `allow_actions`, and protected
//! against cross-site requests twice: the browser's own `Sec-Fetch-Site` / `Origin` headers
//! must name this site, and the form must carry the server's random CSRF token (which a page of
//! another site cannot read).

use super::access::same_secret;
use super::server::{App, PageError};
use crate::orchestration::Client;
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

/// Runs a blocking client operation on its own thread: the client's calls block on the
/// runtime this handler runs on, which must not happen from one of its own threads.
async fn off_runtime<T: Send + 'static>(
    client: Client,
    op: impl FnOnce(&Client) -> crate::Result<T> + Send + 'static,
) -> Result<T, PageError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("tasker-dashboard-op".into())
        .spawn(move || {
            let _ = tx.send(op(&client));
        })
        .map_err(|e| Error::Internal(format!("cannot start a thread: {e}")))?;
    rx.await
        .map_err(|_| Error::Internal("the operation's thread ended without an answer".into()))?
        .map_err(PageError)
}

/// Checks the request, runs `op` and sends the browser back to `back`.
async fn act<T: Send + 'static>(
    app: &App,
    headers: &HeaderMap,
    fields: &Fields,
    back: String,
    op: impl FnOnce(&Client) -> crate::Result<T> + Send + 'static,
) -> Result<Response, PageError> {
    if let Some(why) = refusal(app, headers, fields) {
        return Ok(forbidden(why));
    }
    off_runtime(app.client()?, op).await?;
    tracing::info!(page = %back, "dashboard action done");
    Ok(Redirect::to(&back).into_response())
}

pub(crate) async fn retry(
    State(app): State<App>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, PageError> {
    act(&app, &headers, &fields, format!("/steps/{id}"), move |c| {
        c.retry_step(id)
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
    act(&app, &headers, &fields, format!("/steps/{id}"), move |c| {
        c.resolve_step(id, results?)
    })
    .await
}

pub(crate) async fn cancel(
    State(app): State<App>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, PageError> {
    act(&app, &headers, &fields, format!("/tasks/{id}"), move |c| {
        c.cancel_task(id)
    })
    .await
}

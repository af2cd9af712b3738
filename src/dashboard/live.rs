//! Live updates without reload: Server-Sent Events carrying a small JSON snapshot (the task's
//! state and its steps' states, or the overview's counts) whenever it changes. The stream
//! looks again when the event bus reports a local transition, and at least every
//! `POLL_EVERY` for the changes other processes (workers elsewhere) commit.

use super::counts::Counts;
use super::server::{App, PageError};
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::time::Duration;

pub(crate) const POLL_EVERY: Duration = Duration::from_secs(1);

/// What the overview page shows live: the counts by state and when they were read.
pub(crate) fn overview_snapshot(c: &Counts) -> Value {
    let mut v = serde_json::to_value(&c.health).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "read_at".into(),
            Value::from(super::pages::time(c.read_at_ms)),
        );
    }
    v
}

pub(crate) async fn task_snapshot(app: &App, task_id: i64) -> Result<Value, PageError> {
    let client = app.client()?;
    let v = client.inner.store.task_view(task_id, client.now()).await?;
    let steps: Vec<Value> = v
        .steps
        .iter()
        .map(|s| {
            json!({
                "id": s.step_id,
                "state": s.state.as_str(),
                "attempts": s.attempts,
                "title": super::dag_svg::step_title(s),
                "meta": super::dag_svg::node_meta(s),
            })
        })
        .collect();
    Ok(json!({
        "state": v.state.as_str(),
        "status": serde_json::to_value(v.execution.execution_status).unwrap_or(Value::Null),
        "completion": v.execution.completion_percentage,
        "steps": steps,
    }))
}

/// The shared figures (counts.rs): no database read per viewer.
async fn overview_value(app: &App) -> Result<Value, PageError> {
    Ok(overview_snapshot(&*app.counts.get(app).await?))
}

/// A stream of the snapshots `snap` returns, each sent only when it differs from the last;
/// ends when the server stops or the snapshot fails (the browser's EventSource reconnects).
fn changes<F, Fut>(app: App, snap: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: Fn(App) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Value, PageError>> + Send,
{
    let snap = std::sync::Arc::new(snap);
    stream::unfold((app, None::<Value>), move |(app, last)| {
        let snap = snap.clone();
        async move {
            let mut stop = app.shutdown.clone();
            loop {
                if *stop.borrow() {
                    return None;
                }
                // Created before the read: a change committed during the read still wakes it
                // (notify_waiters reaches every future created before it).
                let notify = app.changed.clone();
                let changed = notify.notified();
                let value = snap(app.clone()).await.ok()?;
                if last.as_ref() != Some(&value) {
                    let event = Event::default().data(value.to_string());
                    return Some((Ok(event), (app, Some(value))));
                }
                tokio::select! {
                    _ = changed => {}
                    _ = tokio::time::sleep(POLL_EVERY) => {}
                    _ = stop.wait_for(|s| *s) => return None,
                }
            }
        }
    })
}

pub(crate) async fn overview(
    State(app): State<App>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(changes(
        app,
        |app| async move { overview_value(&app).await },
    ))
    .keep_alive(KeepAlive::default())
}

pub(crate) async fn task(
    State(app): State<App>,
    Path(id): Path<i64>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(changes(app, move |app| async move {
        task_snapshot(&app, id).await
    }))
    .keep_alive(KeepAlive::default())
}

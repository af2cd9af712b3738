//! The task list: the `list_tasks` filters as a form, keyset pages (a "next" link carrying the
//! cursor), newest first.

use super::{badge, frame, time};
use crate::dashboard::server::{App, PageError};
use crate::models::{State, TaskFilter};
use axum::extract::{Query, State as AxState};
use maud::{html, Markup};
use serde::Deserialize;

/// The query string: every field optional, empty ones ignored (an empty form field).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ListQuery {
    state: String,
    namespace: String,
    name: String,
    tag: String,
    cursor: String,
    limit: Option<u32>,
}

fn some(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl ListQuery {
    fn filter(&self) -> Result<TaskFilter, PageError> {
        let states = match some(&self.state) {
            Some(s) => vec![s
                .parse::<State>()
                .map_err(|_| crate::Error::InvalidRequest(format!("unknown state '{s}'")))?],
            None => Vec::new(),
        };
        Ok(TaskFilter {
            states,
            namespace: some(&self.namespace),
            name: some(&self.name),
            tags: some(&self.tag).into_iter().collect(),
            cursor: some(&self.cursor),
            limit: self.limit,
            ..TaskFilter::default()
        })
    }

    /// This query with another cursor, as a URL.
    fn with_cursor(&self, cursor: &str) -> String {
        let mut q = vec![];
        for (k, v) in [
            ("state", &self.state),
            ("namespace", &self.namespace),
            ("name", &self.name),
            ("tag", &self.tag),
        ] {
            if !v.is_empty() {
                q.push(format!("{k}={}", urlencode(v)));
            }
        }
        if let Some(l) = self.limit {
            q.push(format!("limit={l}"));
        }
        if !cursor.is_empty() {
            q.push(format!("cursor={}", urlencode(cursor)));
        }
        format!("/tasks?{}", q.join("&"))
    }
}

pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) async fn page(
    AxState(app): AxState<App>,
    Query(q): Query<ListQuery>,
) -> Result<Markup, PageError> {
    let filter = q.filter()?;
    let client = app.client()?;
    let page = client.inner.store.list_tasks(&filter, client.now()).await?;
    Ok(frame(
        "Tasks",
        None,
        html! {
            h1 { "Tasks" }
            form.filters method="get" action="/tasks" {
                label { "state"
                    select name="state" {
                        option value="" { "any" }
                        @for s in State::ALL {
                            option value=(s.as_str()) selected[q.state == s.as_str()] { (s.as_str()) }
                        }
                    }
                }
                label { "namespace" input name="namespace" value=(q.namespace); }
                label { "name" input name="name" value=(q.name); }
                label { "tag" input name="tag" value=(q.tag); }
                button type="submit" { "Filter" }
            }
            table id="tasks" {
                tr { th.num { "id" } th { "task" } th { "state" } th.num { "steps done" } th { "created" } th { "updated" } }
                @for t in &page.items {
                    tr data-task-id=(t.task_id) {
                        td.num { a href={ "/tasks/" (t.task_id) } { (t.task_id) } }
                        td { a href={ "/tasks/" (t.task_id) } { (t.namespace) "/" (t.name) } " " span.muted { (t.version) } }
                        td { (badge(t.state)) }
                        td.num { (t.execution.completed_steps) " / " (t.execution.total_steps) }
                        td { (time(t.created_at)) }
                        td { (time(t.updated_at)) }
                    }
                }
            }
            @if page.items.is_empty() { p.muted { "No task matches." } }
            div.pager {
                @if !q.cursor.is_empty() { a href=(q.with_cursor("")) { "« first page" } }
                @if let Some(c) = &page.next_cursor { a rel="next" href=(q.with_cursor(c)) { "next page »" } }
            }
        },
    ))
}

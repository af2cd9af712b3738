//! A task's DAG as an SVG document: one `<g class="step state-…" data-step-id=…>` per step
//! (a box linking to the step page, a `<title>` with attempts and duration for the hover),
//! edges as paths, laid out by dag_layout. Above `SUMMARY_THRESHOLD` steps, one box per layer
//! with its counts by state.
//!
//! Every SVG element is written with an explicit end tag (`{}` in maud, never `;`): maud's
//! `;` writes `<rect ...>` without one, which is right for HTML void elements but, in SVG, opens
//! an element that swallows everything after it (and is not well-formed XML).

use super::dag_layout::{layout, SUMMARY_THRESHOLD};
use crate::models::{State, StepView, TaskView};
use maud::{html, Markup};
use std::collections::HashMap;

const NODE_W: i64 = 180;
const NODE_H: i64 = 40;
const COL: i64 = 240;
const ROW: i64 = 60;
const MARGIN: i64 = 10;
/// Longer names are cut so the text stays inside its box.
const NAME_CHARS: usize = 22;

/// The SVG of `view`'s DAG; `link` prefixes each step's link (`""` for none, as in the CLI).
pub fn task_dag_svg(view: &TaskView, link: &str) -> String {
    dag_markup(view, link).into_string()
}

pub(crate) fn dag_markup(view: &TaskView, link: &str) -> Markup {
    let index: HashMap<&str, usize> = view
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let parents: Vec<Vec<usize>> = view
        .steps
        .iter()
        .map(|s| {
            s.parents
                .iter()
                .filter_map(|p| index.get(p.as_str()).copied())
                .collect()
        })
        .collect();
    if view.steps.len() > SUMMARY_THRESHOLD {
        summary(view, &parents)
    } else {
        detailed(view, &parents, link)
    }
}

fn detailed(view: &TaskView, parents: &[Vec<usize>], link: &str) -> Markup {
    let l = layout(parents, true);
    let tallest = l.layers.iter().map(Vec::len).max().unwrap_or(0) as i64;
    let width = (l.layers.len() as i64) * COL - (COL - NODE_W) + 2 * MARGIN;
    let height = tallest * ROW - (ROW - NODE_H) + 2 * MARGIN;
    let at = |i: usize| {
        let (layer, rank) = l.position[i];
        (MARGIN + layer as i64 * COL, MARGIN + rank as i64 * ROW)
    };
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="dag" width=(width.max(1)) height=(height.max(1))
            viewBox={ "0 0 " (width.max(1)) " " (height.max(1)) } role="img"
            aria-label={ "DAG of task " (view.task_id) } {
            defs {
                marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8"
                    markerHeight="8" orient="auto-start-reverse" { path d="M 0 0 L 10 5 L 0 10 z" {} }
            }
            @for (child, ps) in parents.iter().enumerate() {
                @for &p in ps {
                    @let (x1, y1) = at(p);
                    @let (x2, y2) = at(child);
                    @let (sx, sy, ex, ey) = (x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2);
                    @let mid = (sx + ex) / 2;
                    path class="edge" marker-end="url(#arrow)"
                        data-from=(view.steps[p].step_id) data-to=(view.steps[child].step_id)
                        d={ "M " (sx) " " (sy) " C " (mid) " " (sy) ", " (mid) " " (ey) ", " (ex) " " (ey) } {}
                }
            }
            @for (i, step) in view.steps.iter().enumerate() {
                @let (x, y) = at(i);
                g class={ "step state-" (step.state.as_str()) } data-step-id=(step.step_id)
                    data-step-name=(step.name) {
                    title { (step_title(step)) }
                    @if link.is_empty() {
                        (node_box(step, x, y))
                    } @else {
                        a href={ (link) (step.step_id) } { (node_box(step, x, y)) }
                    }
                }
            }
        }
    }
}

fn node_box(step: &StepView, x: i64, y: i64) -> Markup {
    let name: String = if step.name.chars().count() > NAME_CHARS {
        step.name
            .chars()
            .take(NAME_CHARS - 1)
            .chain(['…'])
            .collect()
    } else {
        step.name.clone()
    };
    html! {
        rect x=(x) y=(y) width=(NODE_W) height=(NODE_H) rx="6" {}
        text x=(x + 10) y=(y + 17) class="name" { (name) }
        text x=(x + 10) y=(y + 32) class="meta" { (node_meta(step)) }
    }
}

/// The second line of a node: state, attempts out of the limit, last attempt's duration.
pub(crate) fn node_meta(step: &StepView) -> String {
    let mut t = format!(
        "{} · {}/{}",
        step.state.as_str(),
        step.attempts,
        step.retry_limit
    );
    if let Some(ms) = step_duration_ms(step) {
        t.push_str(&format!(" · {}", format_ms(ms)));
    }
    t
}

/// The hover text: name, state, attempts, duration of the last attempt.
pub(crate) fn step_title(step: &StepView) -> String {
    let mut t = format!(
        "{} — {}, attempts {}/{}",
        step.name,
        step.state.as_str(),
        step.attempts,
        step.retry_limit
    );
    if let Some(ms) = step_duration_ms(step) {
        t.push_str(&format!(", last attempt {}", format_ms(ms)));
    }
    t
}

/// How long the last attempt ran: from its last move to `in_progress` to the transition after
/// it (none while it runs or when it never ran).
pub(crate) fn step_duration_ms(step: &StepView) -> Option<i64> {
    let mut ts: Vec<_> = step.transitions.iter().collect();
    ts.sort_by_key(|t| t.sort_key);
    let start = ts.iter().rposition(|t| t.to_state == State::InProgress)?;
    let end = ts.get(start + 1)?;
    end.created_at.checked_sub(ts[start].created_at)
}

pub(crate) fn format_ms(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{:.1} min", ms as f64 / 60_000.0)
    }
}

/// One box per layer with its step count and counts by state: readable at any size.
fn summary(view: &TaskView, parents: &[Vec<usize>]) -> Markup {
    let l = layout(parents, false);
    const BOX_H: i64 = 130;
    let width = (l.layers.len() as i64) * COL - (COL - NODE_W) + 2 * MARGIN;
    let height = BOX_H + 2 * MARGIN;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="dag summarised" width=(width.max(1))
            height=(height) viewBox={ "0 0 " (width.max(1)) " " (height) } role="img"
            aria-label={ "DAG of task " (view.task_id) ", summarised by layer" } {
            @for (k, layer) in l.layers.iter().enumerate() {
                @let x = MARGIN + k as i64 * COL;
                @if k > 0 {
                    path class="edge" d={ "M " (x - (COL - NODE_W)) " " (MARGIN + BOX_H / 2) " H " (x) } {}
                }
                g class="layer" data-layer=(k) data-steps=(layer.len()) {
                    title { "layer " (k) ": " (layer.len()) " steps" }
                    rect x=(x) y=(MARGIN) width=(NODE_W) height=(BOX_H) rx="6" {}
                    text x=(x + 10) y=(MARGIN + 18) class="name" { "layer " (k) " · " (layer.len()) " steps" }
                    @for (j, (state, count)) in state_counts(view, layer).into_iter().enumerate() {
                        text x=(x + 10) y=(MARGIN + 36 + j as i64 * 16) class={ "meta count state-" (state.as_str()) } {
                            (count) " " (state.as_str())
                        }
                    }
                }
            }
        }
    }
}

fn state_counts(view: &TaskView, layer: &[usize]) -> Vec<(State, usize)> {
    State::ALL
        .into_iter()
        .map(|s| {
            (
                s,
                layer.iter().filter(|&&i| view.steps[i].state == s).count(),
            )
        })
        .filter(|(_, c)| *c > 0)
        .collect()
}

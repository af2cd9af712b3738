//! `tasker task watch ID`: reads the task view every `--interval` seconds and prints the
//! progress and each step state change until the task is complete, in error or cancelled.

use crate::error::CliError;
use crate::output::Output;
use std::collections::HashMap;
use std::time::Duration;
use tasker::{Client, State, TaskView};

/// Width of the text progress bar, in characters.
const BAR: usize = 30;

pub fn run(client: &Client, task_id: i64, interval: f64, out: &Output) -> Result<(), CliError> {
    let pause = Duration::try_from_secs_f64(interval)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            CliError::InvalidInput(format!(
                "--interval must be a positive number of seconds, got {interval}"
            ))
        })?;
    let mut seen: HashMap<i64, State> = HashMap::new();
    let mut last_progress: Option<(State, i64, i64)> = None;
    loop {
        let view = client.task_view(task_id)?;
        let changes = step_changes(&view, &mut seen);
        let e = &view.execution;
        let progress = (view.state, e.completed_steps, e.total_steps);
        if !changes.is_empty() || last_progress != Some(progress) {
            last_progress = Some(progress);
            // --json: one execution context per change (JSON lines), then the final task view.
            out.print(&e, || {
                let mut s: String = changes.iter().map(|c| format!("  {c}\n")).collect();
                s.push_str(&bar(&view));
                s
            })?;
        }
        if is_done(view.state) {
            if out.is_json() {
                out.print(&view, String::new)?;
            }
            return match view.state {
                State::Complete | State::ResolvedManually => Ok(()),
                state => Err(CliError::Unfinished {
                    task_id,
                    state: state.to_string(),
                }),
            };
        }
        std::thread::sleep(pause);
    }
}

/// Nothing more happens to the task without an operator (an error task waits for a retry).
fn is_done(state: State) -> bool {
    matches!(
        state,
        State::Complete | State::ResolvedManually | State::Error | State::Cancelled
    )
}

/// `step NAME: FROM -> TO` for each step whose state differs from the last read.
fn step_changes(view: &TaskView, seen: &mut HashMap<i64, State>) -> Vec<String> {
    let mut changes = Vec::new();
    for step in &view.steps {
        let before = seen.insert(step.step_id, step.state);
        if before != Some(step.state) {
            changes.push(match before {
                Some(b) => format!("step {}: {b} -> {}", step.name, step.state),
                None => format!("step {}: {}", step.name, step.state),
            });
        }
    }
    changes
}

/// `[##########..........]  33.33%  2/6 steps  in_progress`
fn bar(view: &TaskView) -> String {
    let e = &view.execution;
    let filled = if e.total_steps > 0 {
        let done = usize::try_from(e.completed_steps.clamp(0, e.total_steps)).unwrap_or(0);
        let total = usize::try_from(e.total_steps).unwrap_or(1).max(1);
        done.saturating_mul(BAR) / total
    } else {
        0
    };
    format!(
        "[{}{}] {:>6.2}%  {}/{} steps  {}\n",
        "#".repeat(filled),
        ".".repeat(BAR - filled),
        e.completion_percentage,
        e.completed_steps,
        e.total_steps,
        view.state
    )
}

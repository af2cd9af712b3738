//! `tasker task show | dag | watch | cancel`: one task, read through the library's task view.

use crate::dag::{Dag, Node};
use crate::error::CliError;
use crate::output::{self, Output};
use clap::{Subcommand, ValueEnum};
use tasker::{Client, State, StepView, TaskView};

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// The task's steps (state, attempts, priority, duration, last error) and its DAG.
    Show { id: i64 },
    /// The task's DAG with each step's state.
    Dag {
        id: i64,
        #[arg(long, value_enum, default_value_t = DagFormat::Text)]
        format: DagFormat,
    },
    /// Follows the task until it is complete, in error or cancelled: progress and step states.
    Watch {
        id: i64,
        /// Seconds between two reads of the task.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
    },
    /// Cancels the task and its unfinished steps.
    Cancel { id: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DagFormat {
    Text,
    Dot,
    Mermaid,
    /// The dashboard's SVG drawing (steps coloured by state).
    Svg,
}

pub fn run(client: &Client, cmd: TaskCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        TaskCommand::Show { id } => {
            let view = client.task_view(id)?;
            out.print(&view, || describe(&view))
        }
        TaskCommand::Dag { id, format } => {
            let view = client.task_view(id)?;
            let graph = dag(&view);
            let text = match format {
                DagFormat::Text => graph.render_text(),
                DagFormat::Dot => crate::dot::render(&format!("task {}", view.task_id), &graph),
                DagFormat::Mermaid => crate::mermaid::render(&graph),
                DagFormat::Svg => tasker::task_dag_svg(&view, "") + "\n",
            };
            let doc = serde_json::json!({"task_id": view.task_id, "format": format_name(format), "dag": text});
            out.print(&doc, || text.clone())
        }
        TaskCommand::Watch { id, interval } => crate::watch::run(client, id, interval, out),
        TaskCommand::Cancel { id } => {
            let changed = client.cancel_task(id)?;
            if !changed {
                return Err(CliError::Refused(format!("task {id} is already cancelled")));
            }
            let doc = serde_json::json!({"task_id": id, "cancelled": true});
            out.print(&doc, || format!("task {id} cancelled\n"))
        }
    }
}

fn format_name(f: DagFormat) -> &'static str {
    match f {
        DagFormat::Text => "text",
        DagFormat::Dot => "dot",
        DagFormat::Mermaid => "mermaid",
        DagFormat::Svg => "svg",
    }
}

pub fn dag(view: &TaskView) -> Dag {
    let nodes = view
        .steps
        .iter()
        .map(|s| Node {
            name: s.name.clone(),
            state: Some(s.state.to_string()),
        })
        .collect();
    let parents: Vec<Vec<String>> = view.steps.iter().map(|s| s.parents.clone()).collect();
    Dag::new(nodes, &parents)
}

/// Time spent in the step: from its first attempt's start to when it finished (or its last
/// transition, or now while it runs). None before it ever started.
fn step_duration(step: &StepView, now: i64) -> Option<i64> {
    let start = step
        .transitions
        .iter()
        .filter(|t| t.to_state == State::InProgress)
        .map(|t| t.created_at)
        .min()?;
    let end = match step.state {
        State::InProgress => now,
        _ => step
            .processed_at
            .or_else(|| step.transitions.iter().map(|t| t.created_at).max())?,
    };
    Some(end.saturating_sub(start))
}

/// The recorded error of a failed attempt (`results.error`): `Class: message`.
pub fn last_error(step: &StepView) -> Option<String> {
    let error = step.results.as_ref()?.get("error")?;
    let message = error.get("message").and_then(|m| m.as_str());
    let class = error.get("class").and_then(|c| c.as_str());
    Some(match (class, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (None, Some(m)) => m.to_string(),
        _ => error.to_string(),
    })
}

/// A limited step's `limit key` (`3 handler:call_api:c-1`), `-` for an unlimited one.
fn concurrency(step: &StepView) -> String {
    match (step.concurrency_limit, &step.concurrency_key) {
        (Some(limit), Some(key)) => format!("{limit} {key}"),
        _ => "-".into(),
    }
}

fn describe(view: &TaskView) -> String {
    let e = &view.execution;
    let mut s = format!(
        "task {}  {}.{}@{}  {}\n{}% complete ({}/{} steps)  status {}  health {}\n",
        view.task_id,
        view.namespace,
        view.name,
        view.version,
        view.state,
        e.completion_percentage,
        e.completed_steps,
        e.total_steps,
        output::name_of(&e.execution_status),
        output::name_of(&e.health),
    );
    if let Some(at) = view.deadline_at {
        s += &format!("deadline {}\n", crate::rfc3339::format(at));
    }
    let now = output::now_ms();
    let rows: Vec<[String; 8]> = view
        .steps
        .iter()
        .map(|st| {
            [
                st.step_id.to_string(),
                st.name.clone(),
                st.state.to_string(),
                format!("{}/{}", st.attempts, st.retry_limit),
                st.priority.to_string(),
                concurrency(st),
                step_duration(st, now).map_or("-".into(), output::duration),
                last_error(st).unwrap_or_default(),
            ]
        })
        .collect();
    s.push('\n');
    s += &crate::table::render(
        [
            "id",
            "step",
            "state",
            "attempts",
            "priority",
            "concurrency",
            "duration",
            "last error",
        ],
        &rows,
    );
    s.push_str("\ndag\n");
    s + &dag(view).render_text()
}

//! `tasker templates ls | show | validate`: the templates stored in the database, and the
//! validation of a template file without one.

use crate::dag::{Dag, Node};
use crate::error::CliError;
use crate::output::{max_width, Output};
use clap::Subcommand;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use tasker::{Client, TaskTemplate};

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Lists every registered template version.
    Ls,
    /// Shows a registered template: its steps and their DAG.
    Show {
        name: String,
        #[arg(long, default_value = "default")]
        namespace: String,
        /// Semantic version; the latest when absent.
        #[arg(long)]
        version: Option<String>,
    },
    /// Parses and validates a template file (no database): prints the cycle or the unknown
    /// dependency of an invalid one and exits with 3.
    Validate {
        file: PathBuf,
        /// Applies this environment's overrides (the template's `environments`) first, as a
        /// client with this environment would.
        #[arg(long, env = "TASKER_ENV")]
        environment: Option<String>,
    },
}

pub fn run(client: &Client, cmd: TemplatesCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        TemplatesCommand::Ls => {
            let templates = client.templates()?;
            out.print(&templates, || {
                let mut s = String::new();
                for t in &templates {
                    let _ = writeln!(
                        s,
                        "{}  {} steps  {}",
                        t.full_name(),
                        t.step_templates.len(),
                        t.description.as_deref().unwrap_or("")
                    );
                }
                s.lines().map(|l| l.trim_end().to_string() + "\n").collect()
            })
        }
        TemplatesCommand::Show {
            name,
            namespace,
            version,
        } => {
            let template = client
                .templates()?
                .into_iter()
                // Sorted by version: the last match is the latest.
                .rfind(|t| {
                    t.namespace_name == namespace
                        && t.name == name
                        && version.as_ref().is_none_or(|v| &t.version == v)
                })
                .ok_or_else(|| {
                    CliError::NotFound(format!(
                        "template '{namespace}.{name}@{}' not found",
                        version.as_deref().unwrap_or("latest")
                    ))
                })?;
            out.print(&template, || describe(&template))
        }
        TemplatesCommand::Validate { file, environment } => {
            validate(&file, environment.as_deref(), out)
        }
    }
}

/// Parses and validates as registration does, with the overrides of `environment`.
pub fn validate(file: &Path, environment: Option<&str>, out: &Output) -> Result<(), CliError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        CliError::InvalidInput(format!("cannot read template file {}: {e}", file.display()))
    })?;
    let template = TaskTemplate::from_yaml(&text, environment)?;
    let doc = serde_json::json!({
        "valid": true,
        "template": template.full_name(),
        "steps": template.step_templates.len(),
    });
    out.print(&doc, || {
        format!(
            "{}: valid ({} steps)\n",
            template.full_name(),
            template.step_templates.len()
        )
    })
}

pub fn dag(template: &TaskTemplate) -> Dag {
    let nodes = template
        .step_templates
        .iter()
        .map(|s| Node {
            name: s.name.clone(),
            state: None,
        })
        .collect();
    let parents: Vec<Vec<String>> = template
        .step_templates
        .iter()
        .map(|s| s.dependencies().into_iter().map(str::to_string).collect())
        .collect();
    Dag::new(nodes, &parents)
}

fn describe(t: &TaskTemplate) -> String {
    let mut s = format!("{}\n", t.full_name());
    if let Some(d) = &t.description {
        let _ = writeln!(s, "{d}");
    }
    let _ = writeln!(s, "\nsteps");
    let name_width = max_width(t.step_templates.iter().map(|st| st.name.as_str()));
    let handler_width = max_width(t.step_templates.iter().map(|st| st.handler.as_str()));
    for step in &t.step_templates {
        let _ = writeln!(
            s,
            "  {:name_width$}  handler {:handler_width$}  retry limit {}{}{}{}{}",
            step.name,
            step.handler,
            step.default_retry_limit,
            if step.default_retryable {
                ""
            } else {
                "  not retryable"
            },
            if step.skippable { "  skippable" } else { "" },
            // docs/FLOW_CONTROL.md: without a key the limit is the handler's.
            step.concurrency.as_ref().map_or(String::new(), |c| format!(
                "  concurrency {} per {}",
                c.limit,
                c.key.as_deref().unwrap_or("handler")
            )),
            step.rate_limit.as_ref().map_or(String::new(), |r| format!(
                "  rate {} per {} ms per {}",
                r.limit,
                r.per_ms,
                r.key.as_deref().unwrap_or("handler")
            )),
        );
    }
    let _ = writeln!(s, "\ndag");
    s + &dag(t).render_text()
}

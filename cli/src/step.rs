//! `tasker step retry | resolve`: the operator's hand on one step.

use crate::error::CliError;
use crate::output::Output;
use clap::Subcommand;
use tasker::Client;

#[derive(Debug, Subcommand)]
pub enum StepCommand {
    /// Makes a failed step ready again (its attempts are reset).
    Retry { id: i64 },
    /// Marks the step resolved by hand with the given results, unblocking its dependents.
    Resolve {
        id: i64,
        /// The step's results, as JSON.
        #[arg(long)]
        results: String,
    },
}

pub fn run(client: &Client, cmd: StepCommand, out: &Output) -> Result<(), CliError> {
    match cmd {
        StepCommand::Retry { id } => {
            if !client.retry_step(id)? {
                return Err(CliError::Refused(format!(
                    "step {id} was not retried: nothing to retry"
                )));
            }
            let doc = serde_json::json!({"step_id": id, "retried": true});
            out.print(&doc, || format!("step {id} is ready to run again\n"))
        }
        StepCommand::Resolve { id, results } => {
            let results: serde_json::Value = serde_json::from_str(&results)
                .map_err(|e| CliError::InvalidInput(format!("--results is not JSON: {e}")))?;
            if !client.resolve_step(id, results)? {
                return Err(CliError::Refused(format!("step {id} is already resolved")));
            }
            let doc = serde_json::json!({"step_id": id, "resolved": true});
            out.print(&doc, || format!("step {id} resolved manually\n"))
        }
    }
}

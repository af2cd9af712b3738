//! `tasker`: the command-line tool of libtasker. Every command takes `--json` (machine output:
//! the library's serde documents); exit codes are in error.rs and README.md "CLI".

mod dag;
mod dashboard;
mod dot;
mod error;
mod mermaid;
mod output;
mod step;
mod task;
mod templates;
mod watch;

mod rfc3339;
mod steps;
mod table;
mod tasks;

mod purge;

mod schedules;

use clap::{Parser, Subcommand};
use error::CliError;
use output::Output;
use std::process::ExitCode;
use tasker::Client;

#[derive(Debug, Parser)]
#[command(
    name = "tasker",
    version,
    about = "Inspect and operate libtasker workflows"
)]
struct Cli {
    /// Database URL: sqlite://PATH or postgres://...
    // hide_env_values: `--help` must not print a password the environment's URL holds.
    #[arg(
        long,
        global = true,
        env = "TASKER_DATABASE_URL",
        hide_env_values = true,
        default_value = tasker::DEFAULT_DATABASE_URL
    )]
    database_url: String,
    /// Machine output: JSON documents instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Applies the database migrations (idempotent).
    Migrate,
    /// Task templates: registered ones, or a template file's validation.
    #[command(subcommand)]
    Templates(templates::TemplatesCommand),
    /// One task: show, draw, watch or cancel it.
    #[command(subcommand)]
    Task(task::TaskCommand),
    /// One step: retry it or resolve it by hand.
    #[command(subcommand)]
    Step(step::StepCommand),
    /// Database-wide task and step counts.
    Health,
    /// Tasks: list them with filters.
    #[command(subcommand)]
    Tasks(tasks::TasksCommand),
    /// Steps: list them with filters.
    #[command(subcommand)]
    Steps(steps::StepsCommand),
    /// Step counters and histograms (this process's: the CLI runs no steps, so they are
    /// empty) and the database's ready backlog and tasks by state, in the Prometheus text
    /// format (`--json`: the library's metrics document).
    Metrics,
    /// Deletes complete and cancelled tasks finished before a time, with their steps and
    /// history, in bounded batches.
    Purge(purge::Purge),
    /// Cron schedules: list, add (or replace), delete, enable, disable.
    #[command(subcommand)]
    Schedules(schedules::SchedulesCommand),
    /// Serves the web dashboard until SIGINT or SIGTERM.
    Dashboard(dashboard::DashboardArgs),
}

fn main() -> ExitCode {
    tasker::init_logging();
    let cli = Cli::parse();
    let out = Output::new(cli.json);
    match run(cli, &out) {
        Ok(()) => ExitCode::from(error::exit::OK),
        Err(e) => {
            out.error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli, out: &Output) -> Result<(), CliError> {
    let connect = || Client::connect(&cli.database_url);
    match cli.command {
        // Validation needs no database.
        Command::Templates(templates::TemplatesCommand::Validate { file, environment }) => {
            templates::validate(&file, environment.as_deref(), out)
        }
        Command::Templates(cmd) => templates::run(&connect()?, cmd, out),
        Command::Migrate => {
            let client = connect()?;
            client.migrate()?;
            out.print(&serde_json::json!({"migrated": true}), || {
                "migrations applied\n".to_string()
            })
        }
        Command::Task(cmd) => task::run(&connect()?, cmd, out),
        Command::Step(cmd) => step::run(&connect()?, cmd, out),
        Command::Health => {
            let health = connect()?.health()?;
            out.print(&health, || output::health_text(&health))
        }
        Command::Tasks(cmd) => tasks::run(&connect()?, cmd, out),
        Command::Steps(cmd) => steps::run(&connect()?, cmd, out),
        Command::Metrics => {
            let client = connect()?;
            if out.is_json() {
                out.print(&client.metrics()?, String::new)
            } else {
                let text = client.metrics_text()?;
                out.print(&(), || text)
            }
        }
        Command::Purge(cmd) => purge::run(&connect()?, cmd, out),
        Command::Schedules(cmd) => schedules::run(&connect()?, cmd, out),
        Command::Dashboard(args) => dashboard::run(connect, args, out),
    }
}

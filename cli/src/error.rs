//! `CliError`: every way a command fails, and the process exit code of each (README.md "CLI"
//! lists them; scripts rely on them, so they never change meaning).

use thiserror::Error;

/// Exit codes. 2 is clap's own, for a command line it cannot parse.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const INVALID: u8 = 3;
    pub const NOT_FOUND: u8 = 4;
    pub const REFUSED: u8 = 5;
    pub const UNREACHABLE: u8 = 6;
    pub const UNFINISHED: u8 = 7;
}

#[derive(Debug, Error)]
pub enum CliError {
    #[error(transparent)]
    Tasker(#[from] tasker::Error),
    /// An argument the command cannot use (e.g. `--results` that is not JSON).
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    NotFound(String),
    /// The operation was valid but changed nothing (the task or step was not in a state it
    /// applies to).
    #[error("{0}")]
    Refused(String),
    /// `task watch`: the task ended without completing (error or cancelled).
    #[error("task {task_id} ended in state {state}")]
    Unfinished { task_id: i64, state: String },
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot encode output: {0}")]
    Encode(#[from] serde_json::Error),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        use tasker::Error as E;
        match self {
            CliError::InvalidInput(_) => exit::INVALID,
            CliError::NotFound(_) => exit::NOT_FOUND,
            CliError::Refused(_) => exit::REFUSED,
            CliError::Unfinished { .. } => exit::UNFINISHED,
            CliError::Output(_) | CliError::Encode(_) => exit::FAILED,
            CliError::Tasker(e) => match e {
                E::InvalidTemplate(_)
                | E::TemplateCycle { .. }
                | E::InvalidRequest(_)
                | E::InvalidSchedule(_)
                | E::InvalidDocument { .. }
                | E::PayloadTooLarge { .. } => exit::INVALID,
                E::UnknownTemplate(_) | E::TaskNotFound(_) | E::StepNotFound(_) => exit::NOT_FOUND,
                E::IllegalTransition { .. } => exit::REFUSED,
                E::Connect(_) => exit::UNREACHABLE,
                _ => exit::FAILED,
            },
        }
    }

    /// A short machine-readable kind for `--json` error documents.
    pub fn kind(&self) -> &'static str {
        match self.exit_code() {
            exit::INVALID => "invalid",
            exit::NOT_FOUND => "not_found",
            exit::REFUSED => "refused",
            exit::UNREACHABLE => "unreachable",
            exit::UNFINISHED => "unfinished",
            _ => "failed",
        }
    }
}

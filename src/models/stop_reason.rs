//! Why a running handler should stop: what `Client::stop_reason` (and the C ABI's
//! `tasker_step_call_is_cancelled`) report to a handler that checks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a running attempt's outcome will not be recorded as it is. A handler that sees one
/// should stop working and return (what it returns is then discarded or recorded as a
/// `Timeout` failure). Codes are stable: they cross the C ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The step (its task) was cancelled: the outcome will be discarded.
    Cancelled = 1,
    /// The attempt is past its deadline (claim time + the step's timeout): the outcome will be
    /// recorded as a `Timeout` failure.
    TimedOut = 2,
    /// The claim is no longer this attempt's (its lease expired and the step was taken over, or
    /// it was released): the outcome will be dropped.
    ClaimLost = 3,
}

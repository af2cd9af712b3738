//! A handler whose steps are in error now, as the dashboard's overview lists it.

use serde::Serialize;

/// The steps of one handler that are in `error`: how many, the newest of them (highest step
/// id) and when a step of it last changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailingHandler {
    pub handler: String,
    pub steps: i64,
    pub newest_step_id: i64,
    pub updated_at: i64,
}

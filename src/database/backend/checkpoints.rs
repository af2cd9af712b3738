//! Step checkpoints: the last checkpoint of a step, one row per step in
//! `tasker_step_checkpoints` (a side table, so the hot step row stays narrow), overwritten in
//! place and fenced by the claim token like every other outcome of an attempt.

use super::*;
use sqlx::types::Json;

/// The checkpoint of the step aliased `step`, or NULL: a column of the run context and the view.
pub(super) fn checkpoint_column(step: &str) -> String {
    format!(
        "(SELECT k.checkpoint FROM tasker_step_checkpoints k \
         WHERE k.workflow_step_id = {step}.workflow_step_id) AS checkpoint"
    )
}

impl Backend {
    /// Stores `checkpoint` as the step's only checkpoint if `claim_token` still holds it
    /// (`StaleClaim` otherwise, nothing written).
    pub async fn record_checkpoint(
        &self,
        step_id: i64,
        claim_token: &str,
        checkpoint: &Value,
        now: i64,
    ) -> Result<()> {
        // PostgreSQL: FOR SHARE makes the claim check and the write one atomic step against a
        // concurrent reaper, completion or takeover (each updates the step row, so it waits for
        // this statement, or this statement re-checks the token on the row it committed).
        // SQLite: one writer at a time, so the statement alone is atomic. `WHERE true` keeps
        // SQLite's parser from reading ON CONFLICT as a join constraint.
        let lock = if PG { " FOR SHARE" } else { "" };
        let sql = format!(
            "WITH s AS (SELECT workflow_step_id FROM tasker_workflow_steps \
             WHERE workflow_step_id = $1 AND claim_token = $2 AND state = 'in_progress'{lock}) \
             INSERT INTO tasker_step_checkpoints (workflow_step_id, checkpoint, updated_at) \
             SELECT workflow_step_id, $3, $4 FROM s WHERE true \
             ON CONFLICT (workflow_step_id) DO UPDATE \
             SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at \
             RETURNING workflow_step_id"
        );
        let written: Option<i64> = sqlx::query_scalar(&sql)
            .bind(step_id)
            .bind(claim_token)
            .bind(Json(checkpoint))
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        written.map(|_| ()).ok_or(Error::StaleClaim(step_id))
    }
}

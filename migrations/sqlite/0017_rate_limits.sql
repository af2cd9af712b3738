-- Rate limits (docs/FLOW_CONTROL.md): at most rate_limit starts of one flow key in any window of
-- rate_per_ms. A rate-limited step carries its key in concurrency_key (one flow key per step;
-- concurrency_limit NULL when it has no concurrency limit) and its rate on the row, so the claim
-- never reads a template. tasker_rate_starts holds the recent claim times of each rate-limited
-- key (the claim keeps at least the latest rate_limit of them), read and written under the
-- key's claim lock in the claim's transaction.
ALTER TABLE tasker_workflow_steps ADD COLUMN rate_limit INTEGER;
ALTER TABLE tasker_workflow_steps ADD COLUMN rate_per_ms INTEGER;
CREATE TABLE tasker_rate_starts (
    rate_key TEXT NOT NULL,
    started_at INTEGER NOT NULL
);
CREATE INDEX tasker_rate_starts_key_idx ON tasker_rate_starts (rate_key, started_at);

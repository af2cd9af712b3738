-- Batch failure strategies: the `failure` of the fan-out a batch instance belongs to
-- ('continue_on_failure' or 'isolate'), NULL for every other step and for fail_fast, so the
-- fail path learns the strategy from the row it already reads. A continue_on_failure batch in
-- error with no retry left is a tolerated failure: final, and finished for its task.
ALTER TABLE tasker_workflow_steps ADD COLUMN batch_failure VARCHAR(32);

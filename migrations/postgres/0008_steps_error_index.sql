-- The dashboard's overview names the handlers whose steps are in error (count, newest). Without
-- an index that was a walk over every step (most of the overview's 170 ms at 100,000 tasks).
-- A partial index gains an entry only when a step enters `error`, and `state` already sits in
-- other step indexes (an update changing it was never HOT), so the claim and completion paths
-- pay nothing.
CREATE INDEX steps_error_handler_idx ON tasker_workflow_steps (handler_name, workflow_step_id)
    WHERE state = 'error';

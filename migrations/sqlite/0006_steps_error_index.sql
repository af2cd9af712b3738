-- The dashboard's overview names the handlers whose steps are in error (count, newest). Without
-- an index that was a walk over every step. A partial index gains an entry only when a step
-- enters `error`: the claim and completion paths pay nothing.
CREATE INDEX steps_error_handler_idx ON tasker_workflow_steps (handler_name, workflow_step_id)
    WHERE state = 'error';

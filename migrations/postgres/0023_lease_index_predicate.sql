-- The lease index (0001: every running step, for the lease reaper) also matched the fenced
-- statements of one step ("this step, this claim token, in progress": completion, failure,
-- heartbeat, release, checkpoint), whose WHERE implies its predicate. PostgreSQL plans a pooled
-- statement once per connection (plan_cache_mode = force_generic_plan) from the statistics of
-- that moment; taken while no step was running (a freshly analysed queue), they make the index
-- look empty, and the generic plan then read it whole — every running step — instead of probing
-- the primary key, on every completion. With `lease_expires_at IS NOT NULL` in the predicate,
-- only a statement that bounds the lease (the reaper, the lease_expired views) can use it. The
-- index holds the same rows: a claim always sets the lease.
DROP INDEX IF EXISTS steps_lease_idx;
CREATE INDEX steps_lease_idx ON tasker_workflow_steps (lease_expires_at)
    WHERE state = 'in_progress' AND lease_expires_at IS NOT NULL;

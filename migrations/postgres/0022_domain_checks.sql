-- The value rules of 0001 (a state is one of the six, a counter never goes below zero) move from
-- CHECK constraints onto domains. PostgreSQL keeps a table's CHECK constraints as text: every
-- statement that writes the table parses and plans each of them again (stringToNode at executor
-- start, whatever columns it sets), about a tenth of the server's CPU on the inline run's
-- one-step statements. A domain's rule is kept parsed in the type cache and is checked only
-- where a statement assigns a value of the domain, so the same rules cost far less.
-- The domains are created empty and the columns changed first: a change to a domain without a
-- constraint needs no table rewrite; adding the constraints then validates the rows in place.
CREATE DOMAIN tasker_state AS VARCHAR(32);
CREATE DOMAIN tasker_count AS BIGINT;
-- A column a trigger's WHEN names cannot change type: 0005's trigger goes and comes back as it was.
DROP TRIGGER task_finished_notify ON tasker_task_transitions;

ALTER TABLE tasker_tasks
    DROP CONSTRAINT tasks_state_check,
    DROP CONSTRAINT tasks_unfinished_check,
    ALTER COLUMN state TYPE tasker_state,
    ALTER COLUMN unfinished_steps TYPE tasker_count;
ALTER TABLE tasker_workflow_steps
    DROP CONSTRAINT steps_state_check,
    DROP CONSTRAINT steps_pending_parents_check,
    ALTER COLUMN state TYPE tasker_state,
    ALTER COLUMN pending_parents TYPE tasker_count;
ALTER TABLE tasker_task_transitions
    DROP CONSTRAINT task_transitions_to_state_check,
    DROP CONSTRAINT task_transitions_from_state_check,
    ALTER COLUMN from_state TYPE tasker_state,
    ALTER COLUMN to_state TYPE tasker_state;
ALTER TABLE tasker_workflow_step_transitions
    DROP CONSTRAINT step_transitions_to_state_check,
    DROP CONSTRAINT step_transitions_from_state_check,
    ALTER COLUMN from_state TYPE tasker_state,
    ALTER COLUMN to_state TYPE tasker_state;

CREATE TRIGGER task_finished_notify AFTER INSERT ON tasker_task_transitions
    FOR EACH ROW WHEN (NEW.to_state IN ('complete', 'error', 'cancelled', 'resolved_manually'))
    EXECUTE FUNCTION tasker_notify_task_finished();

-- A NULL passes a domain's CHECK (as it passed 0001's from_state checks); NOT NULL stays on
-- the columns.
ALTER DOMAIN tasker_state ADD CONSTRAINT tasker_state_check
    CHECK (VALUE IN ('pending','in_progress','complete','error','cancelled','resolved_manually'));
ALTER DOMAIN tasker_count ADD CONSTRAINT tasker_count_check CHECK (VALUE >= 0);

-- The complete-and-claim functions installed by earlier builds (one per build, named after their
-- text: ARCHITECTURE) declare the claim's state columns as VARCHAR, and RETURN QUERY refuses a
-- domain where its declaration says VARCHAR. A process of such a build still running during a
-- rolling upgrade keeps calling its function: each is created again with the domain in those two
-- columns, its body and settings unchanged (clients see a domain column as its base type).
DO $$
DECLARE
    f oid;
    def text;
BEGIN
    FOR f IN SELECT p.oid FROM pg_proc p
             WHERE p.proname LIKE 'tasker\_complete\_claim\_%'
               AND p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
    LOOP
        def := pg_get_functiondef(f);
        def := replace(def, 'old_state character varying', 'old_state tasker_state');
        def := replace(def, 'task_state character varying', 'task_state tasker_state');
        EXECUTE format('DROP FUNCTION %s', f::regprocedure);
        EXECUTE def;
    END LOOP;
END
$$;

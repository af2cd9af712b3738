-- The task and step tables lose their foreign keys to the templates and to each other, as the
-- transition tables did in 0007. Creating a one-step task ran three referential-integrity
-- triggers (the task's template, the step's task and template: each a SELECT ... FOR KEY
-- SHARE, which also writes a lock on the shared template rows), an n-step task 2n + 1 plus two
-- per edge; purging ran one per deleted task and step. Measured (docs/PERFORMANCE.md): idle-
-- worker 1-step P50 0.96x, 4-step inline P50 0.94x. The engine inserts steps and edges only
-- in the statement or transaction that inserts their task, or (steps created at run time) in
-- one holding their task's row lock; template rows are never deleted; purge deletes edges,
-- steps and transitions before their task. So no reference can dangle through the engine;
-- someone writing to the tables by hand loses the guard. SQLite keeps its keys (0007 says why).
ALTER TABLE tasker_tasks DROP CONSTRAINT IF EXISTS tasker_tasks_named_task_id_fkey;
ALTER TABLE tasker_workflow_steps DROP CONSTRAINT IF EXISTS tasker_workflow_steps_task_id_fkey;
ALTER TABLE tasker_workflow_steps DROP CONSTRAINT IF EXISTS tasker_workflow_steps_named_step_id_fkey;
ALTER TABLE tasker_workflow_step_edges DROP CONSTRAINT IF EXISTS tasker_workflow_step_edges_from_step_id_fkey;
ALTER TABLE tasker_workflow_step_edges DROP CONSTRAINT IF EXISTS tasker_workflow_step_edges_to_step_id_fkey;

-- No statement reads tasks by state through tasks_active_idx (health counts scan the table;
-- every other read is by task id or identity hash), but the index made every task update
-- non-HOT: `state` is indexed, so each start, counter decrement and completion also wrote
-- three index entries (primary key, identity hash, this index). Without it a task update that
-- finds room on its page is a HOT update (no index writes); fillfactor 80 leaves that room
-- on pages written from now on.
DROP INDEX IF EXISTS tasks_active_idx;
ALTER TABLE tasker_tasks SET (fillfactor = 80);

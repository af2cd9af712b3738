-- No statement reads tasks by state through tasks_active_idx (health counts scan the table;
-- every other read is by task id or identity hash); it only cost an index write on every task
-- state change. (PostgreSQL also gets a fillfactor for HOT updates; SQLite has neither.)
DROP INDEX IF EXISTS tasks_active_idx;

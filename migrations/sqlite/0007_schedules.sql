-- Cron schedules (docs/SCHEDULING.md). A schedule creates a task from its template and context
-- at every tick of its cron expression, evaluated in its time zone.
CREATE TABLE tasker_schedules (
    schedule_id   INTEGER PRIMARY KEY,
    name          VARCHAR(128) NOT NULL UNIQUE,
    namespace     VARCHAR(128) NOT NULL,
    template      VARCHAR(128) NOT NULL,
    version       VARCHAR(64),
    context       TEXT         NOT NULL,
    cron          VARCHAR(256) NOT NULL,
    time_zone     VARCHAR(64)  NOT NULL,
    enabled       BOOLEAN      NOT NULL,
    missed        VARCHAR(16)  NOT NULL CHECK (missed IN ('skip', 'catch_up')),
    max_catch_up  INTEGER      NOT NULL CHECK (max_catch_up >= 1),
    -- The first tick not fired yet; the workers' check reads only this (index below).
    next_tick_at  BIGINT       NOT NULL,
    last_tick_at  BIGINT,
    created_at    BIGINT       NOT NULL,
    updated_at    BIGINT       NOT NULL
);
CREATE INDEX schedules_due_idx ON tasker_schedules (next_tick_at) WHERE enabled = 1;

-- One row per fired tick: the primary key is what makes a tick fire once however many
-- processes look at the schedule. `claimed` until its task exists (then `fired`, with the
-- task) or its creation failed (`failed`, with the error). Purging a task deletes its tick.
CREATE TABLE tasker_schedule_ticks (
    schedule_id  BIGINT      NOT NULL REFERENCES tasker_schedules (schedule_id) ON DELETE CASCADE,
    tick_at      BIGINT      NOT NULL,
    state        VARCHAR(16) NOT NULL CHECK (state IN ('claimed', 'fired', 'failed')),
    task_id      BIGINT      REFERENCES tasker_tasks (task_id),
    error        TEXT,
    claimed_at   BIGINT      NOT NULL,
    PRIMARY KEY (schedule_id, tick_at)
);
CREATE INDEX schedule_ticks_task_idx ON tasker_schedule_ticks (task_id) WHERE task_id IS NOT NULL;
CREATE INDEX schedule_ticks_claimed_idx ON tasker_schedule_ticks (claimed_at) WHERE state = 'claimed';

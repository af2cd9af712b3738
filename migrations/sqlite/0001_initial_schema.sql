-- libtasker schema (SQLite). Timestamps are epoch milliseconds (BIGINT) so that both backends
-- share one representation and the engine's clock (injectable in tests) is the only time source.

CREATE TABLE tasker_task_namespaces (
    task_namespace_id INTEGER PRIMARY KEY,
    name              VARCHAR(64)  NOT NULL,
    description       VARCHAR(255),
    created_at        BIGINT       NOT NULL,
    updated_at        BIGINT       NOT NULL,
    CONSTRAINT task_namespaces_name_unique UNIQUE (name)
);

CREATE TABLE tasker_dependent_systems (
    dependent_system_id INTEGER PRIMARY KEY,
    name                VARCHAR(64)  NOT NULL,
    description         VARCHAR(255),
    created_at          BIGINT       NOT NULL,
    updated_at          BIGINT       NOT NULL,
    CONSTRAINT dependent_systems_name_unique UNIQUE (name)
);

CREATE TABLE tasker_named_tasks (
    named_task_id     INTEGER PRIMARY KEY,
    task_namespace_id BIGINT       NOT NULL REFERENCES tasker_task_namespaces (task_namespace_id),
    name              VARCHAR(64)  NOT NULL,
    version           VARCHAR(64)  NOT NULL,
    description       VARCHAR(255),
    configuration     TEXT         NOT NULL,
    created_at        BIGINT       NOT NULL,
    updated_at        BIGINT       NOT NULL,
    CONSTRAINT named_tasks_namespace_name_version_unique UNIQUE (task_namespace_id, name, version)
);

CREATE TABLE tasker_named_steps (
    named_step_id       INTEGER PRIMARY KEY,
    dependent_system_id BIGINT       NOT NULL REFERENCES tasker_dependent_systems (dependent_system_id),
    name                VARCHAR(128) NOT NULL,
    description         VARCHAR(255),
    created_at          BIGINT       NOT NULL,
    updated_at          BIGINT       NOT NULL,
    CONSTRAINT named_step_by_system_uniq UNIQUE (dependent_system_id, name)
);

CREATE TABLE tasker_tasks (
    task_id          INTEGER PRIMARY KEY,
    named_task_id    BIGINT       NOT NULL REFERENCES tasker_named_tasks (named_task_id),
    state            VARCHAR(32)  NOT NULL DEFAULT 'pending',
    complete         BOOLEAN      NOT NULL DEFAULT 0,
    requested_at     BIGINT       NOT NULL,
    completed_at     BIGINT,
    initiator        VARCHAR(128) NOT NULL,
    source_system    VARCHAR(128) NOT NULL,
    reason           VARCHAR(128) NOT NULL,
    bypass_steps     TEXT         NOT NULL,
    tags             TEXT         NOT NULL,
    context          TEXT         NOT NULL,
    identity_hash    VARCHAR(128) NOT NULL,
    total_steps      BIGINT       NOT NULL,
    -- steps not yet complete or resolved_manually; the task completes when this reaches 0
    unfinished_steps BIGINT       NOT NULL,
    created_at       BIGINT       NOT NULL,
    updated_at       BIGINT       NOT NULL,
    CONSTRAINT tasks_state_check CHECK (state IN ('pending','in_progress','complete','error','cancelled','resolved_manually')),
    CONSTRAINT tasks_unfinished_check CHECK (unfinished_steps >= 0),
    CONSTRAINT index_tasks_on_identity_hash UNIQUE (identity_hash)
);
CREATE INDEX tasks_active_idx ON tasker_tasks (state) WHERE complete = 0;

CREATE TABLE tasker_workflow_steps (
    workflow_step_id  INTEGER PRIMARY KEY,
    task_id           BIGINT       NOT NULL REFERENCES tasker_tasks (task_id),
    named_step_id     BIGINT       NOT NULL REFERENCES tasker_named_steps (named_step_id),
    name              VARCHAR(128) NOT NULL,
    handler_name      VARCHAR(255) NOT NULL,
    handler_config    TEXT         NOT NULL,
    state             VARCHAR(32)  NOT NULL DEFAULT 'pending',
    retryable         BOOLEAN      NOT NULL DEFAULT 1,
    retry_limit       BIGINT       NOT NULL DEFAULT 3,
    skippable         BOOLEAN      NOT NULL DEFAULT 0,
    attempts          BIGINT       NOT NULL DEFAULT 0,
    last_attempted_at BIGINT,
    processed_at      BIGINT,
    -- delay (ms) chosen for the pending retry, for inspection
    backoff_request_ms BIGINT,
    -- claimable once ready_at <= now and pending_parents = 0; NULL when not claimable
    ready_at          BIGINT,
    -- parents not yet complete or resolved_manually (incremental readiness)
    pending_parents   BIGINT       NOT NULL,
    claim_token       VARCHAR(64),
    lease_expires_at  BIGINT,
    lease_ms          BIGINT       NOT NULL,
    backoff_base_ms   BIGINT,
    backoff_factor    REAL,
    backoff_max_ms    BIGINT,
    backoff_jitter    REAL,
    inputs            TEXT         NOT NULL,
    results           TEXT ,
    created_at        BIGINT       NOT NULL,
    updated_at        BIGINT       NOT NULL,
    CONSTRAINT steps_state_check CHECK (state IN ('pending','in_progress','complete','error','cancelled','resolved_manually')),
    CONSTRAINT steps_pending_parents_check CHECK (pending_parents >= 0),
    CONSTRAINT steps_task_name_unique UNIQUE (task_id, name)
);
CREATE INDEX steps_ready_idx ON tasker_workflow_steps (ready_at) WHERE ready_at IS NOT NULL AND pending_parents = 0;
CREATE INDEX steps_lease_idx ON tasker_workflow_steps (lease_expires_at) WHERE state = 'in_progress';

CREATE TABLE tasker_workflow_step_edges (
    id           INTEGER PRIMARY KEY,
    from_step_id BIGINT      NOT NULL REFERENCES tasker_workflow_steps (workflow_step_id),
    to_step_id   BIGINT      NOT NULL REFERENCES tasker_workflow_steps (workflow_step_id),
    name         VARCHAR(64) NOT NULL DEFAULT 'provides',
    created_at   BIGINT      NOT NULL,
    updated_at   BIGINT      NOT NULL,
    CONSTRAINT step_edges_unique UNIQUE (from_step_id, to_step_id)
);
CREATE INDEX step_edges_to_idx ON tasker_workflow_step_edges (to_step_id);

CREATE TABLE tasker_task_transitions (
    id          INTEGER PRIMARY KEY,
    task_id     BIGINT      NOT NULL REFERENCES tasker_tasks (task_id),
    from_state  VARCHAR(32),
    to_state    VARCHAR(32) NOT NULL,
    metadata    TEXT        NOT NULL,
    sort_key    BIGINT      NOT NULL,
    most_recent BOOLEAN     NOT NULL DEFAULT 1,
    created_at  BIGINT      NOT NULL,
    updated_at  BIGINT      NOT NULL,
    CONSTRAINT task_transitions_to_state_check CHECK (to_state IN ('pending','in_progress','complete','error','cancelled','resolved_manually')),
    CONSTRAINT task_transitions_from_state_check CHECK (from_state IS NULL OR from_state IN ('pending','in_progress','complete','error','cancelled','resolved_manually')),
    CONSTRAINT task_transitions_sort_key_unique UNIQUE (task_id, sort_key)
);
CREATE UNIQUE INDEX task_transitions_most_recent ON tasker_task_transitions (task_id) WHERE most_recent = 1;

CREATE TABLE tasker_workflow_step_transitions (
    id               INTEGER PRIMARY KEY,
    workflow_step_id BIGINT      NOT NULL REFERENCES tasker_workflow_steps (workflow_step_id),
    from_state       VARCHAR(32),
    to_state         VARCHAR(32) NOT NULL,
    metadata         TEXT        NOT NULL,
    sort_key         BIGINT      NOT NULL,
    most_recent      BOOLEAN     NOT NULL DEFAULT 1,
    created_at       BIGINT      NOT NULL,
    updated_at       BIGINT      NOT NULL,
    CONSTRAINT step_transitions_to_state_check CHECK (to_state IN ('pending','in_progress','complete','error','cancelled','resolved_manually')),
    CONSTRAINT step_transitions_from_state_check CHECK (from_state IS NULL OR from_state IN ('pending','in_progress','complete','error','cancelled','resolved_manually')),
    CONSTRAINT step_transitions_sort_key_unique UNIQUE (workflow_step_id, sort_key)
);
CREATE UNIQUE INDEX step_transitions_most_recent ON tasker_workflow_step_transitions (workflow_step_id) WHERE most_recent = 1;

CREATE TABLE tasker_annotation_types (
    annotation_type_id INTEGER PRIMARY KEY,
    name               VARCHAR(64)  NOT NULL,
    description        VARCHAR(255),
    created_at         BIGINT       NOT NULL,
    updated_at         BIGINT       NOT NULL,
    CONSTRAINT annotation_types_name_unique UNIQUE (name)
);

CREATE TABLE tasker_task_annotations (
    task_annotation_id INTEGER PRIMARY KEY,
    task_id            BIGINT NOT NULL REFERENCES tasker_tasks (task_id),
    annotation_type_id BIGINT NOT NULL REFERENCES tasker_annotation_types (annotation_type_id),
    annotation         TEXT   NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX task_annotations_task_idx ON tasker_task_annotations (task_id);

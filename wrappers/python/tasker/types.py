"""Shapes of the documents libtasker returns (plain dicts at runtime; see docs/ABI.md)."""
from __future__ import annotations

from typing import Any, NamedTuple, Optional, Protocol, TypedDict, runtime_checkable

__all__ = [
    "CreatedTask", "ExecutionContext", "StepView", "Transition", "TaskView", "Health",
    "StepOutcome", "HandlerOutcome", "HandlerFailure", "Event", "QueueInjector",
    "TaskWait", "TaskSummary", "StepSummary", "TaskPage", "StepPage",
]


class CreatedTask(NamedTuple):
    """Result of create_task: the task id and whether it was new (False: an identical task existed)."""

    task_id: int
    created: bool


class Transition(TypedDict, total=False):
    from_state: Optional[str]
    to_state: str
    metadata: dict[str, Any]
    sort_key: int
    most_recent: bool
    created_at: int


class ExecutionContext(TypedDict, total=False):
    task_id: int
    task_state: str
    total_steps: int
    pending_steps: int
    in_progress_steps: int
    completed_steps: int
    failed_steps: int
    cancelled_steps: int
    ready_steps: int
    permanently_blocked_steps: int
    execution_status: str
    recommended_action: str
    completion_percentage: float
    health: str
    next_retry_at: Optional[int]
    last_retry_at: Optional[int]


class StepView(TypedDict, total=False):
    step_id: int
    name: str
    handler: str
    state: str
    attempts: int
    retry_limit: int
    retryable: bool
    skippable: bool
    inputs: dict[str, Any]
    results: Any
    last_attempted_at: Optional[int]
    processed_at: Optional[int]
    next_attempt_at: Optional[int]
    backoff_request_ms: Optional[int]
    priority: int
    timeout_ms: Optional[int]
    concurrency_key: Optional[str]
    concurrency_limit: Optional[int]
    checkpoint: Any
    parents: list[str]
    transitions: list[Transition]


class TaskView(TypedDict, total=False):
    task_id: int
    namespace: str
    name: str
    version: str
    state: str
    complete: bool
    context: dict[str, Any]
    initiator: Optional[str]
    source_system: Optional[str]
    reason: Optional[str]
    tags: list[str]
    bypass_steps: list[str]
    identity_hash: str
    requested_at: int
    completed_at: Optional[int]
    deadline_at: Optional[int]
    steps: list[StepView]
    transitions: list[Transition]
    execution: ExecutionContext


class TaskWait(TypedDict):
    """Result of Client.wait_task: the task's view, and whether the timeout ended the wait (the
    task then neither finished nor blocked; the view is as it was at that moment)."""

    timed_out: bool
    task: TaskView


class TaskSummary(TypedDict, total=False):
    """One task of a Client.list_tasks page (times in epoch ms)."""

    task_id: int
    namespace: str
    name: str
    version: str
    state: str
    initiator: str
    source_system: str
    tags: list[str]
    created_at: int
    updated_at: int
    execution: ExecutionContext


class StepSummary(TypedDict, total=False):
    """One step of a Client.list_steps page (times in epoch ms)."""

    step_id: int
    task_id: int
    name: str
    handler: str
    state: str
    attempts: int
    retry_limit: int
    next_attempt_at: Optional[int]
    lease_expires_at: Optional[int]
    last_attempted_at: Optional[int]
    created_at: int
    updated_at: int


class TaskPage(TypedDict):
    """A page of Client.list_tasks: newest first; pass `next_cursor` back as `cursor` for the
    next page (None: this is the last one)."""

    items: list[TaskSummary]
    next_cursor: Optional[str]


class StepPage(TypedDict):
    """A page of Client.list_steps, paged as TaskPage."""

    items: list[StepSummary]
    next_cursor: Optional[str]


class PurgeReport(TypedDict):
    """What Client.purge_tasks deleted (or, with dry_run, would delete); `batches` is the
    transactions (dry run: reads) it took."""

    dry_run: bool
    tasks: int
    steps: int
    batches: int


class Health(TypedDict, total=False):
    total_tasks: int
    pending_tasks: int
    in_progress_tasks: int
    complete_tasks: int
    error_tasks: int
    cancelled_tasks: int
    resolved_manually_tasks: int
    total_steps: int
    pending_steps: int
    in_progress_steps: int
    complete_steps: int
    error_steps: int
    cancelled_steps: int
    resolved_manually_steps: int
    retryable_error_steps: int
    exhausted_retry_steps: int
    in_backoff_steps: int
    expired_lease_steps: int
    # This client's workers: failed loop iterations, in all and in a row, and the last error.
    worker_failures: int
    worker_failures_in_a_row: int
    last_worker_error: Optional[str]


class StepOutcome(TypedDict, total=False):
    outcome: str  # completed | failed | skipped | discarded | stale
    step_id: int
    task_id: int
    task_completed: bool
    will_retry: bool
    retry_delay_ms: Optional[int]
    task_blocked: bool
    reason: str


# The error of a failed Client.call_handler ("class" is a Python keyword, hence the functional
# form): the exception's class name or StepError.error_class, or "HandlerNotFound", "NoOutput", ...
HandlerFailure = TypedDict("HandlerFailure", {
    "message": str, "class": str, "retryable": bool, "retry_after": Optional[float], "details": Any,
}, total=False)


class HandlerOutcome(TypedDict, total=False):
    """Result of Client.call_handler."""

    status: str  # completed | failed
    results: Any  # when completed
    error: HandlerFailure  # when failed


class Event(TypedDict, total=False):
    name: str
    task_id: int
    step_id: Optional[int]
    step_name: Optional[str]
    from_state: Optional[str]
    to_state: Optional[str]
    timestamp: int
    payload: dict[str, Any]


@runtime_checkable
class QueueInjector(Protocol):
    """Host-queue hooks: libtasker calls these (after commit, on the thread that called into it)
    when a step becomes ready or a retry is due, and when a task must be looked at again. The
    host's job later calls `client.handle_step(step_id)` / `client.handle_task(task_id)` once
    `delay` seconds (a float) have passed."""

    def enqueue_task(self, task_id: int, delay: float) -> None: ...

    def enqueue_step(self, step_id: int, delay: float) -> None: ...

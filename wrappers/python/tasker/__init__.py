"""Python binding of libtasker, the workflow orchestration core (ctypes over the C ABI).

    from tasker import Client, RetryableError

    with Client("sqlite://orders.db") as client:
        client.load_template("order_fulfillment.yaml")
        client.register_handler("validate_order", lambda ctx: {"valid": True})
        task = client.create_task("order_fulfillment", {"order_id": "A1"}, namespace="ecommerce")
        client.run_task(task.task_id)
"""
from __future__ import annotations

from ._lib import lib as _lib
from ._lib import library_path, result_name
from .batch import BATCHES_KEY, batch_results, batches, no_batches
from .client import Client, Subscription, Worker
from .decision import ACTIVATE_KEY, activate
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from .handler import StepContext, StepHandler
from .types import (CreatedTask, Event, ExecutionContext, HandlerFailure, HandlerOutcome, Health,
                    PurgeReport, QueueInjector, StepOutcome, StepPage, StepSummary, StepView, TaskPage, TaskSummary,
                    TaskView, TaskWait, Transition)

__version__ = "0.1.0"


def version() -> str:
    """The libtasker version (e.g. "0.1.0")."""
    return str(_lib.tasker_version().decode())


def init_logging() -> None:
    """Logs libtasker to stderr, filtered by TASKER_LOG (default "warn")."""
    _lib.tasker_init_logging()


__all__ = [
    "Client", "Worker", "Subscription", "StepHandler", "StepContext",
    "CreatedTask", "Event", "ExecutionContext", "Health", "PurgeReport", "QueueInjector", "StepOutcome",
    "HandlerOutcome", "HandlerFailure", "StepView", "TaskView", "Transition",
    "TaskWait", "TaskSummary", "StepSummary", "TaskPage", "StepPage",
    "version", "init_logging", "library_path", "result_name", "activate", "ACTIVATE_KEY",
    "batches", "no_batches", "batch_results", "BATCHES_KEY",
    *_errors_all,
]

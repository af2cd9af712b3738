"""Step checkpoints: a retry resumes from the last checkpoint; the limits; only while running."""
from __future__ import annotations

from typing import Any

import pytest

import tasker
from tasker import Client, RetryableError, StepContext

from conftest import linear, step


def test_a_retry_resumes_from_the_last_checkpoint(client: Client) -> None:
    client.load_template(linear("ckpt", "s"))
    seen: list[tuple[int, Any, list[int]]] = []

    def batch(ctx: StepContext) -> Any:
        cp = ctx.last_checkpoint or {"cursor": 0, "sum": 0}
        done: list[int] = []
        total = cp["sum"]
        for i in range(cp["cursor"], len(ctx.context["items"])):
            if ctx.attempt == 1 and i == 2:
                seen.append((ctx.attempt, ctx.last_checkpoint, done))
                raise RetryableError("failed midway")
            total += ctx.context["items"][i]
            done.append(i)
            ctx.checkpoint({"cursor": i + 1, "sum": total})
        seen.append((ctx.attempt, ctx.last_checkpoint, done))
        return {"sum": total}

    client.register_handler("s", batch)
    task = client.create_task("ckpt", {"items": [1, 2, 3, 4]}, namespace="pytest")
    client.run_task(task.task_id)
    assert seen == [(1, None, [0, 1]), (2, {"cursor": 2, "sum": 3}, [2, 3])]
    s = step(client.task_view(task.task_id), "s")
    assert s["results"] == {"sum": 10}
    assert s["checkpoint"] == {"cursor": 4, "sum": 10}


def test_refused_checkpoints_and_outside_the_handler(client: Client) -> None:
    client.load_template(linear("ckpt_limits", "s"))
    kept: list[StepContext] = []
    refused: list[type] = []

    def limits(ctx: StepContext) -> Any:
        kept.append(ctx)
        ctx.checkpoint({"cursor": 1})
        for bad in ("x" * (64 * 1024), {"k": "nul\0"}):
            try:
                ctx.checkpoint(bad)
            except tasker.TaskerError as e:
                refused.append(type(e))
        return {}

    client.register_handler("s", limits)
    task = client.create_task("ckpt_limits", {}, namespace="pytest")
    client.run_task(task.task_id)
    assert refused == [tasker.PayloadTooLargeError, tasker.InvalidArgumentError]
    assert step(client.task_view(task.task_id), "s")["checkpoint"] == {"cursor": 1}
    with pytest.raises(tasker.InvalidStateError):
        kept[0].checkpoint({"cursor": 2})

"""Timeouts and cancellation a handler can see: stop_reason/is_cancelled, heartbeat raising
CancelledError, a late outcome recorded as a Timeout failure, step_timeouts overriding."""
from __future__ import annotations

import threading
import time
from typing import Any

import tasker
from tasker import Client, StepContext

from conftest import linear, step


def test_a_running_handler_sees_its_task_cancelled(client: Client) -> None:
    client.load_template(linear("cancel_seen", "s"))
    seen: list[Any] = []

    def until_cancelled(ctx: StepContext) -> Any:
        seen.append((ctx.is_cancelled(), ctx.stop_reason()))
        # Cancelled from another thread, as an operator would.
        t = threading.Thread(target=client.cancel_task, args=(ctx.task_id,))
        t.start()
        t.join()
        seen.append((ctx.is_cancelled(), ctx.stop_reason()))
        try:
            ctx.heartbeat()
        except tasker.CancelledError as e:
            seen.append(("heartbeat", type(e).__name__, isinstance(e, tasker.StaleClaimError)))
        return {"stopped": True}

    client.register_handler("s", until_cancelled)
    task = client.create_task("cancel_seen", {}, namespace="pytest")
    client.run_task(task.task_id)
    assert seen == [(False, None), (True, "cancelled"), ("heartbeat", "CancelledError", True)]
    view = client.task_view(task.task_id)
    assert view["state"] == "cancelled"
    assert step(view, "s")["results"] is None


def test_an_outcome_past_the_timeout_is_a_retryable_timeout(client: Client) -> None:
    client.load_template(linear("timeout_seen", "s", s={"timeout_ms": 50, "default_retry_limit": 2}))
    seen: list[Any] = []

    def slow_once(ctx: StepContext) -> Any:
        if ctx.attempt == 1:
            time.sleep(0.2)  # past the 50 ms timeout: the check below must say so
            seen.append(ctx.stop_reason())
            return {"late": True}
        seen.append(ctx.stop_reason())
        return {"on_time": True}

    client.register_handler("s", slow_once)
    task = client.create_task("timeout_seen", {}, namespace="pytest")
    client.run_task(task.task_id)
    s = step(client.task_view(task.task_id), "s")
    assert seen == ["timed_out", None]
    assert s["results"] == {"on_time": True}
    classes = [t["metadata"].get("error_class") for t in s["transitions"] if t["to_state"] == "error"]
    assert classes == ["Timeout"]


def test_step_timeouts_override_the_template(client: Client) -> None:
    client.load_template(linear("timeout_override", "s", s={"timeout_ms": 50}))
    client.register_handler("s", lambda ctx: time.sleep(0.1) or {"done": True})
    task = client.create_task("timeout_override", {}, namespace="pytest", step_timeouts={"s": 60_000})
    client.run_task(task.task_id)
    assert step(client.task_view(task.task_id), "s")["results"] == {"done": True}
    try:
        client.create_task("timeout_override", {}, namespace="pytest", step_timeouts={"nope": 10})
    except tasker.InvalidRequestError as e:
        assert "unknown step 'nope'" in str(e)
    else:
        raise AssertionError("an unknown step's timeout was accepted")


def test_a_task_past_its_deadline_fails_and_later_steps_never_run(client: Client) -> None:
    client.load_template({**linear("deadline", "a", "b"), "deadline_ms": 60_000})
    ran: list[str] = []

    def slow(ctx: StepContext) -> Any:
        ran.append(ctx.step_name)
        time.sleep(0.1)  # past the request's 50 ms deadline
        return {"done": True}

    client.register_handler("a", slow)
    client.register_handler("b", lambda ctx: ran.append(ctx.step_name) or {"done": True})
    task = client.create_task("deadline", {}, namespace="pytest", deadline_ms=50)
    client.run_task(task.task_id)
    view = client.task_view(task.task_id)
    assert view["state"] == "error"
    assert view["transitions"][-1]["metadata"]["error_class"] == "Deadline"
    assert step(view, "b")["state"] == "cancelled"
    assert ran == ["a"]
    try:
        client.create_task("deadline", {"n": 1}, namespace="pytest", deadline_ms=0)
    except tasker.InvalidRequestError as e:
        assert "deadline_ms" in str(e)
    else:
        raise AssertionError("a zero deadline was accepted")

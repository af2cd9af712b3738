"""Event subscription: patterns, order, closing, failing subscribers."""
from __future__ import annotations

from typing import Any

import pytest

import tasker
from tasker import Client

from conftest import linear


def test_events_in_order_with_patterns(client: Client) -> None:
    client.load_template(linear("ev", "a", "b"))
    client.register_handler("a", lambda ctx: {"v": 1})
    client.register_handler("b", lambda ctx: {"v": 2})
    got: list[str] = []
    everything: list[dict[str, Any]] = []
    sub = client.subscribe(["task.*", "step.completed"],
                           lambda e: got.append(e["name"] + (":" + e["step_name"] if e.get("step_name") else "")))
    client.subscribe(None, everything.append)
    task = client.create_task("ev", {}, namespace="pytest")
    client.run_task(task.task_id)
    assert got == ["task.initialize_requested", "task.start_requested", "step.completed:a", "step.completed:b", "task.completed"]
    assert all(e["task_id"] == task.task_id for e in everything)
    completed = [e for e in everything if e["name"] == "step.completed"]
    assert completed[0]["from_state"] == "in_progress" and completed[0]["to_state"] == "complete"
    assert isinstance(completed[0]["timestamp"], int)
    assert {"step.execution_requested", "step.before_handle"} <= {e["name"] for e in everything}
    assert not sub.errors


def test_failed_event_carries_error_details(client: Client) -> None:
    client.load_template(linear("evf", "s", s={"default_retry_limit": 1}))

    def bad(ctx: Any) -> Any:
        raise RuntimeError("nope")

    client.register_handler("s", bad)
    failed: list[dict[str, Any]] = []
    client.subscribe("step.failed", failed.append)
    task = client.create_task("evf", {}, namespace="pytest")
    client.run_task(task.task_id)
    assert len(failed) == 1
    payload = failed[0]["payload"]
    assert payload["error_class"] == "RuntimeError" and payload["error_message"] == "nope"
    assert payload["retry_available"] is False


def test_closed_subscription_receives_nothing(client: Client) -> None:
    client.load_template(linear("evc", "a"))
    client.register_handler("a", lambda ctx: {})
    got: list[str] = []
    with client.subscribe("step.*", lambda e: got.append(e["name"])) as sub:
        pass
    assert sub.closed
    sub.close()  # idempotent
    client.run_task(client.create_task("evc", {}, namespace="pytest").task_id)
    assert got == []


def test_failing_subscriber_changes_nothing(client: Client) -> None:
    client.load_template(linear("evx", "a"))
    client.register_handler("a", lambda ctx: {"ok": True})

    def broken(event: Any) -> None:
        raise ValueError(f"cannot handle {event['name']}")

    sub = client.subscribe("step.completed", broken)
    task = client.create_task("evx", {}, namespace="pytest")
    assert client.run_task(task.task_id)["task_state"] == "complete"
    assert len(sub.errors) == 1 and str(sub.errors[0]) == "cannot handle step.completed"


def test_closing_a_subscription_from_its_own_callback_is_refused(client: Client) -> None:
    client.load_template(linear("evs", "a"))
    client.register_handler("a", lambda ctx: {})
    refused: list[BaseException] = []
    holder: dict[str, tasker.Subscription] = {}

    def cb(event: Any) -> None:
        try:
            holder["sub"].close()
        except tasker.InvalidStateError as exc:
            refused.append(exc)

    holder["sub"] = client.subscribe("step.completed", cb)
    client.run_task(client.create_task("evs", {}, namespace="pytest").task_id)
    assert len(refused) == 1
    holder["sub"].close()
    assert holder["sub"].closed


def test_client_close_closes_subscriptions(db_url: str) -> None:
    client = Client(db_url)
    sub = client.subscribe("task.*", lambda e: None)
    client.close()
    assert sub.closed


def test_invalid_pattern_type(client: Client) -> None:
    with pytest.raises(TypeError):
        client.subscribe("task.*", "not callable")  # type: ignore[arg-type]

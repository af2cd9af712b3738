"""Task views, execution context, health; cancel, resolve, retry; dedup."""
from __future__ import annotations

from typing import Any

from tasker import Client, PermanentError, StepContext

from conftest import linear, step


def test_task_view_and_execution_context(client: Client) -> None:
    client.load_template(linear("view", "a", "b"))
    client.register_handler("a", lambda ctx: {"v": 1})
    client.register_handler("b", lambda ctx: {"v": 2})
    task = client.create_task("view", {"k": [1, 2]}, namespace="pytest", initiator="me", source_system="tests",
                              reason="why", tags=["x"])
    before = client.execution_context(task.task_id)
    assert before["task_state"] == "pending" and before["total_steps"] == 2 and before["ready_steps"] == 1
    assert before["execution_status"] == "has_ready_steps"
    final = client.run_task(task.task_id)
    assert final["task_state"] == "complete" and final["completion_percentage"] == 100.0
    view = client.task_view(task.task_id)
    assert view["task_id"] == task.task_id and view["namespace"] == "pytest" and view["name"] == "view"
    assert view["version"] == "1.0.0" and view["state"] == "complete" and view["complete"] is True
    assert view["context"] == {"k": [1, 2]} and view["initiator"] == "me" and view["source_system"] == "tests"
    assert view["reason"] == "why" and view["tags"] == ["x"] and view["identity_hash"]
    assert view["execution"]["execution_status"] == "all_complete"
    b = step(view, "b")
    assert b["parents"] == ["a"] and b["attempts"] == 1 and b["results"] == {"v": 2}
    assert [t["to_state"] for t in b["transitions"]] == ["pending", "in_progress", "complete"]
    assert b["processed_at"] >= b["last_attempted_at"]
    assert [t["to_state"] for t in view["transitions"]][-1] == "complete"


def test_health_counts(client: Client) -> None:
    client.load_template(linear("health", "a"))
    client.register_handler("a", lambda ctx: (_ for _ in ()).throw(PermanentError("no")))
    client.create_task("health", {"i": 1}, namespace="pytest")
    t2 = client.create_task("health", {"i": 2}, namespace="pytest")
    client.run_task(t2.task_id)
    health = client.health()
    assert health["total_tasks"] == 2 and health["pending_tasks"] == 1 and health["error_tasks"] == 1
    assert health["error_steps"] == 1 and health["exhausted_retry_steps"] == 1 and health["pending_steps"] == 1


def test_dedup_returns_the_existing_task(client: Client) -> None:
    client.load_template(linear("dedup", "a"))
    first = client.create_task("dedup", {"a": 1, "b": {"c": 2, "d": 3}}, namespace="pytest")
    again = client.create_task({"name": "dedup", "namespace": "pytest", "context": {"b": {"d": 3, "c": 2}, "a": 1}})
    other = client.create_task("dedup", {"a": 2}, namespace="pytest")
    assert first.created and not again.created and again.task_id == first.task_id
    assert other.created and other.task_id != first.task_id


def test_cancel(client: Client) -> None:
    client.load_template(linear("cancel", "a", "b"))
    ran: list[str] = []
    for name in "ab":
        client.register_handler(name, lambda ctx: ran.append(ctx.step_name))
    task = client.create_task("cancel", {}, namespace="pytest")
    assert client.cancel_task(task.task_id) is True
    assert client.cancel_task(task.task_id) is False
    assert client.run_task(task.task_id)["task_state"] == "cancelled"
    view = client.task_view(task.task_id)
    assert ran == [] and {s["state"] for s in view["steps"]} == {"cancelled"}


def test_resolve_step_lets_dependents_proceed(client: Client) -> None:
    client.load_template(linear("resolve", "bad", "after"))
    client.register_handler("bad", lambda ctx: (_ for _ in ()).throw(PermanentError("broken")))
    client.register_handler("after", lambda ctx: {"got": ctx.dependency_results["bad"]["value"] * 3})
    task = client.create_task("resolve", {}, namespace="pytest")
    assert client.run_task(task.task_id)["execution_status"] == "blocked_by_failures"
    assert client.resolve_step(client.step_id(task.task_id, "bad"), {"value": 5}) is True
    assert client.run_task(task.task_id)["task_state"] == "complete"
    view = client.task_view(task.task_id)
    assert step(view, "bad")["state"] == "resolved_manually" and step(view, "bad")["results"] == {"value": 5}
    assert step(view, "after")["results"] == {"got": 15}


def test_retry_step_after_fixing_the_handler(client: Client) -> None:
    client.load_template(linear("retrystep", "s"))
    fixed = {"ok": False}

    def handler(ctx: StepContext) -> Any:
        if not fixed["ok"]:
            raise PermanentError("not yet")
        return {"attempt": ctx.attempt}

    client.register_handler("s", handler)
    task = client.create_task("retrystep", {}, namespace="pytest")
    client.run_task(task.task_id)
    sid = client.step_id(task.task_id, "s")
    assert step(client.task_view(task.task_id), "s")["state"] == "error"
    fixed["ok"] = True
    client.retry_step(sid)
    assert client.run_task(task.task_id)["task_state"] == "complete"
    s = step(client.task_view(task.task_id), "s")
    assert s["state"] == "complete" and s["attempts"] == 1 and s["results"] == {"attempt": 1}

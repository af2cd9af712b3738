"""The maintenance calls a process without workers makes itself: enforce_deadlines,
apply_retention, and purge_tasks with a template filter."""
from __future__ import annotations

import time

import tasker
from tasker import Client

from conftest import FAST, linear


def test_enforce_deadlines_fails_a_task_past_its_deadline(client: Client) -> None:
    client.load_template(linear("deadline_due", "s"))
    task = client.create_task("deadline_due", {}, namespace="pytest", deadline_ms=1)
    time.sleep(0.02)  # past the 1 ms deadline; nothing runs the task meanwhile
    assert client.enforce_deadlines() == 1
    view = client.task_view(task.task_id)
    assert view["state"] == "error"
    assert view["transitions"][-1]["metadata"]["error_class"] == "Deadline"
    assert client.enforce_deadlines() == 0


def test_apply_retention_purges_old_complete_tasks(db_url: str) -> None:
    with Client(db_url, **FAST, retention={"complete_ms": 1}) as c:
        c.load_template(linear("kept_briefly", "s"))
        c.register_handler("s", lambda ctx: {"done": True})
        task = c.create_task("kept_briefly", {}, namespace="pytest")
        c.run_task(task.task_id)
        time.sleep(0.02)  # older than complete_ms
        assert c.apply_retention() == 1
        try:
            c.task_view(task.task_id)
        except tasker.TaskNotFoundError:
            pass
        else:
            raise AssertionError("the task outlived its retention")


def test_purge_tasks_of_one_template(client: Client) -> None:
    for name in ("purged", "spared"):
        client.load_template(linear(name, name))
        client.register_handler(name, lambda ctx: {"done": True})
    ids = {}
    for name in ("purged", "spared"):
        ids[name] = client.create_task(name, {}, namespace="pytest").task_id
        client.run_task(ids[name])
    later = int(time.time() * 1000) + 60_000
    dry = client.purge_tasks(later, template="purged", namespace="pytest", dry_run=True)
    assert dry == {"dry_run": True, "tasks": 1, "steps": 1, "batches": 1}
    assert client.purge_tasks(later, template="purged", version="9.9.9")["tasks"] == 0
    assert client.purge_tasks(later, template="purged")["tasks"] == 1
    assert client.task_view(ids["spared"])["state"] == "complete"
    try:
        client.purge_tasks(later, batch_size=0)
    except tasker.InvalidArgumentError as e:
        assert "batch_size" in str(e)
    else:
        raise AssertionError("a zero batch size was accepted")

"""Host-queue hooks: libtasker enqueues step/task ids, the host's job handles them."""
from __future__ import annotations

import collections
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from tasker import Client

from conftest import Counter, register_diamond

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


class Recorder:
    def __init__(self) -> None:
        self.fifo: collections.deque[tuple[str, int, float]] = collections.deque()

    def enqueue_task(self, task_id: int, delay: float) -> None:
        self.fifo.append(("task", task_id, delay))

    def enqueue_step(self, step_id: int, delay: float) -> None:
        self.fifo.append(("step", step_id, delay))


def test_queue_receives_exactly_the_ready_steps(client: Client) -> None:
    counter = Counter()
    register_diamond(client, counter)
    queue = Recorder()
    client.set_queue_injector(queue)
    task = client.create_task("diamond", {"n": 2}, namespace="pytest")
    view = client.task_view(task.task_id)
    ids = {s["name"]: s["step_id"] for s in view["steps"]}
    assert [e for e in queue.fifo if e[0] == "step"] == [("step", ids["a"], 0)]
    outcomes: collections.Counter[str] = collections.Counter()
    handled_steps: list[int] = []
    while queue.fifo:
        kind, ident, _delay = queue.fifo.popleft()
        if kind == "step":
            handled_steps.append(ident)
            outcome = client.handle_step(ident)
            assert outcome["step_id"] == ident
            outcomes[outcome["outcome"]] += 1
        else:
            assert client.handle_task(ident)["task_id"] == task.task_id
    assert outcomes["completed"] == 4
    # every step arrived; repeated deliveries (a task re-look also enqueues ready steps) are skipped
    assert set(handled_steps) == set(ids.values())
    assert outcomes["skipped"] == len(handled_steps) - 4
    assert set(outcomes) <= {"completed", "skipped"}
    assert handled_steps[0] == ids["a"] and handled_steps[-1] == ids["d"]
    assert client.task_view(task.task_id)["state"] == "complete"
    # duplicate delivery is harmless
    assert client.handle_step(ids["a"])["outcome"] == "skipped"
    client.set_queue_injector(None)
    assert client.create_task("diamond", {"n": 3}, namespace="pytest").created
    assert not queue.fifo


def test_retry_is_enqueued_with_its_delay(client: Client) -> None:
    from tasker import RetryableError

    client.load_template({"name": "rq", "namespace_name": "pytest", "step_templates": [{"name": "s", "handler": "s"}]})

    def flaky(ctx):
        if ctx.attempt == 1:
            raise RetryableError("later", retry_after=0.025)
        return {"ok": ctx.attempt}

    client.register_handler("s", flaky)
    queue = Recorder()
    client.set_queue_injector(queue)
    task = client.create_task("rq", {}, namespace="pytest")
    kind, step_id, _ = queue.fifo.popleft()
    first = client.handle_step(step_id)
    assert first["outcome"] == "failed" and first["will_retry"] is True and first["retry_delay_ms"] == 25
    assert ("step", step_id, 0.025) in queue.fifo
    import time
    time.sleep(0.03)
    assert client.handle_step(step_id)["outcome"] == "completed"
    assert client.task_view(task.task_id)["state"] == "complete"


def test_failing_injector_is_logged_and_work_stays_ready(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    counter = Counter()
    register_diamond(client, counter)

    def broken(ident: int, delay: float) -> None:
        raise ConnectionError("broker down")

    client.set_queue_injector(enqueue_task=broken, enqueue_step=broken)
    with caplog.at_level(logging.ERROR, logger="tasker"):
        task = client.create_task("diamond", {"n": 2}, namespace="pytest")
    assert "broker down" in caplog.text
    client.set_queue_injector(None)
    assert client.run_task(task.task_id)["task_state"] == "complete"


def test_injector_requires_both_hooks(client: Client) -> None:
    with pytest.raises(TypeError):
        client.set_queue_injector(enqueue_step=lambda i, d: None)


def test_celery_style_example_runs() -> None:
    out = subprocess.run([sys.executable, str(EXAMPLES / "celery_style.py")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "task complete" in out.stdout
    assert "handle_step" in out.stdout

"""Mandatory: 4 concurrent host threads finish 200 diamond tasks on SQLite, every step executed
exactly once (counted per step id)."""
from __future__ import annotations

import threading
import time

from tasker import Client

from conftest import FAST, Counter, register_diamond


def wait_all(client: Client, ids: list[int], timeout: float = 180) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        states = [client.execution_context(t)["task_state"] for t in ids]
        if all(s in ("complete", "error", "cancelled") for s in states) or time.monotonic() > deadline:
            return states
        time.sleep(0.05)


def test_four_worker_threads_finish_200_diamonds_each_step_once(db_url: str) -> None:
    counter = Counter()
    with Client(db_url, **FAST) as client:
        register_diamond(client, counter)
        ids = [client.create_task("diamond", {"n": i % 7, "i": i}, namespace="pytest").task_id for i in range(200)]
        with client.worker(threads=4) as worker:
            worker.start()
            states = wait_all(client, ids)
            worker.stop()
            steps_run = worker.join(60)
        assert states == ["complete"] * 200
        step_ids = [s["step_id"] for t in ids for s in client.task_view(t)["steps"]]
        assert len(step_ids) == 800 and len(set(step_ids)) == 800
        assert {sid: counter.by_id[sid] for sid in step_ids} == {sid: 1 for sid in step_ids}
        assert sum(counter.by_id.values()) == 800 == steps_run
        assert counter.threads <= {f"tasker-worker-{i}" for i in range(4)}
        assert len(counter.threads) >= 2, f"work was not spread over threads: {counter.threads}"
        # results are right too: d = 2 * (n^2)^2 squared
        for t in ids[:10]:
            view = client.task_view(t)
            n = view["context"]["n"]
            d = next(s for s in view["steps"] if s["name"] == "d")
            assert d["results"] == {"value": (2 * (n * n) ** 2) ** 2}


def test_four_threads_running_tasks_inline_concurrently(db_url: str) -> None:
    counter = Counter()
    with Client(db_url, **FAST) as client:
        register_diamond(client, counter)
        ids = [client.create_task("diamond", {"n": 2, "i": i}, namespace="pytest").task_id for i in range(40)]
        errors: list[BaseException] = []

        def run(part: list[int]) -> None:
            try:
                for t in part:
                    client.run_task(t)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(ids[i::4],)) for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        assert not errors
        assert all(client.execution_context(t)["task_state"] == "complete" for t in ids)
        assert sorted(counter.by_id.values()) == [1] * 160

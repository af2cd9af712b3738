#!/usr/bin/env python3
"""Host-queue mode, Celery style, without Celery.

libtasker does not run steps itself here: whenever a step becomes ready (or a retry is due, or a
task needs another look) it calls the queue injector, which publishes a job to *your* queue. Your
queue's workers run the jobs, which call `client.handle_step(step_id)` / `client.handle_task(task_id)`.

With real Celery the injector would be

    class CeleryInjector:
        def enqueue_step(self, step_id, delay):
            handle_step_job.apply_async((step_id,), countdown=delay)
        def enqueue_task(self, task_id, delay):
            handle_task_job.apply_async((task_id,), countdown=delay)

    @app.task
    def handle_step_job(step_id): client.handle_step(step_id)

`MiniCelery` below is a tiny in-process stand-in (a delay-aware queue and worker threads) with the
same shape, so the example runs anywhere:  python3 examples/celery_style.py
"""
from __future__ import annotations

import heapq
import itertools
import os
import sys
import tempfile
import threading
import time
from typing import Any, Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tasker import Client, RetryableError, StepContext  # noqa: E402


class MiniCelery:
    """`@app.task` functions get `.apply_async(args, countdown=seconds)`; `worker(n)` consumes."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stop = False
        self.log: list[str] = []

    def task(self, fn: Callable[..., Any]) -> Any:
        app = self

        class Task:
            __name__ = fn.__name__

            def __call__(self, *args: Any) -> Any:
                return fn(*args)

            def apply_async(self, args: tuple[Any, ...], countdown: float = 0.0) -> None:
                with app._cond:
                    heapq.heappush(app._heap, (time.monotonic() + countdown, next(app._seq), fn, args))
                    app._cond.notify()

        return Task()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._stop:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        _, _, fn, args = heapq.heappop(self._heap)
                        break
                    self._cond.wait(self._heap[0][0] - now if self._heap else None)
                else:
                    return
            try:
                fn(*args)
            except Exception as exc:  # a real broker would retry the job
                print(f"job {fn.__name__}{args} failed: {exc!r}")

    def worker(self, concurrency: int) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._work, name=f"celery-{i}", daemon=True) for i in range(concurrency)]
        for t in threads:
            t.start()
        return threads

    def shutdown(self, threads: list[threading.Thread]) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for t in threads:
            t.join()


TEMPLATE = {
    "name": "newsletter", "namespace_name": "examples", "version": "1.0.0",
    "step_templates": [
        {"name": "render", "handler": "render"},
        {"name": "send_eu", "handler": "send", "depends_on_step": "render"},
        {"name": "send_us", "handler": "send", "depends_on_step": "render"},
        {"name": "report", "handler": "report", "depends_on_steps": ["send_eu", "send_us"]},
    ],
}


def main() -> int:
    app = MiniCelery()
    tmp = tempfile.mkdtemp(prefix="tasker-celery-")
    with Client(f"sqlite://{tmp}/celery.db", backoff={"base_ms": 50, "max_ms": 500}) as client:

        @app.task
        def handle_step_job(step_id: int) -> None:
            outcome = client.handle_step(step_id)
            line = f"[{threading.current_thread().name}] handle_step({step_id}) -> {outcome['outcome']}"
            app.log.append(line)
            print(line, flush=True)

        @app.task
        def handle_task_job(task_id: int) -> None:
            client.handle_task(task_id)

        class CeleryInjector:
            def enqueue_step(self, step_id: int, delay: float) -> None:
                handle_step_job.apply_async((step_id,), countdown=delay)

            def enqueue_task(self, task_id: int, delay: float) -> None:
                handle_task_job.apply_async((task_id,), countdown=delay)

        client.load_template(TEMPLATE)
        client.register_handler("render", lambda ctx: {"html": f"<h1>{ctx.context['title']}</h1>"})

        def send(ctx: StepContext) -> Any:
            if ctx.step_name == "send_us" and ctx.attempt == 1:
                raise RetryableError("SMTP relay busy", retry_after=0.2)
            return {"sent": 1000, "region": ctx.step_name[-2:]}

        client.register_handler("send", send)
        client.register_handler("report", lambda ctx: {"total": sum(r["sent"] for r in ctx.dependency_results.values())})
        client.set_queue_injector(CeleryInjector())

        threads = app.worker(concurrency=3)
        task = client.create_task("newsletter", {"title": "Hello"}, namespace="examples")
        deadline = time.monotonic() + 60
        while client.execution_context(task.task_id)["task_state"] not in ("complete", "error") and time.monotonic() < deadline:
            time.sleep(0.02)
        app.shutdown(threads)
        client.set_queue_injector(None)

        view = client.task_view(task.task_id)
        for s in view["steps"]:
            print(f"  {s['name']:8} {s['state']:9} attempts={s['attempts']} results={s['results']}")
        print(f"task {view['state']}")
        return 0 if view["state"] == "complete" else 1


if __name__ == "__main__":
    sys.exit(main())

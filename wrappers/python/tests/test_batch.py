"""Batch fan-out from Python: `tasker.batches` / `tasker.no_batches` split the work,
`tasker.batch_results` reads the convergence step's batches (succeeded and tolerated failures)."""
from __future__ import annotations

from typing import Any

import tasker
from tasker import Client, PermanentError, StepContext

FANOUT = {
    "name": "fanout",
    "namespace_name": "pytest",
    "version": "1.0.0",
    "step_templates": [
        {"name": "split", "handler": "split", "type": "batchable",
         "batch": {"worker": "work", "max_batches": 10, "failure": "continue_on_failure"}},
        {"name": "work", "handler": "work", "type": "batch_worker", "depends_on_step": "split"},
        {"name": "report", "handler": "report", "type": "convergence", "depends_on_steps": ["work"]},
    ],
}


def test_helpers_build_the_output() -> None:
    assert tasker.batches([{"start": 0}, {"start": 5}], total=10) == {
        "total": 10, "batches": [{"start": 0}, {"start": 5}]}
    assert tasker.no_batches() == {"batches": []}
    ok, failed = tasker.batch_results({
        "split": {"n": 2},
        "work_002": {"error": {"class": "Bad"}, "tolerated": True},
        "work_001": {"sum": 1},
        "workers_001": {"sum": 9},
    }, "work")
    assert ok == {"work_001": {"sum": 1}}
    assert failed == {"work_002": {"class": "Bad"}}


def test_a_fanout_reports_its_failed_batch(client: Client) -> None:
    client.load_template(FANOUT)
    client.register_handler("split", lambda ctx: tasker.batches(
        ({"k": k} for k in range(ctx.context["n"])), planned=ctx.context["n"]))

    def work(ctx: StepContext) -> dict[str, Any]:
        if ctx.inputs["k"] == 1:
            raise PermanentError("bad batch", error_class="BadBatch")
        return {"k": ctx.inputs["k"]}

    def report(ctx: StepContext) -> dict[str, Any]:
        ok, failed = tasker.batch_results(ctx.dependency_results, "work")
        return {"ok": list(ok), "failed": {n: e["class"] for n, e in failed.items()}}

    client.register_handler("work", work)
    client.register_handler("report", report)
    task = client.create_task("fanout", {"n": 3}, namespace="pytest").task_id
    client.run_task(task)
    view = client.task_view(task)
    assert view["state"] == "complete"
    steps = {s["name"]: s for s in view["steps"]}
    assert steps["work_002"]["state"] == "error"
    assert steps["report"]["results"] == {
        "ok": ["work_001", "work_003"], "failed": {"work_002": "BadBatch"}}

    none = client.create_task("fanout", {"n": 0}, namespace="pytest").task_id
    client.register_handler("split", lambda ctx: tasker.no_batches())
    client.run_task(none)
    view = client.task_view(none)
    assert view["state"] == "complete"
    report = next(s for s in view["steps"] if s["name"] == "report")
    assert report["results"] == {"ok": [], "failed": {}}

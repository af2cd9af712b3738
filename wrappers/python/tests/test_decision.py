"""Decision steps from Python: `tasker.activate` chooses the steps a decision creates."""
from __future__ import annotations

from typing import Any

import tasker
from tasker import Client, StepContext

ROUTE = {
    "name": "route",
    "namespace_name": "pytest",
    "version": "1.0.0",
    "step_templates": [
        {"name": "route", "handler": "route", "type": "decision", "candidates": ["fast", "slow"]},
        {"name": "fast", "handler": "leaf", "depends_on_step": "route"},
        {"name": "slow", "handler": "leaf", "depends_on_step": "route"},
        {"name": "done", "handler": "leaf", "type": "convergence", "depends_on_steps": ["fast", "slow"]},
    ],
}


def test_activate_creates_only_the_chosen_steps(client: Client) -> None:
    client.load_template(ROUTE)
    client.register_handler("route", lambda ctx: tasker.activate(*ctx.context["choose"], why="test"))

    def leaf(ctx: StepContext) -> dict[str, Any]:
        return {"parents": sorted(ctx.dependency_results)}

    client.register_handler("leaf", leaf)
    task = client.create_task("route", {"choose": ["fast"]}, namespace="pytest").task_id
    client.run_task(task)
    view = client.task_view(task)
    assert view["state"] == "complete"
    steps = {s["name"]: s for s in view["steps"]}
    assert sorted(steps) == ["done", "fast", "route"]
    assert steps["route"]["results"] == {"why": "test", "activate": ["fast"]}
    assert steps["done"]["results"] == {"parents": ["fast", "route"]}


def test_a_choice_outside_the_candidates_fails_permanently(client: Client) -> None:
    client.load_template(ROUTE)
    client.register_handler("route", lambda ctx: tasker.activate("done"))
    client.register_handler("leaf", lambda ctx: {})
    task = client.create_task("route", {}, namespace="pytest").task_id
    client.run_task(task)
    view = client.task_view(task)
    route = next(s for s in view["steps"] if s["name"] == "route")
    assert view["state"] == "error"
    assert route["attempts"] == 1
    assert route["results"]["error"]["class"] == "InvalidDecision"

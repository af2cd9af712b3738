from __future__ import annotations

import collections
import os
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run against the working tree even when not pip-installed

import tasker  # noqa: E402

FAST = {"backoff": {"base_ms": 5, "factor": 2.0, "max_ms": 40}, "poll_interval_ms": 10, "lease_check_interval_ms": 50}

DIAMOND = {
    "name": "diamond",
    "namespace_name": "pytest",
    "version": "1.0.0",
    "step_templates": [
        {"name": "a", "handler": "a"},
        {"name": "b", "handler": "b", "depends_on_step": "a"},
        {"name": "c", "handler": "c", "depends_on_step": "a"},
        {"name": "d", "handler": "d", "depends_on_steps": ["b", "c"]},
    ],
}


def linear(name: str, *steps: str, **step_options: Any) -> dict[str, Any]:
    templates: list[dict[str, Any]] = []
    for i, step in enumerate(steps):
        entry: dict[str, Any] = {"name": step, "handler": step, **step_options.get(step, {})}
        if i:
            entry["depends_on_step"] = steps[i - 1]
        templates.append(entry)
    return {"name": name, "namespace_name": "pytest", "version": "1.0.0", "step_templates": templates}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path}/tasker.db"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each backend in turn: a new SQLite file, or the PostgreSQL database the suite is given
    (shared by the tests: they keep to their own templates and namespaces)."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/{request.node.name}.db"
    pg = os.environ.get("TASKER_CONFORMANCE_PG_URL") or os.environ.get("TASKER_TEST_DATABASE_URL")
    if not pg:
        pytest.skip("no PostgreSQL: set TASKER_CONFORMANCE_PG_URL (make test does)")
    return pg


@pytest.fixture
def client(db_url: str) -> Iterator[tasker.Client]:
    with tasker.Client(db_url, **FAST) as c:
        yield c


class Counter:
    """Thread-safe execution counter per step id (and per step name)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_id: collections.Counter[int] = collections.Counter()
        self.by_name: collections.Counter[str] = collections.Counter()
        self.threads: set[str] = set()

    def hit(self, ctx: tasker.StepContext) -> None:
        with self.lock:
            self.by_id[ctx.step_id] += 1
            self.by_name[ctx.step_name] += 1
            self.threads.add(threading.current_thread().name)


def register_diamond(client: tasker.Client, counter: Counter) -> None:
    client.load_template(DIAMOND)

    def square(ctx: tasker.StepContext) -> dict[str, Any]:
        counter.hit(ctx)
        if ctx.dependency_results:
            v = sum(r["value"] for r in ctx.dependency_results.values())
        else:
            v = ctx.context.get("n", 0)
        return {"value": v * v}

    for name in "abcd":
        client.register_handler(name, square)


def step(view: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in view["steps"] if s["name"] == name)

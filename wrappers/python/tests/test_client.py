"""Client construction, defaults, templates, workers' lifecycle."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import tasker
from tasker import Client, StepContext

from conftest import FAST, Counter, linear, register_diamond

TEMPLATE_YAML = """
name: yamlflow
namespace_name: pytest
version: 2.0.0
step_templates:
  - {name: one, handler: one}
  - {name: two, handler: two, depends_on_step: one}
"""


def test_default_url_comes_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKER_DATABASE_URL", f"sqlite://{tmp_path}/from_env.db")
    with Client() as client:
        client.health()
    assert (tmp_path / "from_env.db").exists()


def test_embedded_default_is_tasker_db_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKER_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    with Client() as client:
        client.health()
    assert (tmp_path / "tasker.db").exists()


def test_in_memory_database() -> None:
    with Client("sqlite::memory:") as client:
        assert client.health()["total_tasks"] == 0


def test_load_template_from_path_text_and_mapping(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(TEMPLATE_YAML)
    client.load_template(path)          # PathLike
    client.load_template(str(path))     # path string
    client.load_template(TEMPLATE_YAML)  # YAML text
    client.load_template(TEMPLATE_YAML.encode())
    client.load_template(linear("mapflow", "one"))
    client.register_handler("one", lambda ctx: {"one": 1})
    client.register_handler("two", lambda ctx: {"two": ctx.dependency_results["one"]["one"] + 1})
    task = client.create_task("yamlflow", {}, namespace="pytest", version="2.0.0")
    client.run_task(task.task_id)
    assert client.task_view(task.task_id)["steps"][1]["results"] == {"two": 2}
    with pytest.raises(TypeError):
        client.load_template(42)  # type: ignore[arg-type]


def test_repo_example_template_and_schema(client: Client) -> None:
    repo = Path(__file__).resolve().parents[3]
    client.load_template(repo / "examples" / "templates" / "order_fulfillment.yaml")
    with pytest.raises(tasker.SchemaValidationError):
        client.create_task("order_fulfillment", {"order_id": "x"}, namespace="ecommerce")


def test_worker_run_in_current_thread_until_stopped(client: Client) -> None:
    counter = Counter()
    register_diamond(client, counter)
    ids = [client.create_task("diamond", {"n": i}, namespace="pytest").task_id for i in range(5)]
    worker = client.worker()

    def stopper() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(client.execution_context(t)["task_state"] == "complete" for t in ids):
                break
            time.sleep(0.02)
        worker.stop()

    threading.Thread(target=stopper).start()
    ran = worker.run()
    assert ran == 20 and set(counter.threads) == {threading.current_thread().name}
    assert worker.run() == 0  # stays stopped until reset
    worker.reset()
    worker.close()


def test_worker_run_once(client: Client) -> None:
    counter = Counter()
    register_diamond(client, counter)
    task = client.create_task("diamond", {"n": 1}, namespace="pytest")
    with client.worker() as worker:
        total = 0
        for _ in range(10):
            total += worker.run_once()
        assert total == 4
        assert worker.run_once() == 0
    assert client.execution_context(task.task_id)["task_state"] == "complete"


def test_stop_from_a_handler_and_reraised_thread_errors(client: Client) -> None:
    client.load_template(linear("stopper", "s"))
    holder: dict[str, tasker.Worker] = {}

    def stop_me(ctx: StepContext) -> Any:
        holder["w"].stop()
        return {"stopped": True}

    client.register_handler("s", stop_me)
    worker = holder["w"] = client.worker(threads=2).start()
    client.create_task("stopper", {}, namespace="pytest")
    assert worker.join(30) == 1
    assert not worker.running
    worker.close()


def test_client_close_stops_running_workers(db_url: str) -> None:
    client = Client(db_url, **FAST)
    worker = client.worker(threads=2).start()
    time.sleep(0.1)
    assert worker.running
    client.close(timeout=30)
    assert not worker.running and client.closed


def test_worker_on_closed_client(db_url: str) -> None:
    client = Client(db_url)
    worker = client.worker()
    client.close()
    with pytest.raises(tasker.InvalidStateError):
        worker.run()


def test_close_waits_for_calls_in_flight(db_url: str) -> None:
    client = Client(db_url, **FAST)
    client.load_template(linear("slow", "s"))
    entered = threading.Event()

    def slow(ctx: StepContext) -> Any:
        entered.set()
        time.sleep(0.3)
        return {"done": True}

    client.register_handler("s", slow)
    task = client.create_task("slow", {}, namespace="pytest")
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(client.run_task(task.task_id)))
    runner.start()
    assert entered.wait(10)
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started >= 0.1
    runner.join(10)
    assert result["task_state"] == "complete"


def test_library_lookup_env(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, TASKER_LIB=str(tmp_path / "missing.so"))
    out = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(root)!r}); import tasker"],
                         capture_output=True, text=True, env=env)
    assert out.returncode != 0 and "libtasker not found" in out.stderr and "missing.so" in out.stderr
    env = dict(os.environ, TASKER_LIB=tasker.library_path)
    out = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(root)!r}); import tasker; print(tasker.library_path)"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == tasker.library_path

"""Signals during blocking calls (issue #12), in a child process on SQLite and PostgreSQL: the
child exits within a bound, no step is left in_progress and no attempt is burned by the stop."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

import tasker

CHILD = Path(__file__).resolve().parent / "shutdown_child.py"
#: the bound on a child's exit after the signal (its handler would otherwise sleep an hour)
BOUND = 60


class Child:
    def __init__(self, url: str, mode: str, options: dict[str, Any] | None = None, *extra: str) -> None:
        self.template = f"shutdown_{uuid.uuid4().hex[:12]}"
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), url, self.template, mode, json.dumps(options or {}), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        assert line.startswith("started "), (line, self.stderr())
        self.task_id = int(line.split()[1])

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read() if self.proc.stderr else ""

    def signal_and_wait(self, signum: int) -> tuple[int, str, str]:
        self.proc.send_signal(signum)
        try:
            out, err = self.proc.communicate(timeout=BOUND)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        return self.proc.returncode, out, err


@pytest.fixture
def observer(url: str) -> Iterator[tasker.Client]:
    with tasker.Client(url) as c:
        yield c


def only_step(client: tasker.Client, task_id: int) -> dict[str, Any]:
    view = client.task_view(task_id)
    assert len(view["steps"]) == 1
    return dict(view["steps"][0])


def assert_given_back(client: tasker.Client, task_id: int) -> None:
    s = only_step(client, task_id)
    assert s["state"] == "pending", s
    assert s["attempts"] == 0, s
    assert all(t["to_state"] != "error" for t in s["transitions"]), s["transitions"]
    assert s["transitions"][-1]["metadata"].get("reason") == "released"


def test_ctrl_c_in_run_task_aborts_without_retrying(url: str, observer: tasker.Client) -> None:
    child = Child(url, "run_task")
    rc, _, err = child.signal_and_wait(signal.SIGINT)
    assert rc != 0 and "KeyboardInterrupt" in err, err
    assert_given_back(observer, child.task_id)


def test_ctrl_c_in_a_backoff_wait_returns(url: str, observer: tasker.Client) -> None:
    child = Child(url, "backoff")
    # The failed attempt is written before the hour's wait begins.
    while only_step(observer, child.task_id)["state"] != "error":
        time.sleep(0.02)
    rc, _, err = child.signal_and_wait(signal.SIGINT)
    assert rc != 0 and "KeyboardInterrupt" in err, err
    s = only_step(observer, child.task_id)
    assert (s["state"], s["attempts"]) == ("error", 1), s  # the real failure, nothing more


def test_sigterm_in_run_task_with_handle_signals(url: str, observer: tasker.Client) -> None:
    child = Child(url, "run_task_signals")
    rc, _, err = child.signal_and_wait(signal.SIGTERM)
    assert rc == 128 + signal.SIGTERM, err
    assert_given_back(observer, child.task_id)


def test_ctrl_c_in_worker_run_gives_the_step_back(url: str, observer: tasker.Client) -> None:
    child = Child(url, "worker")
    rc, _, err = child.signal_and_wait(signal.SIGINT)
    assert rc != 0 and "KeyboardInterrupt" in err, err
    assert_given_back(observer, child.task_id)


def test_ctrl_c_wakes_an_idle_worker(url: str) -> None:
    child = Child(url, "idle", {"poll_interval_ms": 3_600_000})
    time.sleep(0.5)  # let it reach its idle wait (an hour's poll): only the signal ends it
    rc, _, err = child.signal_and_wait(signal.SIGINT)
    assert rc != 0 and "KeyboardInterrupt" in err, err


def test_sigterm_stops_a_worker_gracefully(url: str, observer: tasker.Client) -> None:
    child = Child(url, "worker_signals", {}, "short")
    rc, out, err = child.signal_and_wait(signal.SIGTERM)
    assert rc == 0, err
    assert "ran 1" in out
    s = only_step(observer, child.task_id)
    assert (s["state"], s["attempts"]) == ("complete", 1), s


def test_a_handler_past_the_grace_period_is_cut_short(url: str, observer: tasker.Client) -> None:
    child = Child(url, "worker_signals", {"stop_grace_ms": 200})
    rc, _, err = child.signal_and_wait(signal.SIGTERM)
    assert rc != 0 and "KeyboardInterrupt" in err, err
    assert_given_back(observer, child.task_id)

"""The query API (issue #13): list_tasks / list_steps filters and pages, pages stable while
another thread inserts, wait_task across two processes, timed out and interrupted; on SQLite and
PostgreSQL. The PostgreSQL database is shared by the suite, so each test works in namespaces
of its own and cancels what it leaves unfinished."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

import tasker
from tasker import CallInterruptedError, InvalidArgumentError, PermanentError, RetryableError

CHILD = Path(__file__).resolve().parent / "wait_child.py"
#: the bound on a child process (its waits would otherwise last an hour)
BOUND = 120
#: long enough that only a wakeup, not the timeout, ends a wait
LONG = 300.0
#: fast retries, but a retry_after of an hour is kept (the backoff's max_ms caps it)
OPTIONS: dict[str, Any] = {"backoff": {"base_ms": 5, "factor": 2.0, "max_ms": 7_200_000}, "poll_interval_ms": 10}


class Space:
    """A client and names of this test's own: templates in `ns` (and `other`), handlers
    prefixed with `ns` so a shared database's other tasks never match a filter."""

    def __init__(self, client: tasker.Client) -> None:
        self.client = client
        self.ns = f"q{uuid.uuid4().hex[:12]}"
        self.other = f"{self.ns}o"

    def template(self, name: str, namespace: str | None = None, **step: Any) -> str:
        """A one-step template `name`, its handler named `<ns>_<name>`; returns the handler."""
        handler = f"{self.ns}_{name}"
        self.client.load_template({"name": name, "namespace_name": namespace or self.ns, "version": "1.0.0",
                                   "step_templates": [{"name": "only", "handler": handler, **step}]})
        return handler

    def cleanup(self) -> None:
        for ns in (self.ns, self.other):
            for task in self.client.iter_tasks(namespace=ns, states=["pending", "in_progress", "error"]):
                self.client.cancel_task(task["task_id"])


@pytest.fixture
def space(url: str) -> Iterator[Space]:
    with tasker.Client(url, **OPTIONS) as client:
        s = Space(client)
        yield s
        s.cleanup()


def ids(items: Any) -> list[int]:
    return [item["task_id"] for item in items]


def test_list_tasks_filters(space: Space) -> None:
    c, ns = space.client, space.ns
    c.register_handler(space.template("plain"), lambda ctx: {"ok": True})
    c.register_handler(space.template("doomed"), lambda ctx: (_ for _ in ()).throw(PermanentError("no")))
    flaky = space.template("flaky", space.other)
    c.register_handler(flaky, lambda ctx: (_ for _ in ()).throw(RetryableError("later", retry_after=3600)))

    def create(name: str, n: int, initiator: str, tags: list[str], namespace: str = ns) -> int:
        return c.create_task(name, {"n": n}, namespace=namespace, initiator=initiator,
                             source_system=f"{initiator}-system", tags=tags).task_id

    done = create("plain", 1, "web", ["a", "b"])
    waiting = create("plain", 2, "api", ["a"])
    blocked = create("doomed", 3, "api", ["b"])
    backing_off = create("flaky", 4, "cron", [], space.other)
    c.run_task(done)
    c.run_task(blocked)
    assert c.handle_step(c.step_id(backing_off, "only"))["will_retry"] is True

    def listed(**filter: Any) -> list[int]:
        return ids(c.list_tasks(**filter)["items"])

    assert listed(namespace=ns) == [blocked, waiting, done]  # newest first
    assert listed(namespace=ns, states=["complete", "error"]) == [blocked, done]
    assert listed(namespace=ns, states="pending") == [waiting]
    assert listed(namespace=ns, execution_status="blocked_by_failures") == [blocked]
    assert listed(namespace=ns, execution_status="all_complete") == [done]
    assert listed(namespace=space.other, execution_status="waiting_for_dependencies") == [backing_off]
    assert listed(namespace=ns, name="plain", version="1.0.0") == [waiting, done]
    assert listed(namespace=ns, name="plain", version="9.9.9") == []
    assert listed(namespace=ns, initiator="api") == [blocked, waiting]
    assert listed(namespace=space.other, source_system="cron-system") == [backing_off]
    assert listed(namespace=ns, tags=["a"]) == [waiting, done]
    assert listed(namespace=ns, tags=["a", "b"]) == [done]

    summary = c.list_tasks(namespace=ns, states=["complete"])["items"][0]
    assert (summary["namespace"], summary["name"], summary["version"]) == (ns, "plain", "1.0.0")
    assert (summary["initiator"], summary["source_system"], summary["tags"]) == ("web", "web-system", ["a", "b"])
    assert summary["execution"] == c.execution_context(done)
    assert summary["updated_at"] >= summary["created_at"]

    # Time ranges are [from, to).
    created = summary["created_at"]
    assert done in listed(namespace=ns, created_from=created)
    assert done not in listed(namespace=ns, created_to=created)
    assert done in listed(namespace=ns, created_from=created, created_to=created + 1)
    later = c.list_tasks(namespace=ns, updated_from=summary["updated_at"])["items"]
    assert done in ids(later) and all(t["updated_at"] >= summary["updated_at"] for t in later)
    assert listed(namespace=ns, updated_to=0) == []


def test_list_steps_filters(space: Space) -> None:
    c = space.client
    doomed = space.template("doomed")
    c.register_handler(doomed, lambda ctx: (_ for _ in ()).throw(PermanentError("no")))
    flaky = space.template("flaky")
    c.register_handler(flaky, lambda ctx: (_ for _ in ()).throw(RetryableError("later", retry_after=3600)))
    blocked = c.create_task("doomed", {}, namespace=space.ns).task_id
    backing_off = c.create_task("flaky", {}, namespace=space.ns).task_id
    c.run_task(blocked)
    c.handle_step(c.step_id(backing_off, "only"))

    def listed(**filter: Any) -> list[tuple[int, str]]:
        return [(s["task_id"], s["handler"]) for s in c.list_steps(**filter)["items"]]

    for handler in (doomed, flaky):
        assert listed(handler=handler, states=["error"]) == [(blocked if handler == doomed else backing_off, handler)]
        assert listed(handler=handler, condition="lease_expired") == []
    assert listed(handler=doomed, condition="exhausted") == [(blocked, doomed)]
    assert listed(handler=doomed, condition="in_backoff") == []
    assert listed(handler=flaky, condition="in_backoff") == [(backing_off, flaky)]
    assert listed(handler=flaky, condition="exhausted") == []
    assert listed(task_id=blocked, states="error") == [(blocked, doomed)]
    assert listed(task_id=blocked, states=["pending", "complete"]) == []
    step = c.list_steps(task_id=backing_off)["items"][0]
    assert (step["name"], step["state"], step["attempts"]) == ("only", "error", 1)
    assert step["next_attempt_at"] is not None and step["step_id"] == c.step_id(backing_off, "only")
    assert [s["step_id"] for s in c.iter_steps(handler=doomed, limit=1)] == [c.step_id(blocked, "only")]


def test_pages_are_stable_under_concurrent_inserts(space: Space) -> None:
    c, ns = space.client, space.ns
    space.template("plain")
    before = [c.create_task("plain", {"n": n}, namespace=ns).task_id for n in range(25)][::-1]
    stop = threading.Event()
    inserted: list[int] = []

    def insert() -> None:
        n = 1000
        while not stop.is_set():
            inserted.append(c.create_task("plain", {"n": n}, namespace=ns).task_id)
            n += 1

    inserter = threading.Thread(target=insert)
    inserter.start()
    try:
        # The first page may already hold new tasks; every older one appears exactly once.
        seen = ids(c.iter_tasks(namespace=ns, limit=4))
    finally:
        stop.set()
        inserter.join()
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == len(seen), seen
    assert [i for i in seen if i <= before[0]] == before
    assert set(seen) <= set(before) | set(inserted)


def test_a_page_of_exactly_limit_items_ends_with_an_empty_page(space: Space) -> None:
    c = space.client
    space.template("plain")
    made = [c.create_task("plain", {"n": n}, namespace=space.ns).task_id for n in range(3)][::-1]
    first = c.list_tasks(namespace=space.ns, limit=3)
    assert ids(first["items"]) == made
    if first["next_cursor"] is not None:
        rest = c.list_tasks(namespace=space.ns, limit=3, cursor=first["next_cursor"])
        assert rest == {"items": [], "next_cursor": None}
    assert ids(c.iter_tasks(namespace=space.ns, limit=1)) == made


@pytest.mark.parametrize("filter,named", [
    ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"states": ["nope"]}, "nope"),
    ({"cursor": "x"}, "cursor"), ({"cursor": "0"}, "cursor"), ({"execution_status": "stuck"}, "stuck"),
])
def test_a_bad_task_filter_is_refused_naming_the_field(space: Space, filter: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidArgumentError, match=named):
        space.client.list_tasks(**filter)


@pytest.mark.parametrize("filter,named", [
    ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"condition": "sleepy"}, "sleepy"),
    ({"cursor": "-3"}, "cursor"), ({"states": ["later"]}, "later"),
])
def test_a_bad_step_filter_is_refused_naming_the_field(space: Space, filter: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidArgumentError, match=named):
        space.client.list_steps(**filter)


def test_wait_across_two_processes(space: Space, url: str) -> None:
    handler = space.template("remote")
    task_id = space.client.create_task("remote", {}, namespace=space.ns).task_id
    # This side never polls on PostgreSQL: only the child's commit (NOTIFY) can wake it.
    # SQLite has no cross-process wakeup; there the wait polls.
    poll = 3_600_000 if url.startswith("postgres") else 10
    with tasker.Client(url, poll_interval_ms=poll) as waiter:
        child = subprocess.Popen([sys.executable, str(CHILD), "run", url, handler, str(task_id)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            result = waiter.wait_task(task_id, LONG)
            out, err = child.communicate(timeout=BOUND)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert child.returncode == 0 and out.strip() == "complete", err
    assert result["timed_out"] is False
    assert result["task"]["state"] == "complete"
    assert result["task"]["steps"][0]["results"] == {"by": "child"}


def test_wait_times_out_with_the_current_view(space: Space) -> None:
    space.template("idle")
    task_id = space.client.create_task("idle", {}, namespace=space.ns).task_id
    result = space.client.wait_task(task_id, 0.03)
    assert result["timed_out"] is True
    assert (result["task"]["task_id"], result["task"]["state"]) == (task_id, "pending")
    assert space.client.wait_task(task_id, 0)["timed_out"] is True  # 0 looks once
    with pytest.raises(ValueError):
        space.client.wait_task(task_id, -1)


def test_wait_returns_a_blocked_task(space: Space) -> None:
    c = space.client
    c.register_handler(space.template("doomed"), lambda ctx: (_ for _ in ()).throw(PermanentError("no")))
    task_id = c.create_task("doomed", {}, namespace=space.ns).task_id
    c.run_task(task_id)
    result = c.wait_task(task_id, LONG)
    assert result["timed_out"] is False
    assert result["task"]["execution"]["execution_status"] == "blocked_by_failures"


def test_wait_on_a_missing_task_raises(space: Space) -> None:
    with pytest.raises(tasker.TaskNotFoundError):
        space.client.wait_task(2**62, LONG)


def test_wait_is_interrupted_from_another_thread(url: str, space: Space) -> None:
    space.template("idle")
    task_id = space.client.create_task("idle", {}, namespace=space.ns).task_id
    errors: list[BaseException] = []
    with tasker.Client(url, poll_interval_ms=3_600_000) as waiter:
        def wait() -> None:
            try:
                waiter.wait_task(task_id, LONG)
            except BaseException as exc:  # noqa: BLE001 - examined below
                errors.append(exc)

        thread = threading.Thread(target=wait)
        thread.start()
        # An interrupt ends the calls running when it is made: repeat until the wait ended.
        while thread.is_alive():
            waiter.interrupt()
            thread.join(0.005)
    assert len(errors) == 1 and isinstance(errors[0], CallInterruptedError), errors


def test_ctrl_c_interrupts_a_wait(space: Space, url: str) -> None:
    space.template("idle")
    task_id = space.client.create_task("idle", {}, namespace=space.ns).task_id
    child = subprocess.Popen([sys.executable, str(CHILD), "wait", url, str(task_id)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "waiting"
        time.sleep(0.5)  # let it enter the wait (an hour long): only the signal ends it
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=BOUND)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode != 0 and "KeyboardInterrupt" in err, err

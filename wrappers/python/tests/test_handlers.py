"""Handler kinds, outcomes, exceptions (mandatory: a raising handler leaves the process alive and
the step failed with the exception's class and message), process_results, callback lifetimes."""
from __future__ import annotations

import gc
import subprocess
import sys
import time
from typing import Any

import pytest

import tasker
from tasker import Client, PermanentError, RetryableError, StepContext, StepHandler, _slab


from conftest import FAST, HERE, linear, step

ROOT = HERE.parent


class LookupFailed(Exception):
    pass


def test_raising_handler_becomes_a_failed_attempt(client: Client) -> None:
    client.load_template(linear("boom", "s", s={"default_retry_limit": 2}))

    def explode(ctx: StepContext) -> Any:
        raise LookupFailed(f"no row for attempt {ctx.attempt}")

    client.register_handler("s", explode)
    task = client.create_task("boom", {}, namespace="pytest")
    execution = client.run_task(task.task_id)  # returns normally: nothing crossed the C boundary
    assert execution["execution_status"] == "blocked_by_failures"
    s = step(client.task_view(task.task_id), "s")
    assert s["state"] == "error" and s["attempts"] == 2
    error = s["results"]["error"]
    assert error["class"] == "LookupFailed"
    assert error["message"] == "no row for attempt 2"
    assert error["permanent"] is False
    assert "LookupFailed" in error["details"]["traceback"]
    assert error["details"]["exception"].endswith("LookupFailed")
    # the process is alive and the client still works
    assert client.health()["error_steps"] == 1


def test_raising_handler_in_a_subprocess_exits_cleanly(tmp_path) -> None:
    code = f"""
import sys; sys.path.insert(0, {str(ROOT)!r})
import tasker
with tasker.Client("sqlite://{tmp_path}/x.db") as c:
    c.load_template({{"name": "t", "step_templates": [{{"name": "s", "handler": "s", "default_retry_limit": 1}}]}})
    c.register_handler("s", lambda ctx: 1 / 0)
    t = c.create_task("t", {{}})
    c.run_task(t.task_id)
    e = c.task_view(t.task_id)["steps"][0]["results"]["error"]
    print(e["class"], "|", e["message"])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ZeroDivisionError | division by zero"
    assert "Exception ignored" not in out.stderr and "Traceback" not in out.stderr


def test_retryable_error_with_retry_after_and_custom_class(client: Client) -> None:
    class GatewayBusy(RetryableError):
        pass

    client.load_template(linear("retry", "pay", pay={"default_retry_limit": 3}))

    def pay(ctx: StepContext) -> Any:
        if ctx.attempt < 3:
            raise GatewayBusy("busy (429)", retry_after=0.03, details={"status": 429})
        return {"charged": True, "attempt": ctx.attempt}

    client.register_handler("pay", pay)
    task = client.create_task("retry", {}, namespace="pytest")
    started = time.monotonic()
    client.run_task(task.task_id)
    assert time.monotonic() - started >= 0.05
    s = step(client.task_view(task.task_id), "pay")
    assert s["state"] == "complete" and s["attempts"] == 3 and s["results"] == {"charged": True, "attempt": 3}
    failures = [t for t in s["transitions"] if t["to_state"] == "error"]
    assert [t["metadata"]["backoff_ms"] for t in failures] == [30, 30]


def test_error_class_override_and_details(client: Client) -> None:
    client.load_template(linear("perm", "charge", "ship", charge={"default_retry_limit": 5}))
    client.register_handler("charge", lambda ctx: (_ for _ in ()).throw(
        PermanentError("card declined", error_class="CardDeclined", details={"code": "05"})))
    client.register_handler("ship", lambda ctx: {"shipped": True})
    task = client.create_task("perm", {}, namespace="pytest")
    assert client.run_task(task.task_id)["execution_status"] == "blocked_by_failures"
    view = client.task_view(task.task_id)
    charge = step(view, "charge")
    assert view["state"] == "error"
    assert charge["attempts"] == 1
    assert charge["results"]["error"]["class"] == "CardDeclined"
    assert charge["results"]["error"]["permanent"] is True
    assert charge["results"]["error"]["details"] == {"code": "05"}
    assert step(view, "ship")["state"] == "pending"


class Enrich(StepHandler):
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def process(self, context: StepContext) -> Any:
        return {"raw": context.context["n"]}

    def process_results(self, context: StepContext, output: Any) -> Any:
        self.seen.append(output)
        return {"final": output["raw"] * 10, "step": context.step_name}


def test_process_results_shapes_the_persisted_results(client: Client) -> None:
    client.load_template(linear("pr", "e", "plain"))
    enrich = client.register_handler("e", Enrich())
    client.register_handler("plain", lambda ctx: {"got": ctx.dependency_results["e"]})
    task = client.create_task("pr", {"n": 4}, namespace="pytest")
    client.run_task(task.task_id)
    view = client.task_view(task.task_id)
    assert enrich.seen == [{"raw": 4}]
    assert step(view, "e")["results"] == {"final": 40, "step": "e"}
    assert step(view, "plain")["results"] == {"got": {"final": 40, "step": "e"}}


def test_process_results_raising_is_a_failed_attempt(client: Client) -> None:
    class Bad(StepHandler):
        def process(self, context: StepContext) -> Any:
            return {"x": 1}

        def process_results(self, context: StepContext, output: Any) -> Any:
            raise PermanentError(f"cannot store {output['x']}")

    client.load_template(linear("prf", "s"))
    client.register_handler("s", Bad)  # a class is instantiated
    task = client.create_task("prf", {}, namespace="pytest")
    client.run_task(task.task_id)
    error = step(client.task_view(task.task_id), "s")["results"]["error"]
    assert (error["class"], error["message"], error["permanent"]) == ("PermanentError", "cannot store 1", True)


def test_handler_kinds_and_context(client: Client) -> None:
    client.load_template(linear("kinds", "one", "two", "three"))
    seen: dict[str, StepContext] = {}

    @client.handler("one")
    def one(ctx: StepContext) -> Any:
        seen["one"] = ctx
        return None  # -> {}

    class Two(StepHandler):
        def process(self, context: StepContext) -> Any:
            return [1, "two", 3.5, None, True]

    client.register_handler("two", Two())
    client.register_handler("three", lambda ctx: {"deps": ctx.dependency_results, "inputs": ctx.inputs})
    task = client.create_task("kinds", {"k": "v"}, namespace="pytest", initiator="pytest",
                              tags=["t1"], step_inputs={"three": {"strict": True}})
    client.run_task(task.task_id)
    view = client.task_view(task.task_id)
    ctx = seen["one"]
    assert ctx.task_id == task.task_id and ctx.step_name == "one" and ctx.attempt == 1
    assert ctx.context == {"k": "v"} and ctx.task["initiator"] == "pytest" and ctx.task["tags"] == ["t1"]
    assert ctx.claim_token and ctx.step_id == step(view, "one")["step_id"]
    assert step(view, "one")["results"] == {}
    assert step(view, "two")["results"] == [1, "two", 3.5, None, True]
    assert step(view, "three")["results"] == {"deps": {"two": [1, "two", 3.5, None, True]}, "inputs": {"strict": True}}


def test_unserialisable_output_is_a_failed_attempt(client: Client) -> None:
    client.load_template(linear("ser", "s", s={"default_retry_limit": 1}))
    client.register_handler("s", lambda ctx: {"when": object()})
    task = client.create_task("ser", {}, namespace="pytest")
    client.run_task(task.task_id)
    error = step(client.task_view(task.task_id), "s")["results"]["error"]
    assert error["class"] == "TypeError" and "serializ" in error["message"]


def test_non_string_keys_are_rejected_by_libtasker(client: Client) -> None:
    client.load_template(linear("keys", "s", s={"default_retry_limit": 1}))
    client.register_handler("s", lambda ctx: {1: "int key"})
    task = client.create_task("keys", {}, namespace="pytest")
    client.run_task(task.task_id)
    error = step(client.task_view(task.task_id), "s")["results"]["error"]
    assert error["class"] == "TypeError" and "rejected by libtasker" in error["message"]


def test_heartbeat_only_while_running(client: Client) -> None:
    client.load_template(linear("hb", "s"))
    kept: list[StepContext] = []

    def slow(ctx: StepContext) -> Any:
        kept.append(ctx)
        expires = ctx.heartbeat()
        return {"expires": expires}

    client.register_handler("s", slow)
    task = client.create_task("hb", {}, namespace="pytest")
    client.run_task(task.task_id)
    expires = step(client.task_view(task.task_id), "s")["results"]["expires"]
    assert expires > time.time() * 1000
    with pytest.raises(tasker.InvalidStateError):
        kept[0].heartbeat()


def test_callbacks_survive_garbage_collection(client: Client) -> None:
    client.load_template(linear("gc", "s"))
    client.register_handler("s", lambda ctx: {"closure": ctx.context["v"] * 2})
    sub_events: list[str] = []
    client.subscribe("step.completed", lambda e: sub_events.append(e["step_name"]))
    gc.collect()
    task = client.create_task("gc", {"v": 21}, namespace="pytest")
    client.run_task(task.task_id)
    assert step(client.task_view(task.task_id), "s")["results"] == {"closure": 42}
    assert sub_events == ["s"]


def test_userdata_finalizers_run_exactly_once(db_url: str) -> None:
    before = _slab.size()
    client = Client(db_url)
    client.load_template(linear("fin", "s"))
    client.register_handler("s", lambda ctx: 1)
    assert _slab.size() == before + 1
    client.register_handler("s", lambda ctx: 2)  # replacing frees the first
    assert _slab.size() == before + 1
    client.subscribe(None, lambda e: None)
    client.set_queue_injector(enqueue_task=lambda i, d: None, enqueue_step=lambda i, d: None)
    assert _slab.size() == before + 3
    client.set_queue_injector(None)
    assert _slab.size() == before + 2
    assert client.unregister_handler("s") is True
    assert client.unregister_handler("s") is False
    assert _slab.size() == before + 1
    client.close()
    assert _slab.size() == before


def test_unregistered_handler_fails_permanently(client: Client) -> None:
    client.load_template(linear("nohandler", "s"))
    task = client.create_task("nohandler", {}, namespace="pytest")
    client.run_task(task.task_id)
    error = step(client.task_view(task.task_id), "s")["results"]["error"]
    assert error["class"] == "HandlerNotFound" and error["permanent"] is True


def test_keyboard_interrupt_in_handler_is_reraised_after_the_call(client: Client) -> None:
    client.load_template(linear("kbd", "s"))

    def interrupted(ctx: StepContext) -> Any:
        raise KeyboardInterrupt("stop now")

    client.register_handler("s", interrupted)
    task = client.create_task("kbd", {}, namespace="pytest")
    with pytest.raises(KeyboardInterrupt):
        client.run_task(task.task_id)
    # Not a failure of the step: the run was aborted and the step given back (issue #12).
    s = step(client.task_view(task.task_id), "s")
    assert s["state"] == "pending" and s["attempts"] == 0
    assert all(t["to_state"] != "error" for t in s["transitions"])
    client.health()  # nothing stays stashed


def test_bad_handler_argument(client: Client) -> None:
    with pytest.raises(TypeError):
        client.register_handler("x", 42)  # type: ignore[arg-type]
    with pytest.raises(tasker.InvalidArgumentError):
        client.register_handler("", lambda ctx: 1)


def test_close_from_inside_a_handler_is_refused(client: Client) -> None:
    client.load_template(linear("inside", "s"))
    caught: list[BaseException] = []

    def closer(ctx: StepContext) -> Any:
        try:
            client.close()
        except tasker.InvalidStateError as exc:
            caught.append(exc)
        return {"view_inside": client.execution_context(ctx.task_id)["task_state"]}

    client.register_handler("s", closer)
    task = client.create_task("inside", {}, namespace="pytest")
    client.run_task(task.task_id)
    assert len(caught) == 1 and "inside a call" in caught[0].message
    assert step(client.task_view(task.task_id), "s")["results"] == {"view_inside": "in_progress"}


def test_fast_options_are_used(db_url: str) -> None:
    with Client(db_url, **FAST) as client:
        assert not client.closed

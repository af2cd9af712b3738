"""Client.call_handler (tasker_call_handler): one handler call on this thread, without the
database; the outcome is a document, a handler's failure is an outcome, not an exception."""
from __future__ import annotations

import threading
from typing import Any

import pytest

import tasker
from tasker import Client, PermanentError, RetryableError, StepContext, StepHandler


class InventoryOffline(Exception):
    pass


def test_registered_handler_reads_the_context_and_completes(client: Client) -> None:
    seen: dict[str, Any] = {}

    def measure(ctx: StepContext) -> Any:
        seen.update(task_id=ctx.task_id, step=ctx.step_name, attempt=ctx.attempt, claim=ctx.claim_token,
                    deps=ctx.dependency_results, thread=threading.current_thread())
        return {"len": len(ctx.context["payload"]), "handler": ctx.step["handler"]}

    client.register_handler("measure", measure)
    outcome = client.call_handler({
        "task": {"task_id": 7, "namespace": "pytest", "name": "t", "context": {"payload": "x" * 1234}},
        "step": {"step_id": 9, "name": "measure_step", "handler": "measure", "attempt": 2},
        "dependency_results": {"prev": {"n": 1}},
        "claim_token": "tok",
    })
    assert outcome == {"status": "completed", "results": {"len": 1234, "handler": "measure"}}
    assert seen == {"task_id": 7, "step": "measure_step", "attempt": 2, "claim": "tok",
                    "deps": {"prev": {"n": 1}}, "thread": threading.current_thread()}
    # missing fields take defaults; None output is stored as {}
    client.register_handler("empty", lambda ctx: None)
    assert client.call_handler({"step": {"handler": "empty"}}) == {"status": "completed", "results": {}}


def test_process_results_runs_and_nothing_reaches_the_database(client: Client) -> None:
    class Receipt(StepHandler):
        def process(self, ctx: StepContext) -> Any:
            return {"total": ctx.dependency_results["price"]["cents"] * ctx.inputs["qty"]}

        def process_results(self, ctx: StepContext, output: Any) -> Any:
            return {**output, "receipt": f"R-{ctx.task_id}-{ctx.attempt}"}

    client.register_handler("receipt", Receipt)
    outcome = client.call_handler({
        "task": {"task_id": 3},
        "step": {"handler": "receipt", "attempt": 2, "inputs": {"qty": 3}},
        "dependency_results": {"price": {"cents": 250}},
    })
    assert outcome == {"status": "completed", "results": {"total": 750, "receipt": "R-3-2"}}
    health = client.health()
    assert health["total_tasks"] == 0 and health["total_steps"] == 0


def test_raising_handler_is_a_failed_outcome_with_its_class(client: Client) -> None:
    def offline(ctx: StepContext) -> Any:
        raise InventoryOffline("warehouse 3 is offline")

    client.register_handler("offline", offline)
    outcome = client.call_handler({"step": {"handler": "offline"}})
    assert outcome["status"] == "failed"
    assert "results" not in outcome
    error = outcome["error"]
    assert error["class"] == "InventoryOffline"
    assert error["message"] == "warehouse 3 is offline"
    assert error["retryable"] is True
    assert "InventoryOffline" in error["details"]["traceback"]
    assert error["details"]["exception"].endswith("InventoryOffline")


def test_step_errors_keep_class_retry_after_and_details(client: Client) -> None:
    def busy(ctx: StepContext) -> Any:
        raise RetryableError("gateway busy", retry_after=2.0, error_class="GatewayBusy", details={"gateway": "g1"})

    def declined(ctx: StepContext) -> Any:
        raise PermanentError("bad card", error_class="CardDeclined")

    client.register_handler("busy", busy)
    client.register_handler("declined", declined)
    assert client.call_handler({"step": {"handler": "busy"}}) == {"status": "failed", "error": {
        "class": "GatewayBusy", "message": "gateway busy", "retryable": True, "retry_after": 2.0,
        "details": {"gateway": "g1"}}}
    error = client.call_handler({"step": {"handler": "declined"}})["error"]
    assert error["class"] == "CardDeclined" and error["retryable"] is False


def test_unknown_handler_is_a_failed_outcome(client: Client) -> None:
    outcome = client.call_handler({"step": {"handler": "nobody", "name": "s"}})
    assert outcome["status"] == "failed"
    assert outcome["error"]["class"] == "HandlerNotFound"
    assert outcome["error"]["retryable"] is False
    assert "nobody" in outcome["error"]["message"]
    # an empty context names no handler at all
    assert client.call_handler({})["error"]["class"] == "HandlerNotFound"


def test_heartbeat_inside_call_handler_is_a_stale_claim(client: Client) -> None:
    raised: list[BaseException] = []

    def beat(ctx: StepContext) -> Any:
        try:
            ctx.heartbeat()
        except tasker.StaleClaimError as exc:
            raised.append(exc)
        return {"ok": True}

    client.register_handler("beat", beat)
    assert client.call_handler({"step": {"handler": "beat"}}) == {"status": "completed", "results": {"ok": True}}
    assert len(raised) == 1 and raised[0].name == "stale_claim"


def test_malformed_context_raises_invalid_argument(client: Client) -> None:
    client.register_handler("h", lambda ctx: {})
    # wrongly typed fields: libtasker cannot decode the document (the call fails, no outcome)
    for bad in ({"task": "not a map"}, {"step": {"attempt": "two"}}, {"step": {"handler": 5}},
                {"task": {"task_id": "seven"}}):
        with pytest.raises(tasker.InvalidArgumentError) as info:
            client.call_handler(bad)
        assert info.value.code == 2 and info.value.name == "invalid_argument", bad
        assert "step context" in info.value.message
    # a non-mapping never reaches libtasker
    for bad in (None, [1, 2], "ctx", b"\xc1"):
        with pytest.raises(TypeError):
            client.call_handler(bad)  # type: ignore[arg-type]
    # the client still works
    assert client.call_handler({"step": {"handler": "h"}})["status"] == "completed"


def test_keyboard_interrupt_in_call_handler_is_reraised(client: Client) -> None:
    def interrupted(ctx: StepContext) -> Any:
        raise KeyboardInterrupt("stop now")

    client.register_handler("kbd", interrupted)
    with pytest.raises(KeyboardInterrupt):
        client.call_handler({"step": {"handler": "kbd"}})
    assert client.call_handler({"step": {"handler": "nobody"}})["status"] == "failed"  # nothing stays stashed


def test_call_handler_on_a_closed_client(db_url: str) -> None:
    client = Client(db_url)
    client.close()
    with pytest.raises(tasker.InvalidStateError):
        client.call_handler({"step": {"handler": "h"}})

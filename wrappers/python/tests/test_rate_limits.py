"""A step template's rate limit is part of the template document: registered through the
wrapper, applied by the engine, and refused with the engine's message when invalid
(docs/FLOW_CONTROL.md)."""
from __future__ import annotations

import pytest

import tasker
from tasker import Client

from conftest import linear


def test_a_rate_limited_step_runs(client: Client) -> None:
    client.register_handler("call", lambda ctx: {"customer": ctx.context["customer"]})
    rate = {"limit": 5, "per_ms": 1000, "key": "/customer"}
    client.load_template(linear("rated", "call", call={"rate_limit": rate}))
    created = client.create_task("rated", {"customer": "c-1"}, namespace="pytest")
    assert client.run_task(created.task_id)["task_state"] == "complete"


def test_an_invalid_rate_is_refused(client: Client) -> None:
    with pytest.raises(tasker.InvalidTemplateError) as info:
        client.load_template(linear("rated", "call", call={"rate_limit": {"limit": 5, "per_ms": 0}}))
    assert "rate_limit.per_ms must be within" in info.value.message

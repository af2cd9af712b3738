"""A step template's concurrency limit is part of the template document: registered through the
wrapper, enforced by the engine, and refused with the engine's message when invalid
(docs/FLOW_CONTROL.md)."""
from __future__ import annotations

import pytest

import tasker
from tasker import Client

from conftest import linear


def test_a_limited_step_runs(client: Client) -> None:
    client.register_handler("call", lambda ctx: {"customer": ctx.context["customer"]})
    client.load_template(linear("limited", "call", call={"concurrency": {"limit": 2, "key": "/customer"}}))
    created = client.create_task("limited", {"customer": "c-1"}, namespace="pytest")
    assert client.run_task(created.task_id)["task_state"] == "complete"


def test_an_invalid_limit_is_refused(client: Client) -> None:
    with pytest.raises(tasker.InvalidTemplateError) as info:
        client.load_template(linear("limited", "call", call={"concurrency": {"limit": 0}}))
    assert "concurrency.limit must be within 1..=100000" in info.value.message

"""A task request's priority reaches the engine: a higher one is claimed first, one out of range
is refused (docs/SCHEDULING.md)."""
from __future__ import annotations

import pytest

import tasker
from tasker import Client

from conftest import FAST, linear


def test_higher_priority_is_claimed_first(db_url: str) -> None:
    ran: list[str] = []
    with Client(db_url, **FAST, claim_batch=1, adaptive_claim=False) as client:
        client.register_handler("job", lambda ctx: ran.append(ctx.context["who"]) or {})
        client.load_template(linear("prio", "job"))
        client.create_task("prio", {"who": "low"}, namespace="pytest", priority=-10)
        client.create_task("prio", {"who": "high"}, namespace="pytest", priority=10)
        with client.worker() as worker:
            assert worker.run_once() == 1
        assert ran == ["high"]


def test_priority_out_of_range_is_refused(client: Client) -> None:
    client.load_template(linear("prio", "job"))
    with pytest.raises(tasker.InvalidRequestError) as info:
        client.create_task("prio", {}, namespace="pytest", priority=101)
    assert "priority must be within -100..=100" in info.value.message

"""Cron schedules through the wrapper (docs/SCHEDULING.md): define, fire once per tick at a
chosen time, disable, list, delete; bad expressions refused; on SQLite and PostgreSQL (the
PostgreSQL database is shared by the suite, so names are this test's own)."""
from __future__ import annotations

import time
import uuid

import pytest

import tasker
from tasker import InvalidRequestError, UnknownTemplateError


def test_a_schedule_fires_once_per_tick_and_can_be_disabled_and_deleted(url: str) -> None:
    ns = f"s{uuid.uuid4().hex[:12]}"
    with tasker.Client(url) as client:
        client.load_template({"name": "report", "namespace_name": ns, "version": "1.0.0",
                              "step_templates": [{"name": "only", "handler": f"{ns}_only"}]})
        name = f"{ns}-every-second"
        stored = client.upsert_schedule(name, template="report", namespace=ns, cron="* * * * * *",
                                        context={"kind": "daily"}, missed="catch_up", max_catch_up=3)
        assert stored["name"] == name and stored["missed"] == "catch_up" and stored["max_catch_up"] == 3
        later = int(time.time() * 1000) + 3_600_000
        assert client.fire_due_schedules(later) == 3  # an hour of missed ticks: the latest 3
        assert client.fire_due_schedules(later) == 0
        tasks = list(client.iter_tasks(namespace=ns))
        assert len(tasks) == 3
        assert {t["initiator"] for t in tasks} == {f"schedule:{name}"}
        assert client.set_schedule_enabled(name, False)
        mine = [s for s in client.schedules() if s["name"] == name]
        assert len(mine) == 1 and mine[0]["enabled"] is False
        assert client.fire_due_schedules(later + 10_000) == 0
        assert client.delete_schedule(name)
        assert not client.delete_schedule(name)
        assert not client.set_schedule_enabled(name, True)
        for task in tasks:
            client.cancel_task(task["task_id"])


def test_bad_schedules_are_refused(url: str) -> None:
    with tasker.Client(url) as client:
        with pytest.raises(InvalidRequestError, match="cron expression '61 \\* \\* \\* \\*'"):
            client.upsert_schedule("bad", template="any", cron="61 * * * *")
        with pytest.raises(InvalidRequestError, match="unknown time zone"):
            client.upsert_schedule("bad", template="any", cron="* * * * *", time_zone="Nowhere/City")
        with pytest.raises(UnknownTemplateError):
            client.upsert_schedule("bad", template=f"missing{uuid.uuid4().hex[:8]}", cron="* * * * *")

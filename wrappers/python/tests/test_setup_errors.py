"""Setup mistakes a newcomer makes get errors naming what to fix (issue #12 point 6)."""
from __future__ import annotations

from pathlib import Path

import pytest

import tasker
from tasker import Client

from conftest import FAST, linear


def test_unreachable_postgres_names_where_and_the_variable() -> None:
    with pytest.raises(tasker.DatabaseError) as info:
        Client("postgres://u:pw@127.0.0.1:1/db", connect_timeout_ms=500)
    msg = str(info.value)
    assert "127.0.0.1:1" in msg and "TASKER_DATABASE_URL" in msg and "pw@" not in msg


def test_sqlite_in_a_missing_directory_names_it(tmp_path: Path) -> None:
    with pytest.raises(tasker.ConfigError) as info:
        Client(f"sqlite://{tmp_path}/no/such/dir/tasker.db")
    assert f"{tmp_path}/no/such/dir" in str(info.value) and "does not exist" in str(info.value)


def test_missing_template_file_says_no_such_file(db_url: str) -> None:
    with Client(db_url, **FAST) as c:
        for source in ("templates/missing", "templates/missing.yaml"):
            with pytest.raises(tasker.InvalidTemplateError) as info:
                c.load_template(source)
            assert "no such file" in str(info.value).lower(), str(info.value)


def test_duplicate_handler_is_refused_when_asked(db_url: str) -> None:
    with Client(db_url, on_duplicate_handler="error", **FAST) as c:
        c.register_handler("a", lambda ctx: {})
        with pytest.raises(tasker.InvalidStateError) as info:
            c.register_handler("a", lambda ctx: {})
        assert "'a' is already registered" in str(info.value)
    with Client(db_url, **FAST) as c:  # default: replaced with a warning
        c.register_handler("a", lambda ctx: {})
        c.register_handler("a", lambda ctx: {})


def test_worker_reports_missing_handlers_at_start(db_url: str) -> None:
    with Client(db_url, on_missing_handler="error", **FAST) as c:
        c.load_template(linear("two", "first", "second"))
        c.register_handler("first", lambda ctx: {})
        with pytest.raises(tasker.InvalidStateError) as info:
            tasker.Worker(c).run()
        assert "'second' (step 'second' of pytest/two 1.0.0)" in str(info.value)

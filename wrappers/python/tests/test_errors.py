"""Failed calls raise typed exceptions carrying the result code, its name and libtasker's message."""
from __future__ import annotations

from pathlib import Path

import pytest

import tasker
from tasker import Client

from conftest import FAST, linear


def test_bad_url_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(tasker.ConfigError) as info:
        Client("mysql://nowhere")
    assert info.value.code == 14 and info.value.name == "config"
    assert "unsupported database URL" in info.value.message


@pytest.mark.parametrize("url", ["Postgres://u:s3cret@h/db", " postgres://u:s3cret@h/db", "mysql://u:s3cret@h"])
def test_config_error_masks_the_password(url: str) -> None:
    with pytest.raises(tasker.ConfigError) as info:
        Client(url)
    assert "s3cret" not in str(info.value) and "u:***@h" in info.value.message


def test_repr_masks_the_password(db_url: str) -> None:
    from tasker.client import redact_url

    assert redact_url("postgres://u:s3cret@host/db") == "postgres://u:***@host/db"
    assert redact_url("postgres://u:p@ss@host/db?password=x&a=1") == "postgres://u:***@host/db?password=***&a=1"
    assert redact_url("sqlite::memory:") == "sqlite::memory:"
    with Client(db_url) as client:
        client.url = "postgres://u:s3cret@host/db"  # as a PostgreSQL client would hold it
        assert "s3cret" not in repr(client) and "u:***@host" in repr(client)


def test_unknown_option_is_an_invalid_argument(db_url: str) -> None:
    with pytest.raises(tasker.InvalidArgumentError) as info:
        Client(db_url, bogus=1)
    assert info.value.code == 2 and info.value.name == "invalid_argument"
    assert "bogus" in info.value.message
    assert str(info.value).startswith("invalid_argument: ")


def test_template_errors(client: Client) -> None:
    with pytest.raises(tasker.InvalidTemplateError) as info:
        client.load_template("name: t\nstep_templates:\n  - {name: a, handler: a, bogus: 1}\n")
    assert info.value.name == "invalid_template" and "bogus" in info.value.message
    with pytest.raises(tasker.TemplateCycleError) as cycle:
        client.load_template({"name": "t", "step_templates": [
            {"name": "a", "handler": "a", "depends_on_step": "b"},
            {"name": "b", "handler": "b", "depends_on_step": "a"}]})
    assert cycle.value.code == 4 and "a -> b -> a" in cycle.value.message
    assert isinstance(cycle.value, tasker.TemplateError)
    with pytest.raises(tasker.InvalidTemplateError, match="malformed YAML"):
        client.load_template(": : :\n")
    with pytest.raises(tasker.InvalidTemplateError):
        client.load_template(Path("/nonexistent/template.yaml"))


def test_request_errors(db_url: str) -> None:
    with Client(db_url, max_payload_bytes=100, reject_duplicates=True, **FAST) as client:
        template = linear("req", "a")
        template["schema"] = {"type": "object", "required": ["x"]}
        client.load_template(template)
        with pytest.raises(tasker.UnknownTemplateError) as unknown:
            client.create_task("nope")
        assert unknown.value.name == "unknown_template" and "nope" in unknown.value.message
        with pytest.raises(tasker.SchemaValidationError, match="required"):
            client.create_task("req", {}, namespace="pytest")
        with pytest.raises(tasker.PayloadTooLargeError) as big:
            client.create_task("req", {"x": "y" * 500}, namespace="pytest")
        assert big.value.code == 8 and "limit is 100" in big.value.message
        with pytest.raises(tasker.InvalidRequestError):
            client.create_task("req", {"x": 1}, namespace="pytest", bypass_steps=["a"])
        first = client.create_task("req", {"x": 1}, namespace="pytest")
        assert first.created
        with pytest.raises(tasker.DuplicateTaskError, match=f"task {first.task_id}"):
            client.create_task("req", {"x": 1}, namespace="pytest")
        assert isinstance(big.value, tasker.RequestError)


def test_lookup_and_state_errors(client: Client) -> None:
    client.load_template(linear("look", "a"))
    client.register_handler("a", lambda ctx: {"ok": True})
    with pytest.raises(tasker.TaskNotFoundError) as missing:
        client.task_view(424242)
    assert missing.value.code == 10 and missing.value.name == "task_not_found"
    assert isinstance(missing.value, LookupError) and isinstance(missing.value, tasker.NotFoundError)
    with pytest.raises(tasker.StepNotFoundError, match="step 424242 not found"):
        client.retry_step(424242)
    task = client.create_task("look", {}, namespace="pytest")
    with pytest.raises(tasker.IllegalTransitionError, match="only a step in error"):
        client.retry_step(client.step_id(task.task_id, "a"))
    client.run_task(task.task_id)
    with pytest.raises(tasker.IllegalTransitionError):
        client.cancel_task(task.task_id)
    with pytest.raises(tasker.StepNotFoundError):
        client.step_id(task.task_id, "zz")


def test_closed_client_raises_invalid_state(db_url: str) -> None:
    client = Client(db_url)
    client.close()
    client.close()  # idempotent
    assert client.closed
    with pytest.raises(tasker.InvalidStateError, match="closed") as info:
        client.health()
    assert info.value.code == 18 and info.value.name == "invalid_state"


def test_errors_pickle_and_compare() -> None:
    import pickle

    err = tasker.TaskNotFoundError(10, "task_not_found", "task 1 not found")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is tasker.TaskNotFoundError and back.message == err.message and back.code == 10

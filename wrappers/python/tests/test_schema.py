"""The wrapper's document types against docs/schema/documents.schema.json, the schema generated
from libtasker's serde types (`make schema`): a field renamed on either side fails here."""
from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, get_type_hints

import pytest

import tasker
from tasker import types
from tasker.handler import StepContext

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "docs" / "schema" / "documents.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())


def definition(name: str) -> dict[str, Any]:
    return SCHEMA["$defs"][name]


def properties(name: str) -> set[str]:
    """The keys a document may have; for a tagged union, those of any variant."""
    d = definition(name)
    variants = d.get("oneOf", [d])
    return {key for v in variants for key in v.get("properties", {})}


def required(name: str) -> set[str]:
    """The keys every variant requires (a TypedDict of a union declares all of them)."""
    d = definition(name)
    variants = d.get("oneOf", [d])
    return {key for v in variants for key in v.get("required", [])}


# Each TypedDict of tasker.types and the schema definition of the document it describes.
TYPED_DICTS = {
    "Transition": "TransitionView",
    "ExecutionContext": "ExecutionContext",
    "StepView": "StepView",
    "TaskView": "TaskView",
    "Health": "HealthCounts",
    "StepOutcome": "StepOutcome",
    "HandlerOutcome": "HandlerCall",
    "HandlerFailure": "StepError",
    "Event": "Event",
    "TaskWait": "TaskWait",
    "TaskSummary": "TaskSummary",
    "StepSummary": "StepSummary",
    "TaskPage": "TaskSummaryPage",
    "StepPage": "StepSummaryPage",
    "PurgeReport": "PurgeReport",
}


def test_every_typed_dict_is_checked() -> None:
    declared = {name for name, value in vars(types).items()
                if isinstance(value, type) and issubclass(value, dict) and value.__module__ == types.__name__}
    assert declared == set(TYPED_DICTS)


@pytest.mark.parametrize("py_name,schema_name", sorted(TYPED_DICTS.items()))
def test_typed_dict_matches_schema(py_name: str, schema_name: str) -> None:
    keys = set(get_type_hints(getattr(types, py_name)))
    unknown = keys - properties(schema_name)
    assert not unknown, f"{py_name} declares keys the {schema_name} document does not have: {sorted(unknown)}"
    missing = required(schema_name) - keys
    assert not missing, f"{py_name} lacks keys the {schema_name} document always has: {sorted(missing)}"


def test_create_task_arguments_are_task_request_fields() -> None:
    params = set(inspect.signature(tasker.Client.create_task).parameters) - {"self"}
    assert params <= properties("TaskRequest"), sorted(params - properties("TaskRequest"))
    assert required("TaskRequest") <= params


@pytest.mark.parametrize("method,schema_name", [("list_tasks", "TaskFilter"), ("list_steps", "StepFilter")])
def test_list_arguments_are_the_filter_fields(method: str, schema_name: str) -> None:
    params = set(inspect.signature(getattr(tasker.Client, method)).parameters) - {"self"}
    assert params == properties(schema_name), sorted(params ^ properties(schema_name))


def sample(name: str) -> dict[str, Any]:
    """A document whose every value names its own key, so a reader of the wrong key is caught."""
    return {key: f"<{name}.{key}>" for key in properties(name)}


def test_step_context_reads_schema_fields() -> None:
    doc = sample("StepContext")
    doc["task"] = sample("TaskInfo")
    doc["step"] = sample("StepInfo")
    doc["dependency_results"] = {"a": "<result a>"}
    ctx = StepContext(doc)
    # Each StepContext attribute and the document field it returns (docs/ABI.md naming table).
    reads = {
        "context": "<TaskInfo.context>",
        "inputs": "<StepInfo.inputs>",
        "handler_config": "<StepInfo.handler_config>",
        "claim_token": "<StepContext.claim_token>",
        "last_checkpoint": "<StepContext.checkpoint>",
        "dependency_results": {"a": "<result a>"},
    }
    for attr, expected in reads.items():
        assert getattr(ctx, attr) == expected, attr
    assert ctx.dependency_result("a") == "<result a>"
    for attr, (part, key) in {"task_id": ("task", "task_id"), "step_id": ("step", "step_id"),
                              "attempt": ("step", "attempt"), "retry_limit": ("step", "retry_limit"),
                              "step_name": ("step", "name")}.items():
        assert key in properties("TaskInfo" if part == "task" else "StepInfo"), (attr, key)
        doc[part][key] = 7 if attr != "step_name" else "seven"
        assert getattr(StepContext(doc), attr) == doc[part][key], attr

"""Decision steps: the output by which a decision handler chooses its steps."""

from __future__ import annotations

from typing import Any

ACTIVATE_KEY = "activate"


def activate(*names: str, **results: Any) -> dict[str, Any]:
    """The output of a `type: decision` step's handler that creates the candidates `names`
    (none, one or several; docs/DYNAMIC_WORKFLOWS.md); `results` are stored beside the choice.
    A name that is not a candidate fails the step permanently (class "InvalidDecision")."""
    return {**results, ACTIVATE_KEY: list(names)}

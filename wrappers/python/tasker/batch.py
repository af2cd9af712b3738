"""Batch fan-out: the output by which a batchable handler splits its work, and the
convergence step's per-batch results (docs/DYNAMIC_WORKFLOWS.md, "batchable / batch_worker")."""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

BATCHES_KEY = "batches"
TOLERATED_KEY = "tolerated"


def batches(specs: Iterable[Any], **results: Any) -> dict[str, Any]:
    """The output of a `type: batchable` step's handler: one worker step per spec, each spec
    becoming its worker's `inputs` (`ctx.inputs`); `results` are stored beside the batches.
    More than the template's `max_batches` fails the step permanently (class "TooManyBatches")."""
    return {**results, BATCHES_KEY: list(specs)}


def no_batches(**results: Any) -> dict[str, Any]:
    """A batchable handler's output that creates no worker: the convergence step still runs."""
    return batches([], **results)


def batch_results(
    dependency_results: Mapping[str, Any], worker: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A convergence step's batches of `worker`, by instance name (`<worker>_001`, ...), in batch
    order: (succeeded: name -> result, failed: name -> error document). Failed batches appear
    only under `failure: continue_on_failure`, as the failure the fan-out tolerated."""
    pattern = re.compile(re.escape(worker) + r"_[0-9]+")
    succeeded: dict[str, Any] = {}
    failed: dict[str, Any] = {}
    for name in sorted(n for n in dependency_results if pattern.fullmatch(n)):
        r = dependency_results[name]
        if isinstance(r, Mapping) and r.get(TOLERATED_KEY) is True and "error" in r:
            failed[name] = r["error"]
        else:
            succeeded[name] = r
    return succeeded, failed

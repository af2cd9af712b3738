#!/usr/bin/env python3
"""Conformance runner (ffi-tests/conformance/README.md) for the Python binding.

    python3 conformance/runner.py sqlite
    python3 conformance/runner.py postgres --url postgres://...   (default: $TASKER_CONFORMANCE_PG_URL)
    python3 conformance/runner.py sqlite --only 05_retry_after

Prints `PASS <backend> <scenario>` / `FAIL <backend> <scenario>: <message>` per scenario and
`python-conformance-<backend>: N passed, N failed`; exits 1 when any scenario failed.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import tasker  # noqa: E402
from tasker import Client, PermanentError, RetryableError, StepContext, TaskerError  # noqa: E402

REPO = HERE.parents[2]
SCENARIOS = REPO / "ffi-tests" / "conformance" / "scenarios"
RUN_ID = f"py-{os.getpid()}-{uuid.uuid4().hex[:8]}"
BASE_OPTIONS: dict[str, Any] = {
    "backoff": {"base_ms": 5, "factor": 2.0, "max_ms": 40},
    "poll_interval_ms": 10,
    "lease_check_interval_ms": 50,
}


class ConformanceError(Exception):
    """The error the `raise` behaviour raises; must be recorded with this class name."""


class Failure(Exception):
    pass


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise Failure(message)


def checkpointed(ctx: StepContext, fail_at: int | None) -> Any:
    """Resumes at the checkpoint's cursor, checkpoints after each item, fails once at fail_at."""
    items = ctx.context.get("items", [])
    cp = ctx.last_checkpoint or {}
    cursor, before = int(cp.get("cursor", 0)), list(cp.get("processed", []))
    mine: list[Any] = []
    for i in range(cursor, len(items)):
        if ctx.attempt == 1 and i == fail_at:
            raise RetryableError(f"failed at item {i}", error_class="CheckpointedFailure")
        mine.append(items[i])
        ctx.checkpoint({"cursor": i + 1, "processed": before + [mine]})
    return {"processed": before + [mine], "resumed_from": cursor}


def cancel_own_task(ctx: StepContext, client: Client, seen: dict[str, list[str]]) -> Any:
    """The stop reason, the task cancelled from another thread, the stop reason again, then the
    heartbeat's result; remembered under the step's name (the output is discarded)."""
    saw = [ctx.stop_reason() or "none"]
    canceller = threading.Thread(target=client.cancel_task, args=(ctx.task_id,))
    canceller.start()
    canceller.join()
    saw.append(ctx.stop_reason() or "none")
    try:
        ctx.heartbeat()
        saw.append("ok")
    except tasker.StaleClaimError:
        saw.append("stale_claim")
    seen[ctx.step_name] = saw
    return {"seen": saw}


def make_handler(
    spec: dict[str, Any],
    executions: collections.Counter[int],
    lock: threading.Lock,
    client: Client,
    seen: dict[str, list[str]],
):
    behavior = spec["behavior"]

    def handler(ctx: StepContext) -> Any:
        with lock:
            executions[ctx.step_id] += 1
        deps = sorted(ctx.dependency_results)
        if behavior == "square":
            if ctx.dependency_results:
                v = sum(int((r or {}).get("value", 0)) for r in ctx.dependency_results.values())
            else:
                v = int(ctx.context.get("n", 0))
            return {"value": v * v, "deps": deps}
        if behavior == "echo":
            out = {k: v for k, v in ctx.context.items() if k != "conformance_run"}
            out["step"] = ctx.step_name
            out["deps"] = deps
            return out
        if behavior == "length":
            return {"length": len(ctx.context.get("blob", ""))}
        if behavior == "fail_then_succeed":
            if ctx.attempt <= int(spec.get("failures", 0)):
                raise RetryableError(
                    f"transient failure on attempt {ctx.attempt}",
                    retry_after=spec.get("retry_after"),
                    error_class=spec.get("class", "TransientError"),
                )
            return {"value": ctx.attempt}
        if behavior == "fail_permanently":
            raise PermanentError(spec.get("message", "permanent failure"), error_class=spec.get("class"))
        if behavior == "fail_always":
            raise RetryableError(spec.get("message", "failure"), error_class=spec.get("class"))
        if behavior == "raise":
            raise ConformanceError(spec.get("message", "boom"))
        if behavior == "sleep":
            time.sleep(int(spec.get("ms", 0)) / 1000)
            return {"value": 1}
        if behavior == "decide":
            return tasker.activate(*ctx.context.get("choose", []))
        if behavior == "split":
            return {"batches": [{"index": i} for i in range(int(ctx.context.get("batch_count", 0)))]}
        if behavior == "checkpointed":
            return checkpointed(ctx, spec.get("fail_at"))
        if behavior == "batch_item":
            index = int(ctx.inputs.get("index", 0))
            if ctx.context.get("fail_index") == index:
                raise PermanentError(f"bad batch {index}", error_class="BadBatch")
            return {"value": index}
        if behavior == "cancel_own_task":
            return cancel_own_task(ctx, client, seen)
        raise ValueError(f"unknown behavior {behavior!r}")

    return handler


class Recorder:
    def __init__(self) -> None:
        self.fifo: collections.deque[tuple[str, int, float]] = collections.deque()

    def enqueue_task(self, task_id: int, delay: float) -> None:
        self.fifo.append(("task", task_id, delay))

    def enqueue_step(self, step_id: int, delay: float) -> None:
        self.fifo.append(("step", step_id, delay))


def run_scenario(scenario: dict[str, Any], url: str) -> None:
    options = dict(BASE_OPTIONS)
    options.update(scenario.get("options") or {})
    template = scenario["template"]
    executions: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()
    tasks: dict[str, int] = {}
    events: list[tuple[int, str]] = []
    outcomes: collections.Counter[str] = collections.Counter()
    recorder: Recorder | None = None
    seen: dict[str, list[str]] = {}

    with Client(url, **options) as client:
        client.load_template(template)
        for name, spec in scenario.get("handlers", {}).items():
            client.register_handler(name, make_handler(spec, executions, lock, client, seen))
        if scenario.get("events"):
            def record(event: dict[str, Any]) -> None:
                label = event["name"] + (f":{event['step_name']}" if event.get("step_name") else "")
                with lock:
                    events.append((event.get("task_id"), label))
            client.subscribe(scenario["events"], record)

        def create(
            context: dict[str, Any], bypass: list[str] | None = None, delay_ms: int | None = None
        ) -> tasker.CreatedTask:
            ctx = dict(context)
            ctx["conformance_run"] = RUN_ID
            return client.create_task(
                template["name"], ctx, namespace=template.get("namespace_name", "default"), bypass_steps=bypass,
                delay_ms=delay_ms,
            )

        def view_step(view: dict[str, Any], name: str) -> dict[str, Any]:
            for step in view["steps"]:
                if step["name"] == name:
                    return step
            raise Failure(f"no step {name!r}")

        for index, op in enumerate(scenario["ops"]):
            kind = op["op"]
            where = f"op {index} ({kind})"
            if kind == "create":
                ctx = dict(op.get("context") or {})
                if op.get("context_blob_bytes"):
                    ctx["blob"] = "x" * int(op["context_blob_bytes"])
                if "expect_error" in op:
                    try:
                        create(ctx, op.get("bypass_steps"), op.get("delay_ms"))
                    except TaskerError as exc:
                        expect(exc.name == op["expect_error"], f"{where}: expected error {op['expect_error']}, got {exc.name}: {exc.message}")
                        continue
                    raise Failure(f"{where}: expected error {op['expect_error']}, the task was created")
                result = create(ctx, op.get("bypass_steps"), op.get("delay_ms"))
                tasks[op["as"]] = result.task_id
                if "expect_created" in op:
                    expect(result.created == op["expect_created"], f"{where}: created {result.created}, expected {op['expect_created']}")
                if "same_as" in op:
                    expect(result.task_id == tasks[op["same_as"]], f"{where}: task {result.task_id} is not {op['same_as']} ({tasks[op['same_as']]})")
            elif kind == "create_many":
                for i in range(int(op["count"])):
                    ctx = dict(op.get("context") or {})
                    ctx.update({"n": i, "i": i})
                    tasks[f"{op['prefix']}{i}"] = create(ctx).task_id
            elif kind == "run":
                client.run_task(tasks[op["task"]])
            elif kind == "workers":
                ids = [tasks[f"{op['tasks_prefix']}{i}"] for i in range(int(op["count"]))]
                with client.worker(threads=int(op["threads"])) as worker:
                    worker.start()
                    deadline = time.monotonic() + 120
                    while True:
                        states = [client.execution_context(t)["task_state"] for t in ids]
                        if all(s in ("complete", "error", "cancelled") for s in states):
                            break
                        expect(time.monotonic() < deadline, f"{where}: tasks not finished after 120 s: {states}")
                        time.sleep(0.02)
                    worker.stop()
                    worker.join(60)
            elif kind == "set_queue":
                recorder = Recorder()
                client.set_queue_injector(recorder)
            elif kind == "clear_queue":
                client.set_queue_injector(None)
            elif kind == "drain_queue":
                expect(recorder is not None, f"{where}: no queue")
                assert recorder is not None
                handled = 0
                while recorder.fifo:
                    handled += 1
                    expect(handled <= 10_000, f"{where}: more than 10000 queue entries")
                    entry_kind, ident, delay = recorder.fifo.popleft()
                    if delay > 0:
                        time.sleep(min(delay, 0.02))
                    if entry_kind == "step":
                        outcomes[client.handle_step(ident)["outcome"]] += 1
                    else:
                        client.handle_task(ident)
            elif kind == "expect_queue":
                expect(outcomes["completed"] == op["completed"], f"{where}: {outcomes['completed']} completed outcomes, expected {op['completed']} ({dict(outcomes)})")
            elif kind == "resolve_step":
                client.resolve_step(client.step_id(tasks[op["task"]], op["step"]), op.get("results"))
            elif kind == "retry_step":
                client.retry_step(client.step_id(tasks[op["task"]], op["step"]))
            elif kind == "cancel":
                changed = client.cancel_task(tasks[op["task"]])
                if "expect_changed" in op:
                    expect(changed == op["expect_changed"], f"{where}: changed {changed}, expected {op['expect_changed']}")
            elif kind == "set_handler":
                client.register_handler(op["name"], make_handler(op["handler"], executions, lock, client, seen))
            elif kind == "expect_task":
                view = client.task_view(tasks[op["task"]])
                label = f"{where} task {op['task']}"
                if "state" in op:
                    expect(view["state"] == op["state"], f"{label}: state {view['state']}, expected {op['state']}")
                if "execution_status" in op:
                    status = view["execution"]["execution_status"]
                    expect(status == op["execution_status"], f"{label}: execution_status {status}, expected {op['execution_status']}")
                for name, want in (op.get("steps") or {}).items():
                    step = view_step(view, name)
                    slabel = f"{label} step {name}"
                    for key in ("state", "attempts"):
                        if key in want:
                            expect(step[key] == want[key], f"{slabel}: {key} {step[key]!r}, expected {want[key]!r}")
                    results = step.get("results") or {}
                    for key, value in (want.get("results") or {}).items():
                        got = results.get(key) if isinstance(results, dict) else None
                        expect(got == value, f"{slabel}: results.{key} {got!r}, expected {value!r}")
                    error = (results.get("error") if isinstance(results, dict) else None) or {}
                    if "error_class" in want:
                        expect(error.get("class") == want["error_class"], f"{slabel}: error class {error.get('class')!r}, expected {want['error_class']!r}")
                    if "error_message" in want:
                        expect(error.get("message") == want["error_message"], f"{slabel}: error message {error.get('message')!r}, expected {want['error_message']!r}")
                    if "checkpoint" in want:
                        expect(step.get("checkpoint") == want["checkpoint"], f"{slabel}: checkpoint {step.get('checkpoint')!r}, expected {want['checkpoint']!r}")
                    if "backoff_ms" in want:
                        got = [(t.get("metadata") or {}).get("backoff_ms") for t in step["transitions"] if t["to_state"] == "error"]
                        expect(got == want["backoff_ms"], f"{slabel}: backoff_ms {got}, expected {want['backoff_ms']}")
                present = {s["name"] for s in view["steps"]}
                for name in op.get("absent_steps") or []:
                    expect(name not in present, f"{label}: step {name} exists, expected absent")
            elif kind == "expect_all":
                for i in range(int(op["count"])):
                    alias = f"{op['prefix']}{i}"
                    view = client.task_view(tasks[alias])
                    expect(view["state"] == op["state"], f"{where}: task {alias} is {view['state']}, expected {op['state']}")
                    if op.get("each_step_once"):
                        for step in view["steps"]:
                            n = executions[step["step_id"]]
                            expect(n == 1, f"{where}: step {step['name']} of {alias} executed {n} times")
            elif kind == "expect_seen":
                got = seen.get(op["step"])
                expect(got == op["seen"], f"{where}: step {op['step']} saw {got}, expected {op['seen']}")
            elif kind == "expect_events":
                task_id = tasks[op["task"]]
                with lock:
                    got = [name for tid, name in events if tid == task_id]
                expect(got == op["names"], f"{where}: events {got}, expected {op['names']}")
            else:
                raise Failure(f"{where}: unknown op")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("backend", choices=["sqlite", "postgres"])
    parser.add_argument("--url", default=os.environ.get("TASKER_CONFORMANCE_PG_URL"))
    parser.add_argument("--scenarios", default=str(SCENARIOS))
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args(argv)
    if args.backend == "postgres" and not args.url:
        parser.error("postgres needs --url or TASKER_CONFORMANCE_PG_URL")

    files = sorted(Path(args.scenarios).glob("*.json"))
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="tasker-py-conformance-") as tmp:
        for path in files:
            scenario = json.loads(path.read_text(encoding="utf-8"))
            name = scenario.get("name", path.stem)
            if args.only and name not in args.only and path.stem not in args.only:
                continue
            url = args.url if args.backend == "postgres" else f"sqlite://{tmp}/{name}.db"
            try:
                run_scenario(scenario, url)
            except Failure as exc:
                failed += 1
                print(f"FAIL {args.backend} {name}: {exc}", flush=True)
            except Exception as exc:  # noqa: BLE001 - report and go on
                failed += 1
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                print(f"FAIL {args.backend} {name}: {detail}", flush=True)
            else:
                passed += 1
                print(f"PASS {args.backend} {name}", flush=True)
    if passed + failed == 0:
        print(f"no scenarios found in {args.scenarios}", file=sys.stderr)
        failed = 1
    print(f"python-conformance-{args.backend}: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Per-step cost through the Python binding: N one-step tasks with a ~1 KB context and a no-op
handler on a SQLite file, run inline (client.run_task) on this thread; creation is not timed.
Prints `ffi_us_per_step=<float>` (total run time / N, in microseconds).

Then the callback round trip alone: M (TASKER_BENCH_CALLS, default 20000) client.call_handler
calls of a no-op handler with the same ~1 KB context, no database, after 200 warm-up calls.
Prints `ffi_us_per_call=<float>` (total time / M, in microseconds)."""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasker import Client  # noqa: E402


def main() -> int:
    n = int(os.environ.get("BENCH_N", sys.argv[1] if len(sys.argv) > 1 else 2000))
    with tempfile.TemporaryDirectory(prefix="tasker-py-bench-") as tmp:
        with Client(f"sqlite://{tmp}/bench.db") as client:
            client.load_template({"name": "bench", "namespace_name": "bench", "version": "1.0.0",
                                  "step_templates": [{"name": "noop", "handler": "noop"}]})
            calls = 0

            def noop(ctx: object) -> None:
                nonlocal calls
                calls += 1

            client.register_handler("noop", noop)
            payload = "x" * 1000
            ids = [client.create_task("bench", {"i": i, "payload": payload}, namespace="bench").task_id for i in range(n)]
            # warm-up outside the timed loop is not needed: every task is distinct work
            started = time.perf_counter()
            for task_id in ids:
                client.run_task(task_id)
            elapsed = time.perf_counter() - started
            if calls != n:
                print(f"bench: expected {n} handler calls, got {calls}", file=sys.stderr)
                return 1
    print(f"ffi_us_per_step={elapsed / n * 1e6:.1f}", flush=True)
    return bench_calls()


def bench_calls() -> int:
    m = int(os.environ.get("TASKER_BENCH_CALLS", "20000"))
    if m < 1:
        print(f"bench: TASKER_BENCH_CALLS must be >= 1, got {m}", file=sys.stderr)
        return 1
    with Client("sqlite::memory:") as client:  # call_handler never touches the database
        client.register_handler("noop", lambda ctx: {})
        context = {"task": {"context": {"i": 0, "payload": "x" * 1000}}, "step": {"handler": "noop", "name": "noop"}}
        expected = {"status": "completed", "results": {}}
        for _ in range(200):
            outcome = client.call_handler(context)
        if outcome != expected:
            print(f"bench: call_handler gave {outcome!r}", file=sys.stderr)
            return 1
        started = time.perf_counter()
        for _ in range(m):
            client.call_handler(context)
        elapsed = time.perf_counter() - started
        if client.call_handler(context) != expected:
            print("bench: call_handler stopped completing", file=sys.stderr)
            return 1
    print(f"ffi_us_per_call={elapsed / m * 1e6:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

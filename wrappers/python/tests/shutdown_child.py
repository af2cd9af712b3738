"""Child process of test_shutdown.py: runs one task with a slow handler in the mode given, and
prints "started <task_id>" when the handler runs (and "ran <n>" when a worker returns).

usage: shutdown_child.py URL TEMPLATE MODE [client options as JSON] [short]
MODE: run_task | run_task_signals | worker | worker_signals | backoff | idle; with "short" the
handler takes 2 s instead of an hour.
"""
from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tasker  # noqa: E402

url, template, mode = sys.argv[1:4]
options = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
client = tasker.Client(url, **options)
client.load_template({"name": template, "namespace_name": "shutdown", "version": "1.0.0",
                      "step_templates": [{"name": "slow", "handler": template}]})


@client.handler(template)
def slow(ctx: tasker.StepContext) -> dict[str, bool]:
    print(f"started {ctx.task_id}", flush=True)
    if mode == "backoff":
        raise tasker.RetryableError("later", retry_after=3600)
    time.sleep(2.0 if ctx.task["context"].get("short") else 3600)
    return {"done": True}


if mode != "idle":
    short = "short" in sys.argv[5:]
    task = client.create_task(template, {"run": uuid.uuid4().hex, "short": short}, namespace="shutdown")
if mode in ("run_task", "backoff"):
    client.run_task(task.task_id)
elif mode == "run_task_signals":
    client.run_task(task.task_id, handle_signals=True)
elif mode in ("worker", "idle"):
    if mode == "idle":
        print("started 0", flush=True)
    print(f"ran {client.worker().run()}", flush=True)
elif mode == "worker_signals":
    print(f"ran {client.worker().run(handle_signals=True)}", flush=True)
client.close()

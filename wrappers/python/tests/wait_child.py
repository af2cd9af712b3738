"""Child process of test_queries.py, the other side of a wait_task.

usage: wait_child.py run URL HANDLER TASK_ID  -- runs the task (its steps' handler is HANDLER)
                                              to the end, prints its final state
       wait_child.py wait URL TASK_ID         -- prints "waiting", then waits an hour for the
                                              task (Ctrl-C ends it)
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tasker  # noqa: E402

mode, url = sys.argv[1:3]
# Polling every hour: on PostgreSQL only a NOTIFY (or Ctrl-C) can end these waits early.
with tasker.Client(url, poll_interval_ms=3_600_000) as client:
    if mode == "run":
        handler, task_id = sys.argv[3], int(sys.argv[4])
        client.register_handler(handler, lambda ctx: {"by": "child"})
        print(client.run_task(task_id)["task_state"], flush=True)
    else:
        print("waiting", flush=True)
        client.wait_task(int(sys.argv[3]), 3600.0)

#!/usr/bin/env python3
"""The order-fulfillment workflow through the Python binding (demo.sh).

    validate_order -> (reserve_inventory, check_fraud) -> process_payment -> ship_order

process_payment fails once with a retryable error asking for a retry after 1 s. Runs on the
embedded SQLite default (tasker.db in the current directory) or on TASKER_DATABASE_URL.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import tasker  # noqa: E402
from tasker import Client, Event, RetryableError, StepContext, StepHandler  # noqa: E402

REPO = HERE.parents[2]
TEMPLATE = Path(os.environ.get("TASKER_DEMO_TEMPLATE", REPO / "examples" / "templates" / "order_fulfillment.yaml"))


class GatewayBusy(RetryableError):
    """Recorded with the class name "GatewayBusy"."""


class ValidateOrder(StepHandler):
    def process(self, context: StepContext) -> Any:
        items = context.context["items"]
        total = sum(i["qty"] * i["price_cents"] for i in items)
        return {"order_id": context.context["order_id"], "total_cents": total, "lines": len(items)}


class ReserveInventory(StepHandler):
    def process(self, context: StepContext) -> Any:
        return {"reserved": [i["sku"] for i in context.context["items"]]}


class CheckFraud(StepHandler):
    def process(self, context: StepContext) -> Any:
        total = context.dependency_results["validate_order"]["total_cents"]
        return {"score": 0.02, "approved": total < 100_000}


class ProcessPayment(StepHandler):
    def process(self, context: StepContext) -> Any:
        if context.attempt == 1:
            raise GatewayBusy("payment gateway busy (429)", retry_after=1.0)
        fraud = context.dependency_results["check_fraud"]  # results of the direct parents
        if not fraud["approved"]:
            raise tasker.PermanentError("fraud check declined the order")
        return {"charged_cents": sum(i["qty"] * i["price_cents"] for i in context.context["items"])}

    def process_results(self, context: StepContext, output: Any) -> Any:
        return {**output, "receipt": f"RCPT-{context.context['order_id']}"}


class ShipOrder(StepHandler):
    def process(self, context: StepContext) -> Any:
        return {"tracking": f"TRACK-{context.task_id:06d}", "receipt": context.dependency_results["process_payment"]["receipt"]}


def on_event(event: Event) -> None:
    name, step, payload = event["name"], event.get("step_name") or "", event.get("payload") or {}
    if name == "step.execution_requested":
        print(f"  > {step:<18} started (attempt {payload.get('attempt')})", flush=True)
    elif name == "step.completed":
        print(f"  + {step:<18} finished in {payload.get('execution_duration_ms', 0)} ms", flush=True)
    elif name == "step.failed":
        print(f"  ! {step:<18} failed: {payload.get('error_message')} [{payload.get('error_class')}]"
              f" -> retry in {payload.get('backoff_ms')} ms", flush=True)
    else:
        print(f"  * {name}", flush=True)


def main() -> int:
    url = os.environ.get("TASKER_DATABASE_URL") or None  # None: the embedded default sqlite://tasker.db
    with Client(url) as client:
        client.load_template(TEMPLATE)
        for name, handler in {
            "validate_order": ValidateOrder, "reserve_inventory": ReserveInventory, "check_fraud": CheckFraud,
            "process_payment": ProcessPayment, "ship_order": ShipOrder,
        }.items():
            client.register_handler(name, handler)
        client.subscribe("step.execution_requested,step.completed,step.failed,task.start_requested,task.completed,task.failed",
                         on_event)
        order_id = f"ORD-{int(time.time())}-py"
        task = client.create_task(
            "order_fulfillment",
            {"order_id": order_id, "customer": "ada@example.com",
             "items": [{"sku": "BOOK-1", "qty": 2, "price_cents": 1999}, {"sku": "PEN-9", "qty": 1, "price_cents": 350}]},
            namespace="ecommerce", initiator="python demo",
        )
        print(f"libtasker {tasker.version()} (Python) - order {order_id}, task {task.task_id} on {url or 'sqlite://tasker.db'}")
        started = time.monotonic()
        client.run_task(task.task_id)
        elapsed = time.monotonic() - started

        view = client.task_view(task.task_id)
        print(f"\n{'step':<18} {'state':<12} {'attempts':>8} {'duration ms':>12}")
        for s in view["steps"]:
            duration = (s.get("processed_at") or 0) - (s.get("last_attempted_at") or 0)
            print(f"{s['name']:<18} {s['state']:<12} {s['attempts']:>8} {max(duration, 0):>12}")
        payment = next(s for s in view["steps"] if s["name"] == "process_payment")
        print(f"\nprocess_payment results: {payment['results']}")
        print(f"task {task.task_id}: {view['state']} in {elapsed:.2f} s")
        return 0 if view["state"] == "complete" else 1


if __name__ == "__main__":
    sys.exit(main())

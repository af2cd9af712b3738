"""The Client, its Worker and Subscription handles."""
from __future__ import annotations

import atexit
import ctypes
import logging
import os
import signal
import threading
import time
import weakref
import math
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence, Union, cast

from . import _bindings, _signals, _slab
from ._bindings import TaskerBytes
from ._lib import finish, lib, pack, stash_fatal, take_bytes, thread_state, unpack
from .errors import InvalidStateError, StepNotFoundError
from .handler import NO_PROCESS_RESULTS, NO_RELEASE, PROCESS, PROCESS_RESULTS, RELEASE, HandlerLike, StepHandler, as_handler
from .types import (CreatedTask, Event, ExecutionContext, HandlerOutcome, Health, PurgeReport, QueueInjector,
                    StepOutcome, StepPage, StepSummary, TaskPage, TaskSummary, TaskView, TaskWait)

__all__ = ["Client", "Worker", "Subscription"]

log = logging.getLogger("tasker")

TemplateSource = Union[str, bytes, "os.PathLike[str]", Mapping[str, Any]]
EventCallback = Callable[[Event], Any]


class _OnThread:
    """Marks the client a C call on this thread runs on: a step handler cut short by
    KeyboardInterrupt/SystemExit interrupts that client's call (see handler.py)."""

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr

    def __enter__(self) -> None:
        tls = thread_state()
        if getattr(tls, "clients", None) is None:
            tls.clients = []
        tls.clients.append(self.ptr)

    def __exit__(self, *exc: object) -> None:
        thread_state().clients.pop()


def _inside() -> dict[int, int]:
    tls = thread_state()
    inside = getattr(tls, "inside", None)
    if inside is None:
        inside = tls.inside = {}
    return inside


class _Managed:
    """A native handle: an idempotent close(), `with` support, __del__ as a fallback, calls that
    raise InvalidStateError after close, and a close that waits for calls in flight."""

    _kind = "handle"

    def __init__(self) -> None:
        self._ptr: Optional[int] = None
        self._cond = threading.Condition()
        self._inflight = 0
        self._closing = False

    @property
    def closed(self) -> bool:
        return self._ptr is None or self._closing

    def _acquire(self) -> int:
        with self._cond:
            if self._ptr is None or self._closing:
                raise InvalidStateError.make(f"the {self._kind} is closed")
            self._inflight += 1
            ptr = self._ptr
        inside = _inside()
        inside[id(self)] = inside.get(id(self), 0) + 1
        return ptr

    def _release(self) -> None:
        inside = _inside()
        depth = inside.get(id(self), 1) - 1
        if depth:
            inside[id(self)] = depth
        else:
            inside.pop(id(self), None)
        with self._cond:
            self._inflight -= 1
            if not self._inflight:
                self._cond.notify_all()

    def _free(self, ptr: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _detach(self, timeout: Optional[float]) -> Optional[int]:
        """Marks the handle closing, waits for calls in flight, returns the pointer to free."""
        with self._cond:
            if self._ptr is None:
                return None
            if _inside().get(id(self)):
                raise InvalidStateError.make(f"cannot close the {self._kind} from inside a call on it (e.g. a handler)")
            self._closing = True
            if not self._cond.wait_for(lambda: self._inflight == 0, timeout):
                self._closing = False
                raise TimeoutError(f"calls on the {self._kind} still running after {timeout} s")
            ptr, self._ptr = self._ptr, None
            self._closing = False
            return ptr

    def close(self, timeout: Optional[float] = None) -> None:
        """Frees the native handle (idempotent). Waits for calls in flight on other threads."""
        ptr = self._detach(timeout)
        if ptr is not None:
            self._free(ptr)

    def __del__(self) -> None:
        ptr = getattr(self, "_ptr", None)
        if ptr is not None:
            self._ptr = None
            try:
                self._free(ptr)
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass


def redact_url(url: Union[str, "os.PathLike[str]"]) -> str:
    """The URL with its password masked (`postgres://u:***@host/db`), whatever the scheme, and
    a `password=` query parameter masked too: for reprs and logs."""
    text = os.fspath(url)
    scheme_end = text.find("://")
    if scheme_end >= 0:
        start = scheme_end + 3
        rest = text[start:]
        ends = [i for i in (rest.find(c) for c in "/?#") if i >= 0]
        authority = rest[: min(ends)] if ends else rest
        at = authority.rfind("@")  # a password may itself contain '@'
        colon = authority.find(":", 0, at) if at >= 0 else -1
        if colon >= 0:
            text = text[: start + colon + 1] + "***" + text[start + at :]
    head, sep, query = text.partition("?")
    if sep:
        parts = []
        for kv in query.split("&"):
            key, eq, _ = kv.partition("=")
            parts.append(f"{key}=***" if eq and key.lower() == "password" else kv)
        text = head + sep + "&".join(parts)
    return text


class Client(_Managed):
    """A connection to one database (SQLite file or PostgreSQL) with its handlers and templates.

    `url`: "sqlite://PATH", "sqlite::memory:" or "postgres://..."; None means TASKER_DATABASE_URL,
    else the embedded default "sqlite://tasker.db". Keyword options are the client options of
    docs/ABI.md (backoff={...}, lease_ms=..., poll_interval_ms=..., reject_duplicates=True, ...).
    Thread-safe. Use it as a context manager or call close().
    """

    _kind = "client"

    def __init__(self, url: Optional[str] = None, **options: Any) -> None:
        super().__init__()
        self._handlers: dict[str, StepHandler] = {}
        self._subscriptions: set[Subscription] = set()
        self._workers: set[Worker] = set()
        self._injector: Any = None
        self._grace = float(options.get("stop_grace_ms", 30_000)) / 1000.0
        opts = pack(options) if options else None
        out = ctypes.c_void_p()
        err = ctypes.c_void_p()
        rc = lib.tasker_client_new(
            os.fspath(url).encode() if url is not None else None,
            opts, len(opts) if opts else 0, ctypes.byref(out), ctypes.byref(err),
        )
        finish(rc, err)
        self._ptr = out.value
        self.url = url
        _live_clients.add(self)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        url = redact_url(self.url) if self.url is not None else None
        return f"<tasker.Client url={url!r}{' closed' if self.closed else ''}>"

    def _free(self, ptr: int) -> None:
        # Nothing runs on it any more: libtasker's close (workers stopped, subscriptions dropped,
        # running calls awaited) returns at once, then the handle is freed.
        lib.tasker_client_close(ptr, None)
        lib.tasker_client_free(ptr)

    def close(self, timeout: Optional[float] = None) -> None:
        """Stops and joins this client's workers, closes its subscriptions, then closes
        (`tasker_client_close`) and frees the client, waiting for calls in flight on other
        threads. Idempotent."""
        if self._ptr is None:
            return
        if _inside().get(id(self)):
            raise InvalidStateError.make("cannot close the client from inside a call on it (e.g. a handler)")
        for worker in list(self._workers):
            worker.close(timeout)
        for sub in list(self._subscriptions):
            sub.close()
        super().close(timeout)

    # -- calls -------------------------------------------------------------------------------------
    def _call(self, fn: Any, *args: Any) -> None:
        ptr = self._acquire()
        err = ctypes.c_void_p()
        try:
            with _OnThread(ptr):
                rc = fn(ptr, *args, ctypes.byref(err))
        finally:
            self._release()
        finish(rc, err)

    def interrupt(self) -> None:
        """Interrupts every blocking call running on this client now (`run_task`, `Worker.run`,
        `handle_step`, from any thread): each gives its claims back (steps ready again, no
        attempt counted) and raises CallInterruptedError. Calls started later are not affected."""
        ptr = self._ptr
        if ptr is not None:
            lib.tasker_client_interrupt(ptr)

    def _call_doc(self, fn: Any, *args: Any) -> Any:
        buf = TaskerBytes()
        try:
            self._call(fn, *args, ctypes.byref(buf))
        except BaseException:
            # e.g. a KeyboardInterrupt re-raised after a successful call: still free the document
            if buf.data:
                lib.tasker_bytes_free(ctypes.byref(buf))
            raise
        return unpack(take_bytes(buf))

    def migrate(self) -> None:
        """Applies the embedded migrations again (they already ran at connect)."""
        self._call(lib.tasker_migrate)

    # -- templates ---------------------------------------------------------------------------------
    def load_template(self, source: TemplateSource) -> None:
        """Registers a template: a mapping (the YAML structure), a path to a YAML file (str or
        PathLike), or YAML text (str/bytes). Raises InvalidTemplateError / TemplateCycleError."""
        if isinstance(source, Mapping):
            data = pack(dict(source))
            self._call(lib.tasker_register_template_msgpack, data, len(data))
        elif isinstance(source, os.PathLike) or (
            isinstance(source, str) and "\n" not in source
            and (source.endswith((".yaml", ".yml", ".json")) or os.path.isfile(source))
        ):
            self._call(lib.tasker_register_template_file, os.fsencode(source))
        elif isinstance(source, (str, bytes)):
            text = source.encode("utf-8") if isinstance(source, str) else source
            self._call(lib.tasker_register_template_yaml, text, len(text))
        else:
            raise TypeError(f"a template is a mapping, a path or YAML text, not {type(source).__name__}")

    # -- handlers ----------------------------------------------------------------------------------
    def register_handler(self, name: str, handler: HandlerLike) -> StepHandler:
        """Registers (or replaces) the handler called `name`: a StepHandler instance or subclass,
        or a function taking a StepContext and returning the output."""
        instance, has_results = as_handler(handler)
        key = _slab.add((instance, name))
        try:
            self._call(lib.tasker_register_handler, name.encode("utf-8"), PROCESS,
                       PROCESS_RESULTS if has_results else NO_PROCESS_RESULTS, key, RELEASE)
        except BaseException:
            _slab.remove(key)  # on error libtasker does not run the finalizer
            raise
        self._handlers[name] = instance
        return instance

    def handler(self, name: str) -> Callable[[Any], Any]:
        """Decorator form of register_handler: `@client.handler("validate")`."""
        def decorate(fn: Any) -> Any:
            self.register_handler(name, fn)
            return fn
        return decorate

    def unregister_handler(self, name: str) -> bool:
        """Removes the handler called `name`; returns whether one was registered."""
        removed = ctypes.c_bool()
        self._call(lib.tasker_unregister_handler, name.encode("utf-8"), ctypes.byref(removed))
        self._handlers.pop(name, None)
        return bool(removed.value)

    def call_handler(self, context: Mapping[str, Any]) -> HandlerOutcome:
        """Calls the handler named by context["step"]["handler"] once, on this thread, as a step
        would run it (process, then process_results) but without the database: nothing is claimed,
        written or published, and ctx.heartbeat() raises StaleClaimError. `context` is a StepContext
        document ({"task": {...}, "step": {...}, "dependency_results": {...}, "claim_token": ...});
        missing fields take defaults. Returns {"status": "completed", "results": ...} or
        {"status": "failed", "error": {"message", "class", "retryable", "retry_after", "details"}}:
        a failing handler (also "HandlerNotFound", too large results) is an outcome, not an
        exception. Raises InvalidArgumentError for a context libtasker cannot decode."""
        if not isinstance(context, Mapping):
            raise TypeError(f"call_handler expects a mapping (a StepContext document), not {type(context).__name__}")
        data = pack(dict(context))
        return cast(HandlerOutcome, self._call_doc(lib.tasker_call_handler, data, len(data)))

    # -- tasks -------------------------------------------------------------------------------------
    def create_task(
        self,
        name: Union[str, Mapping[str, Any]],
        context: Optional[Mapping[str, Any]] = None,
        *,
        namespace: Optional[str] = None,
        version: Optional[str] = None,
        initiator: Optional[str] = None,
        source_system: Optional[str] = None,
        reason: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        bypass_steps: Optional[Sequence[str]] = None,
        step_inputs: Optional[Mapping[str, Any]] = None,
        run_at: Optional[int] = None,
        delay_ms: Optional[int] = None,
        step_timeouts: Optional[Mapping[str, int]] = None,
        priority: Optional[int] = None,
        deadline_ms: Optional[int] = None,
    ) -> CreatedTask:
        """Creates a task (or returns the identical existing one with created=False). `name` may
        also be a whole task request mapping (docs/ABI.md). `priority` (-100..=100) overrides the
        template's claim priority (docs/SCHEDULING.md); `deadline_ms` (from creation) the
        template's task deadline (docs/TIMEOUTS_AND_CANCELLATION.md)."""
        if isinstance(name, Mapping):
            request: dict[str, Any] = dict(name)
        else:
            request = {"name": name}
            fields = {
                "context": context, "namespace": namespace, "version": version, "initiator": initiator,
                "source_system": source_system, "reason": reason, "tags": tags,
                "bypass_steps": bypass_steps, "step_inputs": step_inputs,
                "run_at": run_at, "delay_ms": delay_ms, "step_timeouts": step_timeouts,
                "priority": priority, "deadline_ms": deadline_ms,
            }
            for key, value in fields.items():
                if value is not None:
                    request[key] = list(value) if key in ("tags", "bypass_steps") else value
        data = pack(request)
        task_id = ctypes.c_int64()
        created = ctypes.c_bool()
        self._call(lib.tasker_create_task, data, len(data), ctypes.byref(task_id), ctypes.byref(created))
        return CreatedTask(int(task_id.value), bool(created.value))

    def run_task(self, task_id: int, *, handle_signals: bool = False) -> ExecutionContext:
        """Runs the task to the end on this thread (handlers and subscribers run here); returns
        the final execution context (complete, blocked, cancelled or unable to progress).

        Ctrl-C (SIGINT, while Python's default handler is installed) aborts the run at once,
        also in an idle or backoff wait: the step being handled and the steps claimed for it
        go back to ready without counting an attempt or recording a failure, and
        KeyboardInterrupt is raised. `handle_signals=True` also handles SIGTERM (SystemExit(143)
        after the same abort), installing handlers for SIGINT and SIGTERM for the call and
        restoring the previous ones. Only the main thread receives signals."""
        handlers = {signal.SIGINT: _raise_interrupt, signal.SIGTERM: _raise_exit} if handle_signals else None
        with _signals.watch(lambda _signum: self.interrupt(), _signals.STOP_SIGNALS, handlers):
            return cast(ExecutionContext, self._call_doc(lib.tasker_run_task, task_id))

    def worker(self, threads: int = 1) -> Worker:
        """A Worker over this client (see Worker)."""
        return Worker(self, threads)

    # -- host queue --------------------------------------------------------------------------------
    def set_queue_injector(
        self,
        injector: Optional[QueueInjector] = None,
        *,
        enqueue_task: Optional[Callable[[int, float], Any]] = None,
        enqueue_step: Optional[Callable[[int, float], Any]] = None,
    ) -> None:
        """Installs host-queue hooks: an object with enqueue_task(task_id, delay) and
        enqueue_step(step_id, delay) (`delay` in seconds, a float), or the two callables; None (nothing given) removes them.
        A hook that raises is logged and reported to libtasker as a failed enqueue (the work
        stays ready in the database)."""
        if injector is not None:
            enqueue_task, enqueue_step = injector.enqueue_task, injector.enqueue_step
        if enqueue_task is None and enqueue_step is None:
            self._call(lib.tasker_set_queue_injector, _NO_ENQUEUE, _NO_ENQUEUE, None, NO_RELEASE)
            self._injector = None
            return
        if enqueue_task is None or enqueue_step is None:
            raise TypeError("both enqueue_task and enqueue_step are required")
        key = _slab.add(_Injector(enqueue_task, enqueue_step))
        try:
            self._call(lib.tasker_set_queue_injector, _ENQUEUE_TASK, _ENQUEUE_STEP, key, RELEASE)
        except BaseException:
            _slab.remove(key)
            raise
        self._injector = injector or (enqueue_task, enqueue_step)

    def handle_step(self, step_id: int) -> StepOutcome:
        """Host-queue delivery of a step: runs its lifecycle on this thread. Stale, early and
        duplicate deliveries are harmless (outcome "skipped")."""
        return cast(StepOutcome, self._call_doc(lib.tasker_handle_step, step_id))

    def handle_task(self, task_id: int) -> ExecutionContext:
        """Host-queue delivery of a task: expired leases fail, ready steps are enqueued."""
        return cast(ExecutionContext, self._call_doc(lib.tasker_handle_task, task_id))

    # -- events ------------------------------------------------------------------------------------
    def subscribe(self, patterns: Union[str, Iterable[str], None], callback: EventCallback) -> Subscription:
        """Calls `callback(event)` for every lifecycle event matching `patterns` (names or
        "prefix.*"; None for all), after commit, on the thread whose call caused it. Returns a
        Subscription; close it (or the client) to unsubscribe. Exceptions raised by the callback
        are logged and kept in `subscription.errors`; they change nothing."""
        return Subscription(self, patterns, callback)

    # -- inspection and operations -----------------------------------------------------------------
    def task_view(self, task_id: int) -> TaskView:
        """The task with its steps (states, attempts, results, transitions) and execution context."""
        return cast(TaskView, self._call_doc(lib.tasker_task_view, task_id))

    def execution_context(self, task_id: int) -> ExecutionContext:
        return cast(ExecutionContext, self._call_doc(lib.tasker_execution_context, task_id))

    def health(self) -> Health:
        return cast(Health, self._call_doc(lib.tasker_health))

    # -- queries -----------------------------------------------------------------------------------
    def wait_task(self, task_id: int, timeout: float) -> TaskWait:
        """Blocks until the task is settled: finished (complete, cancelled, resolved_manually) or
        blocked (state error, or execution_status blocked_by_failures). Returns {"timed_out",
        "task"}: `timed_out` is True (not an exception) when `timeout` seconds (a float, 0 looks
        once) passed first, and `task` is the task view as it then is. Woken by commits through
        this client and, on PostgreSQL, by other processes' commits (NOTIFY); otherwise by
        polling every poll_interval_ms. Ctrl-C (SIGINT, while Python's default handler is
        installed) interrupts it (KeyboardInterrupt), as interrupt() from another thread does
        (CallInterruptedError). Raises TaskNotFoundError."""
        if not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout < 0:
            raise ValueError(f"timeout is seconds, a finite number >= 0, not {timeout!r}")
        # C counts whole milliseconds; round up so a short positive timeout still waits.
        timeout_ms = math.ceil(timeout * 1000)
        with _signals.watch(lambda _signum: self.interrupt(), _signals.STOP_SIGNALS):
            return cast(TaskWait, self._call_doc(lib.tasker_wait_task, task_id, timeout_ms))

    def list_tasks(
        self,
        *,
        states: Union[str, Sequence[str], None] = None,
        execution_status: Optional[str] = None,
        namespace: Optional[str] = None,
        name: Optional[str] = None,
        version: Optional[str] = None,
        initiator: Optional[str] = None,
        source_system: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        created_from: Optional[int] = None,
        created_to: Optional[int] = None,
        updated_from: Optional[int] = None,
        updated_to: Optional[int] = None,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> TaskPage:
        """One page of the tasks matching every filter given (none: every task), newest first.
        `states`: any of them (a name or a list); `tags`: all of them; times are epoch ms,
        `*_from` inclusive, `*_to` exclusive; `limit` 1 to 1000 (default 50). Pass the page's
        `next_cursor` back as `cursor` for the next page (None: last page); tasks created
        meanwhile never shift or repeat a later page. A bad filter (unknown state, limit out of
        range, a cursor not returned by this library) raises InvalidArgumentError."""
        return cast(TaskPage, self._list(lib.tasker_list_tasks, _filter(locals())))

    def iter_tasks(self, **filter: Any) -> Iterator[TaskSummary]:
        """Every task matching the filter (list_tasks' keyword arguments; `limit` is the page
        size), page after page, newest first."""
        return cast(Iterator[TaskSummary], self._iter(self.list_tasks, filter))

    def list_steps(
        self,
        *,
        task_id: Optional[int] = None,
        states: Union[str, Sequence[str], None] = None,
        condition: Optional[str] = None,
        handler: Optional[str] = None,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> StepPage:
        """One page of the steps matching every filter given, newest first, paged as list_tasks.
        `condition`: "in_backoff" (error, retry scheduled later), "exhausted" (error, no retry
        left), "lease_expired" or "lease_active" (in progress). Raises InvalidArgumentError for
        a bad filter."""
        return cast(StepPage, self._list(lib.tasker_list_steps, _filter(locals())))

    def iter_steps(self, **filter: Any) -> Iterator[StepSummary]:
        """Every step matching the filter (list_steps' keyword arguments), page after page."""
        return cast(Iterator[StepSummary], self._iter(self.list_steps, filter))

    def _list(self, fn: Any, filter: dict[str, Any]) -> Any:
        data = pack(filter)
        return self._call_doc(fn, data, len(data))

    @staticmethod
    def _iter(list_page: Callable[..., Any], filter: dict[str, Any]) -> Iterator[Any]:
        filter = dict(filter)
        while True:
            page = list_page(**filter)
            yield from page["items"]
            if page["next_cursor"] is None:
                return
            filter["cursor"] = page["next_cursor"]

    def step_id(self, task_id: int, step_name: str) -> int:
        """The id of the task's step called `step_name` (StepNotFoundError if none)."""
        for step in self.task_view(task_id).get("steps", []):
            if step.get("name") == step_name:
                return int(step["step_id"])
        raise StepNotFoundError.make(f"task {task_id} has no step named {step_name!r}")

    # -- cron schedules (docs/SCHEDULING.md) ------------------------------------------------------
    def upsert_schedule(
        self,
        name: str,
        *,
        template: str,
        cron: str,
        namespace: Optional[str] = None,
        version: Optional[str] = None,
        context: Optional[Mapping[str, Any]] = None,
        time_zone: str = "UTC",
        enabled: bool = True,
        missed: str = "skip",
        max_catch_up: Optional[int] = None,
    ) -> dict[str, Any]:
        """Stores a schedule (replacing the one named `name`): a task of `template` with
        `context` at every tick of `cron` (5 fields, or 6 with seconds first) read in the IANA
        `time_zone`. `missed`: "skip" (after downtime only the latest missed tick fires) or
        "catch_up" (up to `max_catch_up`, default 10). Returns the stored schedule. Raises
        InvalidRequestError naming a bad expression, zone, name or bound; UnknownTemplateError."""
        spec: dict[str, Any] = {"name": name, "template": template, "cron": cron, "time_zone": time_zone,
                                "enabled": enabled, "missed": missed}
        for key, value in (("namespace", namespace), ("version", version), ("max_catch_up", max_catch_up)):
            if value is not None:
                spec[key] = value
        if context is not None:
            spec["context"] = dict(context)
        data = pack(spec)
        return cast(dict[str, Any], self._call_doc(lib.tasker_schedule_upsert, data, len(data)))

    def schedules(self) -> list[dict[str, Any]]:
        """Every schedule, by name, with its next_tick_at and last_tick_at (epoch ms)."""
        return cast(list[dict[str, Any]], self._call_doc(lib.tasker_schedule_list))

    def delete_schedule(self, name: str) -> bool:
        """Deletes a schedule and its tick history (its tasks stay); False when there was none."""
        deleted = ctypes.c_bool()
        self._call(lib.tasker_schedule_delete, name.encode(), ctypes.byref(deleted))
        return bool(deleted.value)

    def set_schedule_enabled(self, name: str, enabled: bool) -> bool:
        """Enables or disables a schedule (re-enabled: from its first tick after now); False when
        there is none."""
        found = ctypes.c_bool()
        self._call(lib.tasker_schedule_set_enabled, name.encode(), bool(enabled), ctypes.byref(found))
        return bool(found.value)

    def fire_due_schedules(self, now_ms: Optional[int] = None) -> int:
        """Fires the ticks due at `now_ms` (default: now), once across every process; workers do
        this by themselves every schedule_check_interval_ms. Returns the tasks created."""
        created = ctypes.c_uint64()
        now = int(time.time() * 1000) if now_ms is None else now_ms
        self._call(lib.tasker_schedule_fire_due, now, ctypes.byref(created))
        return int(created.value)

    # -- maintenance (workers do the first two by themselves) ---------------------------------------
    def enforce_deadlines(self) -> int:
        """Fails the unfinished tasks past their deadline (at most 100 per call, oldest first):
        each ends in state error (class Deadline) with its unfinished steps cancelled. Workers
        do this every lease_check_interval_ms; call it from a process without workers. Returns
        the tasks failed."""
        failed = ctypes.c_uint64()
        self._call(lib.tasker_enforce_deadlines, ctypes.byref(failed))
        return int(failed.value)

    def apply_retention(self) -> int:
        """One pass of the client's `retention` option (none: nothing) over the next window of
        task ids. Workers do this every retention interval_ms; call it from a process without
        workers. Returns the tasks purged."""
        purged = ctypes.c_uint64()
        self._call(lib.tasker_apply_retention, ctypes.byref(purged))
        return int(purged.value)

    def purge_tasks(self, finished_before: int, *, template: Optional[str] = None,
                    namespace: Optional[str] = None, version: Optional[str] = None,
                    dry_run: bool = False, batch_size: Optional[int] = None) -> PurgeReport:
        """Deletes the complete and cancelled tasks finished before `finished_before` (epoch
        ms) with their steps and history, in batches of `batch_size` (default 500), each its
        own transaction; only `template`'s tasks when given (in `namespace`, of `version` when
        given). `dry_run` counts instead. Returns {"dry_run", "tasks", "steps", "batches"}."""
        if template is None and (namespace is not None or version is not None):
            raise ValueError("namespace and version narrow a template: pass template too")
        req: dict[str, Any] = {"finished_before": finished_before, "dry_run": dry_run}
        if batch_size is not None:
            req["batch_size"] = batch_size
        if template is not None:
            req["template"] = {"name": template, "namespace": namespace, "version": version}
        data = pack(req)
        return cast(PurgeReport, self._call_doc(lib.tasker_purge_tasks, data, len(data)))

    def cancel_task(self, task_id: int) -> bool:
        """Cancels every unfinished step; returns False when the task was already cancelled."""
        changed = ctypes.c_bool()
        self._call(lib.tasker_cancel_task, task_id, ctypes.byref(changed))
        return bool(changed.value)

    def resolve_step(self, step_id: int, results: Optional[Mapping[str, Any]] = None) -> bool:
        """Resolves a pending or failed step by hand with `results`; its dependents proceed."""
        data = pack(dict(results)) if results is not None else None
        changed = ctypes.c_bool()
        self._call(lib.tasker_resolve_step, step_id, data, len(data) if data else 0, ctypes.byref(changed))
        return bool(changed.value)

    def retry_step(self, step_id: int) -> bool:
        """Retries a failed step (attempts reset to 0); a blocked task resumes. Returns whether
        anything changed."""
        changed = ctypes.c_bool()
        self._call(lib.tasker_retry_step, step_id, ctypes.byref(changed))
        return bool(changed.value)


def _filter(args: dict[str, Any]) -> dict[str, Any]:
    """A filter document from a listing's keyword arguments: the fields given, lists as lists
    (a single state name as a list of one)."""
    doc: dict[str, Any] = {}
    for key, value in args.items():
        if key == "self" or value is None:
            continue
        if key in ("states", "tags"):
            value = [value] if isinstance(value, str) else list(value)
        doc[key] = value
    return doc


class _Injector:
    __slots__ = ("enqueue_task", "enqueue_step")

    def __init__(self, enqueue_task: Callable[[int, float], Any], enqueue_step: Callable[[int, float], Any]) -> None:
        self.enqueue_task = enqueue_task
        self.enqueue_step = enqueue_step


def _enqueue(kind: str, userdata: Optional[int], ident: int, delay_ms: int) -> int:
    try:
        injector = _slab.get(userdata)
        if injector is None:
            return 1
        # Durations cross the wrappers in seconds (docs/ABI.md "Names"); C counts milliseconds.
        getattr(injector, kind)(int(ident), delay_ms / 1000.0)
        return 0
    except BaseException as exc:  # noqa: BLE001 - nothing may unwind into C
        try:
            log.error("tasker: %s(%s, %s) raised %r", kind, ident, delay_ms, exc)
            if not isinstance(exc, Exception):
                stash_fatal(exc)
        except BaseException:  # noqa: BLE001
            pass
        return 1


_ENQUEUE_TASK = _bindings.tasker_enqueue_fn(lambda ud, ident, delay: _enqueue("enqueue_task", ud, ident, delay))
_NO_ENQUEUE = _bindings.tasker_enqueue_fn()
_ENQUEUE_STEP = _bindings.tasker_enqueue_fn(lambda ud, ident, delay: _enqueue("enqueue_step", ud, ident, delay))


# -- events ------------------------------------------------------------------------------------------
class _SubscriptionState:
    __slots__ = ("callback", "errors", "active")

    def __init__(self, callback: EventCallback) -> None:
        self.callback = callback
        self.errors: list[BaseException] = []
        self.active = True


def _on_event(userdata: Optional[int], data: Optional[int], length: int) -> None:
    state: Optional[_SubscriptionState] = None
    delivering: set[int] = set()
    try:
        state = _slab.get(userdata)
        if state is None or not state.active:
            return
        tls = thread_state()
        delivering = getattr(tls, "delivering", None) or set()
        tls.delivering = delivering
        delivering.add(userdata or 0)
        state.callback(unpack(ctypes.string_at(data, length) if data and length else b""))
    except BaseException as exc:  # noqa: BLE001 - a failing subscriber changes nothing
        try:
            if state is not None:
                if len(state.errors) < 100:
                    state.errors.append(exc)
            log.error("tasker: event subscriber raised %r", exc)
            if not isinstance(exc, Exception):
                stash_fatal(exc)
        except BaseException:  # noqa: BLE001
            pass
    finally:
        delivering.discard(userdata or 0)


_EVENT = _bindings.tasker_event_fn(_on_event)


class Subscription(_Managed):
    """An event subscription. close() (or leaving `with`) unsubscribes; exceptions raised by the
    callback are collected in `errors`."""

    _kind = "subscription"

    def __init__(self, client: Client, patterns: Union[str, Iterable[str], None], callback: EventCallback) -> None:
        super().__init__()
        if not callable(callback):
            raise TypeError("callback must be callable")
        if patterns is None:
            text = ""
        elif isinstance(patterns, str):
            text = patterns
        else:
            text = ",".join(patterns)
        self.patterns = text
        self._client = client
        self._state = _SubscriptionState(callback)
        self._key = _slab.add(self._state)
        out = ctypes.c_void_p()
        try:
            client._call(lib.tasker_subscribe, text.encode("utf-8"), _EVENT, self._key, RELEASE, ctypes.byref(out))
        except BaseException:
            _slab.remove(self._key)
            raise
        self._ptr = out.value
        client._subscriptions.add(self)

    @property
    def errors(self) -> list[BaseException]:
        return self._state.errors

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: Optional[float] = None) -> None:
        if self._ptr is not None and self._key in (getattr(thread_state(), "delivering", None) or ()):
            raise InvalidStateError.make("cannot close a subscription from inside its own callback")
        self._state.active = False
        super().close(timeout)
        self._client._subscriptions.discard(self)

    def _free(self, ptr: int) -> None:
        lib.tasker_subscription_free(ptr)


# -- workers -----------------------------------------------------------------------------------------
class Worker:
    """Runs ready steps of any task with libtasker's built-in worker.

    `start()` runs it on `threads` new host threads; `stop()` (any thread) asks them to stop,
    `join()` waits and re-raises a thread's error. `run()` runs it on the current thread until
    `stop()`; `run_once()` runs one batch. A stopped worker stays stopped until `reset()`. Use
    it as a context manager: leaving `with` stops, joins and frees.

    A stop is graceful: no more claims, the steps claimed but not started go back to ready
    (no attempt counted), a running handler may finish within the client's `stop_grace_ms`
    (default 30 s; past it its claim goes back and its late result is dropped), an idle worker
    returns at once. See `run()` for signals.
    """

    def __init__(self, client: Client, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        self.client = client
        self.threads = threads
        self._lock = threading.Lock()
        self._running: set[int] = set()
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []
        self._stopped = False
        self._closed = False
        self._steps = 0
        self._once: Optional[int] = None
        self._once_lock = threading.Lock()
        client._workers.add(self)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def steps_run(self) -> int:
        """Steps run by finished run() calls and threads of this worker."""
        return self._steps

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads) or bool(self._running)

    def _new_native(self) -> int:
        if self._closed:
            raise InvalidStateError.make("the worker is closed")
        out = ctypes.c_void_p()
        self.client._call(lib.tasker_worker_new, ctypes.byref(out))
        return int(out.value or 0)

    def run(self, *, handle_signals: bool = False) -> int:
        """Runs steps on this thread until stop() is called; returns how many ran.

        Ctrl-C (SIGINT, while Python's default handler is installed) stops it at once: an idle
        worker returns, a handler being run is cut short by the KeyboardInterrupt and its step,
        like the steps claimed but not started, goes back to ready without counting an attempt
        or recording a failure; KeyboardInterrupt is raised. With `handle_signals=True`, SIGINT
        and SIGTERM stop it gracefully instead (see the class) and run() returns normally; a
        second signal, or a handler still running when the grace period ends, aborts as
        Ctrl-C does (KeyboardInterrupt). The handlers are installed for the call and the
        previous ones restored. Only the main thread receives signals."""
        ptr = self._new_native()
        with self._lock:
            self._running.add(ptr)
            if self._stopped or self._closed:
                lib.tasker_worker_stop(ptr)
        graceful = _GracefulStop(ptr, self.client._grace) if handle_signals else None
        handlers = dict.fromkeys(_signals.STOP_SIGNALS, graceful.on_python_signal) if graceful else None
        tls = thread_state()
        previous = getattr(tls, "worker", None)
        tls.worker = ptr
        ran = ctypes.c_uint64()
        err = ctypes.c_void_p()
        try:
            on_signal = graceful.on_signal if graceful else (lambda _signum: lib.tasker_worker_stop(ptr))
            with _signals.watch(on_signal, _signals.STOP_SIGNALS, handlers), _OnThread(self.client._ptr or 0):
                try:
                    rc = lib.tasker_worker_run(ptr, ctypes.byref(ran), ctypes.byref(err))
                finally:
                    if graceful:
                        graceful.cancel()
        finally:
            tls.worker = previous
            with self._lock:
                self._running.discard(ptr)
                self._steps += int(ran.value)
            lib.tasker_worker_free(ptr)
        finish(rc, err)
        return int(ran.value)

    def run_once(self) -> int:
        """Claims up to claim_batch ready steps, runs them on this thread; returns how many ran."""
        with self._once_lock:
            if self._once is None:
                self._once = self._new_native()
            ran = ctypes.c_uint64()
            err = ctypes.c_void_p()
            rc = lib.tasker_worker_run_once(self._once, ctypes.byref(ran), ctypes.byref(err))
            finish(rc, err)
            self._steps += int(ran.value)
            return int(ran.value)

    def start(self) -> Worker:
        """Starts `threads` host threads, each running its own native worker."""
        if self._closed:
            raise InvalidStateError.make("the worker is closed")
        for i in range(self.threads):
            thread = threading.Thread(target=self._thread_main, name=f"tasker-worker-{i}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def _thread_main(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # noqa: BLE001 - surfaced by join()
            self._errors.append(exc)

    def stop(self) -> None:
        """Asks every running loop of this worker to return after its current step."""
        with self._lock:
            self._stopped = True
            for ptr in self._running:
                lib.tasker_worker_stop(ptr)

    def reset(self) -> None:
        """Re-arms a stopped worker."""
        with self._lock:
            self._stopped = False

    def join(self, timeout: Optional[float] = None) -> int:
        """Waits for the threads started by start(); returns the steps run; re-raises the first
        error of a thread. Raises TimeoutError if they are still running after `timeout`."""
        for thread in list(self._threads):
            try:
                thread.join(timeout)
            except KeyboardInterrupt:
                self.stop()  # Ctrl-C while waiting: the threads stop gracefully
                raise
            if thread.is_alive():
                raise TimeoutError(f"{thread.name} still running after {timeout} s")
        self._threads = [t for t in self._threads if t.is_alive()]
        if self._errors:
            raise self._errors.pop(0)
        return self._steps

    def close(self, timeout: Optional[float] = None) -> None:
        """Stops, joins and frees the worker (idempotent)."""
        if self._closed:
            return
        self.stop()
        if threading.current_thread() not in self._threads:
            self.join(timeout)
        self._closed = True
        with self._once_lock:
            if self._once is not None:
                lib.tasker_worker_free(self._once)
                self._once = None
        self.client._workers.discard(self)

    def __del__(self) -> None:
        once = getattr(self, "_once", None)
        if once is not None:
            self._once = None
            try:
                lib.tasker_worker_free(once)
            except Exception:  # noqa: BLE001
                pass


# -- signals -----------------------------------------------------------------------------------------
def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _raise_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


class _GracefulStop:
    """`Worker.run(handle_signals=True)`: the first SIGINT/SIGTERM stops the worker (from the
    signal thread, so an idle worker returns at once) and arms the grace timer; a second signal,
    or the timer, aborts: the Python-level handler raises KeyboardInterrupt in the main thread,
    cutting the running handler short (its claim goes back)."""

    def __init__(self, ptr: int, grace: float) -> None:
        self.ptr = ptr
        self.grace = grace
        self.signals = 0
        self.expired = False
        self.timer: Optional[threading.Timer] = None
        self.lock = threading.Lock()

    def on_signal(self, signum: int) -> None:  # signal thread
        lib.tasker_worker_stop(self.ptr)
        with self.lock:
            if self.timer is None:
                self.timer = threading.Timer(self.grace, self._expire)
                self.timer.daemon = True
                self.timer.start()

    def _expire(self) -> None:
        self.expired = True
        # A real SIGINT to the main thread (interrupt_main() would not wake a blocking call such
        # as a handler's sleep): on_python_signal then raises there.
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    def on_python_signal(self, signum: int, frame: Any) -> None:  # main thread
        self.signals += 1
        if self.signals >= 2 or self.expired:
            raise KeyboardInterrupt

    def cancel(self) -> None:
        with self.lock:
            if self.timer is not None:
                self.timer.cancel()


# -- interpreter exit --------------------------------------------------------------------------------
_live_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Stops workers and frees clients while the interpreter can still run finalizer callbacks."""
    for client in list(_live_clients):
        try:
            client.close(timeout=10)
        except BaseException:  # noqa: BLE001
            pass

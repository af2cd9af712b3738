"""Step handlers: the `StepHandler` base class, the `StepContext` a handler receives, and the
ctypes trampolines that run them. No Python exception ever crosses into C: every outcome is
reported through tasker_step_call_set_output / tasker_step_call_fail."""
from __future__ import annotations

import ctypes
import inspect
import logging
import traceback
from typing import Any, Callable, Mapping, Union

from . import _bindings, _slab
from ._lib import lib, pack, raise_error, stash_fatal, thread_state, unpack
from .errors import CancelledError, InvalidStateError, StaleClaimError, StepError, TaskerError

# The stop reasons of tasker_step_call_is_cancelled, by code (docs/TIMEOUTS_AND_CANCELLATION.md).
STOP_REASONS = {1: "cancelled", 2: "timed_out", 3: "claim_lost"}

__all__ = ["StepHandler", "StepContext", "HandlerLike"]

log = logging.getLogger("tasker")


class StepContext:
    """What a handler sees: the task, the step, the results of the step's dependencies.

    The underlying documents are available as `task`, `step` and `dependency_results` (dicts);
    the common fields also as attributes. `heartbeat()` extends the lease of a long step;
    `checkpoint(doc)` records where the step got to, and a retry finds the last one in
    `last_checkpoint` (None when none was recorded). Both only work while the handler runs.
    """

    __slots__ = ("raw", "task", "step", "dependency_results", "claim_token", "last_checkpoint", "_call")

    def __init__(self, raw: Mapping[str, Any], call: int | None = None) -> None:
        self.raw: dict[str, Any] = dict(raw)
        self.task: dict[str, Any] = raw.get("task") or {}
        self.step: dict[str, Any] = raw.get("step") or {}
        self.dependency_results: dict[str, Any] = raw.get("dependency_results") or {}
        self.claim_token: str | None = raw.get("claim_token")
        self.last_checkpoint: Any = raw.get("checkpoint")
        self._call = call

    # task
    @property
    def task_id(self) -> int:
        return int(self.task["task_id"])

    @property
    def context(self) -> dict[str, Any]:
        """The task's context (the document given to create_task)."""
        return self.task.get("context") or {}

    # step
    @property
    def step_id(self) -> int:
        return int(self.step["step_id"])

    @property
    def step_name(self) -> str:
        return str(self.step["name"])

    @property
    def attempt(self) -> int:
        return int(self.step.get("attempt", 0))

    @property
    def retry_limit(self) -> int:
        return int(self.step.get("retry_limit", 0))

    @property
    def inputs(self) -> dict[str, Any]:
        return self.step.get("inputs") or {}

    @property
    def handler_config(self) -> dict[str, Any]:
        return self.step.get("handler_config") or {}

    def dependency_result(self, name: str) -> Any:
        """The results of the direct dependency `name` (None when it is not one)."""
        return self.dependency_results.get(name)

    def heartbeat(self) -> int:
        """Extends the step's lease; returns the new expiry (epoch ms). Raises CancelledError (a
        StaleClaimError) when the step's task was cancelled, StaleClaimError when the step was
        taken over (stop working either way), InvalidStateError after the handler returned."""
        if not self._call:
            raise InvalidStateError.make("heartbeat outside the running handler")
        expires = ctypes.c_int64()
        err = ctypes.c_void_p()
        rc = lib.tasker_step_call_heartbeat(self._call, ctypes.byref(expires), ctypes.byref(err))
        if rc:
            try:
                raise_error(rc, err)
            except StaleClaimError as e:
                if self._stop_reason_or_none() == "cancelled":
                    raise CancelledError(e.code, e.name, e.message) from e
                raise
        return int(expires.value)

    def stop_reason(self) -> str | None:
        """Why the handler should stop: "cancelled" (its task was cancelled; the outcome will be
        discarded), "timed_out" (past the step's timeout; the outcome will be recorded as a
        Timeout failure), "claim_lost" (taken over); None while it may go on. One read of the
        step row; does not extend the lease."""
        if not self._call:
            raise InvalidStateError.make("stop_reason outside the running handler")
        reason = ctypes.c_int32()
        err = ctypes.c_void_p()
        rc = lib.tasker_step_call_is_cancelled(self._call, ctypes.byref(reason), ctypes.byref(err))
        if rc:
            raise_error(rc, err)
        return STOP_REASONS.get(int(reason.value))

    def _stop_reason_or_none(self) -> str | None:
        """stop_reason(), or None when it cannot be read (no claim: call_handler's step 0)."""
        try:
            return self.stop_reason()
        except TaskerError:
            return None

    def is_cancelled(self) -> bool:
        """True when `stop_reason()` names a reason: stop working and return."""
        return self.stop_reason() is not None

    def checkpoint(self, checkpoint: Any) -> None:
        """Records `checkpoint` (a cursor, the items processed, a bounded partial result; at most
        64 KiB as JSON) as the step's resume point, replacing the previous one: a retry of the
        step receives it as `last_checkpoint`. Written at once, fenced by the claim. Raises
        StaleClaimError when the step was taken over (stop working), PayloadTooLargeError when it
        is too large, InvalidArgumentError outside the document policy, InvalidStateError after
        the handler returned; nothing is written then."""
        if not self._call:
            raise InvalidStateError.make("checkpoint outside the running handler")
        data = pack(checkpoint)
        err = ctypes.c_void_p()
        rc = lib.tasker_step_call_checkpoint(self._call, data, len(data), ctypes.byref(err))
        if rc:
            raise_error(rc, err)

    def __repr__(self) -> str:
        return f"StepContext(task_id={self.task.get('task_id')}, step={self.step.get('name')!r}, attempt={self.step.get('attempt')})"


class StepHandler:
    """Subclass and implement `process`; optionally `process_results`.

    `process(context)` returns the step's output (any JSON-compatible value; None means {}) or
    raises: `RetryableError(message, retry_after=seconds)`, `PermanentError(message)`, or any
    other exception (a retryable failed attempt recorded with its class name and message).
    `process_results(context, output)` receives that output and returns the results to persist.
    """

    def process(self, context: StepContext) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.process is not implemented")

    def process_results(self, context: StepContext, output: Any) -> Any:
        return output


HandlerLike = Union[StepHandler, type[StepHandler], Callable[[StepContext], Any]]


class _FunctionHandler(StepHandler):
    def __init__(self, fn: Callable[[StepContext], Any]) -> None:
        self.fn = fn

    def process(self, context: StepContext) -> Any:
        return self.fn(context)

    def __repr__(self) -> str:
        return f"<handler {getattr(self.fn, '__qualname__', self.fn)!r}>"


def as_handler(handler: HandlerLike) -> tuple[StepHandler, bool]:
    """Returns (handler instance, whether it overrides process_results)."""
    if inspect.isclass(handler) and issubclass(handler, StepHandler):
        handler = handler()
    if isinstance(handler, StepHandler):
        overrides = type(handler).process_results is not StepHandler.process_results
        return handler, overrides
    if callable(handler):
        return _FunctionHandler(handler), False
    raise TypeError(f"a handler must be a StepHandler or a callable, not {type(handler).__name__}")


# -- reporting outcomes --------------------------------------------------------------------------
def _c_text(text: str) -> bytes:
    return text.replace("\0", "\\0").encode("utf-8", "replace")


def _fail(call: int, message: str, error_class: str, retryable: bool, retry_after: float | None, details: Any) -> None:
    details_bytes: bytes | None = None
    if details is not None:
        try:
            details_bytes = pack(details)
        except Exception:  # noqa: BLE001 - unserialisable details: keep the failure itself
            details_bytes = pack({"repr": repr(details)})
    err = ctypes.c_void_p()
    rc = lib.tasker_step_call_fail(
        call,
        _c_text(message),
        _c_text(error_class),
        retryable,
        -1.0 if retry_after is None else float(retry_after),
        details_bytes,
        len(details_bytes) if details_bytes else 0,
        ctypes.byref(err),
    )
    if rc:
        # Only bad details can be rejected: report the failure without them.
        lib.tasker_error_free(err)
        lib.tasker_step_call_fail(call, _c_text(message), _c_text(error_class), retryable,
                                  -1.0 if retry_after is None else float(retry_after), None, 0, None)


def _report_exception(call: int, exc: BaseException) -> None:
    if isinstance(exc, StepError):
        _fail(call, exc.message, exc.error_class, exc.retryable, getattr(exc, "retry_after", None), exc.details)
        return
    if not isinstance(exc, Exception):
        # KeyboardInterrupt, SystemExit, ...: not a failure of the step. The call running on
        # this thread is interrupted (libtasker gives the claim back: the step is ready again,
        # no attempt counted) and the exception is re-raised when the C call returns. The
        # interrupt ends every call running on that client at this moment.
        stash_fatal(exc)
        clients = getattr(thread_state(), "clients", None)
        if clients:
            lib.tasker_client_interrupt(clients[-1])
            return
    message = str(exc) or type(exc).__name__
    details = {
        "exception": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:],
    }
    _fail(call, message, type(exc).__name__, True, None, details)


def _report_output(call: int, output: Any) -> None:
    data = pack({} if output is None else output)
    err = ctypes.c_void_p()
    if lib.tasker_step_call_set_output(call, data, len(data), ctypes.byref(err)):
        message = lib.tasker_error_message(err).decode("utf-8", "replace")
        lib.tasker_error_free(err)
        raise TypeError(f"step output rejected by libtasker: {message}")


def _run(call: int, fn: Callable[[StepContext], Any], context: StepContext) -> None:
    try:
        try:
            output = fn(context)
            _report_output(call, output)
        except BaseException as exc:  # noqa: BLE001 - nothing may unwind into C
            _report_exception(call, exc)
        finally:
            context._call = None
    except BaseException as exc:  # noqa: BLE001 - even reporting failed: last resort
        try:
            lib.tasker_step_call_fail(call, _c_text(f"tasker wrapper error: {exc!r}"), b"WrapperError", True, -1.0, None, 0, None)
        except BaseException:  # noqa: BLE001
            pass


def _borrowed(ptr: int | None, length: int) -> bytes:
    """Copies a buffer borrowed for the duration of a callback."""
    return ctypes.string_at(ptr, length) if ptr and length else b""


def _process(userdata: int | None, call: int | None, ctx: int | None, ctx_len: int) -> None:
    try:
        entry = _slab.get(userdata)
        if entry is None or not call:
            raise RuntimeError("handler userdata is gone")
        context = StepContext(unpack(_borrowed(ctx, ctx_len)), call)
    except BaseException as exc:  # noqa: BLE001
        if call:
            _report_exception(call, exc)
        return
    handler: StepHandler = entry[0]
    _run(call, handler.process, context)


def _process_results(userdata: int | None, call: int | None, ctx: int | None, ctx_len: int,
                     out: int | None, out_len: int) -> None:
    try:
        entry = _slab.get(userdata)
        if entry is None or not call:
            raise RuntimeError("handler userdata is gone")
        context = StepContext(unpack(_borrowed(ctx, ctx_len)), call)
        output = unpack(_borrowed(out, out_len)) if out_len else None
    except BaseException as exc:  # noqa: BLE001
        if call:
            _report_exception(call, exc)
        return
    handler: StepHandler = entry[0]
    _run(call, lambda c: handler.process_results(c, output), context)


def _release(userdata: int | None) -> None:
    try:
        _slab.remove(userdata)
    except BaseException:  # noqa: BLE001
        pass


# Module-level trampolines: alive as long as the module, so C can always call them.
PROCESS = _bindings.tasker_process_fn(_process)
PROCESS_RESULTS = _bindings.tasker_process_results_fn(_process_results)
RELEASE = _bindings.tasker_userdata_free_fn(_release)
# NULL function pointers (ctypes does not accept None for a CFUNCTYPE argument).
NO_PROCESS_RESULTS = _bindings.tasker_process_results_fn()
NO_RELEASE = _bindings.tasker_userdata_free_fn()

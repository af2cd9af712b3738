"""Typed errors: `TaskerError` for failed libtasker calls, `StepError` for handlers to raise."""
from __future__ import annotations

from typing import Any

from ._bindings import RESULT_CODES

__all__ = [
    "TaskerError",
    "InvalidArgumentError",
    "NullParameterError",
    "TemplateError",
    "InvalidTemplateError",
    "TemplateCycleError",
    "RequestError",
    "UnknownTemplateError",
    "InvalidRequestError",
    "SchemaValidationError",
    "PayloadTooLargeError",
    "DuplicateTaskError",
    "NotFoundError",
    "TaskNotFoundError",
    "StepNotFoundError",
    "StateError",
    "IllegalTransitionError",
    "StaleClaimError",
    "CancelledError",
    "InvalidStateError",
    "CallInterruptedError",
    "ConfigError",
    "DatabaseError",
    "InternalError",
    "PanicError",
    "StepError",
    "RetryableError",
    "PermanentError",
    "error_for_code",
]


class TaskerError(Exception):
    """A libtasker call failed. `code` is the tasker_result number, `name` its stable name
    ("invalid_template", ...), `message` libtasker's explanation."""

    #: the result code this class stands for (families leave it None)
    CODE: int | None = None

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}" if message else name)
        self.code = code
        self.name = name
        self.message = message

    @classmethod
    def make(cls, message: str) -> TaskerError:
        """Builds an error of this (leaf) class from the Python side, e.g. a call on a closed client."""
        assert cls.CODE is not None, f"{cls.__name__} is a family, not a result code"
        name = next(n.lower() for n, c in RESULT_CODES.items() if c == cls.CODE)
        return cls(cls.CODE, name, message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.name, self.message))


# -- families ------------------------------------------------------------------------------------
class InvalidArgumentError(TaskerError):
    """Malformed arguments: bad MessagePack, wrong types, invalid UTF-8, bad option (and NULLs)."""

    CODE = RESULT_CODES["INVALID_ARGUMENT"]


class NullParameterError(InvalidArgumentError):
    CODE = RESULT_CODES["NULL_PARAMETER"]


class TemplateError(TaskerError):
    """A template was rejected."""


class InvalidTemplateError(TemplateError):
    CODE = RESULT_CODES["INVALID_TEMPLATE"]


class TemplateCycleError(TemplateError):
    CODE = RESULT_CODES["TEMPLATE_CYCLE"]


class RequestError(TaskerError):
    """A task request was rejected."""


class UnknownTemplateError(RequestError):
    CODE = RESULT_CODES["UNKNOWN_TEMPLATE"]


class InvalidRequestError(RequestError):
    CODE = RESULT_CODES["INVALID_REQUEST"]


class SchemaValidationError(RequestError):
    CODE = RESULT_CODES["SCHEMA_VALIDATION"]


class PayloadTooLargeError(RequestError):
    CODE = RESULT_CODES["PAYLOAD_TOO_LARGE"]


class DuplicateTaskError(RequestError):
    CODE = RESULT_CODES["DUPLICATE_TASK"]


class NotFoundError(TaskerError, LookupError):
    """No task or step with that id."""


class TaskNotFoundError(NotFoundError):
    CODE = RESULT_CODES["TASK_NOT_FOUND"]


class StepNotFoundError(NotFoundError):
    CODE = RESULT_CODES["STEP_NOT_FOUND"]


class StateError(TaskerError):
    """The operation does not fit the current state."""


class IllegalTransitionError(StateError):
    CODE = RESULT_CODES["ILLEGAL_TRANSITION"]


class StaleClaimError(StateError):
    CODE = RESULT_CODES["STALE_CLAIM"]


class CancelledError(StaleClaimError):
    """Raised by `StepContext.heartbeat` when the step's task was cancelled while the handler
    ran: stop working and return (the outcome is discarded). A StaleClaimError, so code that
    catches that keeps working."""


class InvalidStateError(StateError):
    CODE = RESULT_CODES["INVALID_STATE"]


class CallInterruptedError(TaskerError):
    """A blocking call was interrupted (`tasker_client_interrupt`) and gave its claims back.
    The wrapper turns it into the `KeyboardInterrupt` that caused it where there was one."""

    CODE = RESULT_CODES["INTERRUPTED"]


class ConfigError(TaskerError):
    CODE = RESULT_CODES["CONFIG"]


class DatabaseError(TaskerError):
    CODE = RESULT_CODES["DATABASE"]


class InternalError(TaskerError):
    CODE = RESULT_CODES["INTERNAL"]


class PanicError(InternalError):
    """A panic inside libtasker, caught at the boundary (a bug in libtasker)."""

    CODE = RESULT_CODES["PANIC"]


_BY_CODE: dict[int, type[TaskerError]] = {}
for _cls in list(globals().values()):
    if isinstance(_cls, type) and issubclass(_cls, TaskerError) and _cls.CODE is not None:
        _BY_CODE[_cls.CODE] = _cls


def error_for_code(code: int) -> type[TaskerError]:
    """The exception class for a result code (TaskerError for codes newer than this wrapper)."""
    return _BY_CODE.get(code, TaskerError)


# -- raised by step handlers ---------------------------------------------------------------------
class StepError(Exception):
    """Base of the errors a step handler raises on purpose.

    The recorded error class is `error_class` when given, else the exception's class name, so
    `class GatewayBusy(RetryableError)` is recorded as "GatewayBusy". `details` is any
    JSON-compatible value stored with the error.
    """

    retryable: bool = True

    def __init__(self, message: str, *, error_class: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_class = error_class or type(self).__name__
        self.details = details


class RetryableError(StepError):
    """A failed attempt that may be retried; `retry_after` (seconds) overrides the backoff."""

    retryable = True

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        error_class: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message, error_class=error_class, details=details)
        if retry_after is not None and retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        self.retry_after = retry_after


class PermanentError(StepError):
    """A failure that must not be retried: the step ends in error and blocks the task."""

    retryable = False

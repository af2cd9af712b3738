"""Loads libtasker with ctypes.CDLL (the GIL is released during every call) and declares every
function's restype/argtypes from the generated table; small helpers for errors and buffers."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import threading
from pathlib import Path
from typing import Any, cast

import msgpack

from . import _bindings
from ._bindings import TaskerBytes
from .errors import TaskerError, error_for_code

__all__ = ["lib", "library_path", "raise_error", "take_bytes", "pack", "unpack"]


def _checkout_libs() -> list[str]:
    """The staged builds of the libtasker checkout this package sits in (not once installed)."""
    # <repo>/wrappers/python/tasker/_lib.py -> <repo>
    repo = Path(__file__).resolve().parents[3]
    if not (repo / "Cargo.toml").is_file() or not (repo / "wrappers" / "python").is_dir():
        return []
    return [str(repo / "target" / "clib" / p / "libtasker.so") for p in ("debug", "release")]


def _pkg_config_lib() -> list[str]:
    """libtasker.so in the libdir of the tasker.pc that pkg-config finds (PKG_CONFIG_PATH)."""
    try:
        out = subprocess.run(["pkg-config", "--variable=libdir", "tasker"], capture_output=True,
                             text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    libdir = out.stdout.strip()
    return [os.path.join(libdir, "libtasker.so")] if out.returncode == 0 and libdir else []


def _candidates() -> list[str]:
    """Where libtasker is looked for, in order: $TASKER_LIB (a file), $TASKER_LIB_DIR, the
    checkout's staged build, pkg-config's tasker.pc, then the system loader (LD_LIBRARY_PATH,
    ldconfig's cache, the default directories)."""
    explicit = os.environ.get("TASKER_LIB")
    if explicit:
        return [explicit]
    lib_dir = os.environ.get("TASKER_LIB_DIR")
    if lib_dir:
        return [os.path.join(lib_dir, "libtasker.so")]
    found = _checkout_libs() + _pkg_config_lib()
    system = ctypes.util.find_library("tasker")
    if system:
        found.append(system)
    found.append("libtasker.so")
    return found


def _load() -> tuple[ctypes.CDLL, str]:
    tried: list[str] = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(f"{path} (missing)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as exc:
            tried.append(f"{path} ({exc})")
    raise ImportError(
        "libtasker not found; install it (make install), set PKG_CONFIG_PATH to the directory of "
        "its tasker.pc, or set TASKER_LIB (path to libtasker.so) or TASKER_LIB_DIR. Tried: "
        + "; ".join(tried)
    )


lib, library_path = _load()
_bindings.bind(lib)

_version = lib.tasker_version().decode()
if _version != _bindings.HEADER_VERSION:
    raise ImportError(
        f"{library_path} is libtasker {_version}, but this wrapper was generated from the "
        f"{_bindings.HEADER_VERSION} header (no ABI stability before 1.0): rebuild or regenerate"
    )


def raise_error(rc: int, err: ctypes.c_void_p) -> None:
    """Turns a failed call's result code and owned error object into a typed exception."""
    code = rc
    message = ""
    if err.value:
        try:
            code = int(lib.tasker_error_code(err))
            raw = lib.tasker_error_message(err)
            message = raw.decode("utf-8", "replace") if raw else ""
        finally:
            lib.tasker_error_free(err)
            err.value = None
    name_raw = lib.tasker_result_name(code)
    name = name_raw.decode() if name_raw else f"result_{code}"
    raise error_for_code(code)(code, name, message)


def take_bytes(buf: TaskerBytes) -> bytes:
    """Copies an owned output buffer and frees it."""
    try:
        return ctypes.string_at(buf.data, buf.len) if buf.len else b""
    finally:
        lib.tasker_bytes_free(ctypes.byref(buf))


def pack(value: Any) -> bytes:
    return cast(bytes, msgpack.packb(value, use_bin_type=True))


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False)


def result_name(code: int) -> str:
    raw = lib.tasker_result_name(code)
    return raw.decode() if raw else ""


# -- exceptions that must not be swallowed by a callback (KeyboardInterrupt, SystemExit) -------
# A trampoline records them here (per thread) and the wrapper re-raises them once the outer
# libtasker call has returned, so nothing ever unwinds through C.
_tls = threading.local()


def stash_fatal(exc: BaseException) -> None:
    if getattr(_tls, "fatal", None) is None:
        _tls.fatal = exc


def reraise_fatal() -> None:
    exc = getattr(_tls, "fatal", None)
    if exc is not None:
        _tls.fatal = None
        raise exc


def take_fatal() -> BaseException | None:
    exc = getattr(_tls, "fatal", None)
    _tls.fatal = None
    return exc


def finish(rc: int, err: ctypes.c_void_p) -> None:
    """After a call that may have run callbacks: re-raise a stashed KeyboardInterrupt/SystemExit
    first, else turn a failure into a typed exception."""
    fatal = take_fatal()
    if fatal is not None:
        if err.value:
            lib.tasker_error_free(err)
        raise fatal
    if rc:
        raise_error(rc, err)


def thread_state() -> threading.local:
    return _tls


# Unused import guard for type checkers (TaskerError is re-exported for convenience).
_ = TaskerError

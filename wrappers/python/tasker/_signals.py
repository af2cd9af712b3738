"""Signals during blocking libtasker calls.

While the main thread is inside a C call (an idle worker, a backoff wait), Python runs no
signal handler: it only records the signal and writes its number to the wakeup fd. `watch`
points the wakeup fd at a pipe read by a helper thread, which asks libtasker to stop or
interrupt the call at once (libtasker's stop and interrupt are safe from any thread); the
Python-level handler then runs when the call has returned. Everything is restored on exit.
"""
from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
from typing import Any, Callable, Iterator, Mapping

__all__ = ["watch", "STOP_SIGNALS"]

#: what `handle_signals=True` handles
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _python_handles(signum: int) -> bool:
    """True when a Python-level handler will run for `signum` (else the wakeup fd never sees it)."""
    handler = signal.getsignal(signum)
    return callable(handler)


@contextlib.contextmanager
def watch(on_signal: Callable[[int], None], signals: tuple[int, ...],
          handlers: Mapping[int, Callable[[int, Any], Any]] | None = None) -> Iterator[None]:
    """Calls `on_signal(signum)` from a helper thread for each of `signals` received while the
    block runs (SIGINT counts only while a Python handler is installed for it: Python's default
    raises KeyboardInterrupt, SIG_IGN is respected). `handlers` are installed for the block and
    the previous ones restored. Outside the main thread (where Python delivers no signal)
    nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous_handlers = {signum: signal.signal(signum, h) for signum, h in (handlers or {}).items()}
    watched = tuple(s for s in signals if _python_handles(s))
    read_fd, write_fd = os.pipe()
    quit_r, quit_w = os.pipe()
    os.set_blocking(write_fd, False)
    try:
        previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except ValueError:  # pragma: no cover - not the main interpreter
        previous_fd = None
    thread = threading.Thread(target=_pump, args=(read_fd, quit_r, previous_fd, watched, on_signal),
                              name="tasker-signals", daemon=True)
    thread.start()
    try:
        yield
    finally:
        if previous_fd is not None:
            signal.set_wakeup_fd(previous_fd)
        for signum, h in previous_handlers.items():
            signal.signal(signum, h)
        os.write(quit_w, b"x")
        thread.join()
        for fd in (read_fd, write_fd, quit_r, quit_w):
            os.close(fd)


def _pump(read_fd: int, quit_fd: int, forward_fd: int | None, watched: tuple[int, ...],
          on_signal: Callable[[int], None]) -> None:
    while True:
        ready, _, _ = select.select([read_fd, quit_fd], [], [])
        if read_fd not in ready:
            return
        data = os.read(read_fd, 512)
        if forward_fd is not None and forward_fd >= 0:
            # Someone else (asyncio, ...) had the wakeup fd: they still get every signal.
            with contextlib.suppress(OSError):
                os.write(forward_fd, data)
        for signum in data:
            if signum in watched:
                on_signal(signum)

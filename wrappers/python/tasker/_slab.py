"""Userdata for C is an integer id into this table, never a Python object address. An entry
lives until libtasker runs the registration's finalizer (exactly once)."""
from __future__ import annotations

import itertools
import threading
from typing import Any

_lock = threading.Lock()
_ids = itertools.count(1)
_entries: dict[int, Any] = {}


def add(value: Any) -> int:
    with _lock:
        key = next(_ids)
        _entries[key] = value
        return key


def get(key: int | None) -> Any:
    return _entries.get(key or 0)


def remove(key: int | None) -> Any:
    with _lock:
        return _entries.pop(key or 0, None)


def size() -> int:
    return len(_entries)

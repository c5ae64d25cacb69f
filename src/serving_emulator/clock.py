"""Clocks: where the emulator reads the current time.

Every time-based transition is computed from timestamps stored in the database and the value of
an injected clock, never from timers, so a `ManualClock` makes tests instant and deterministic.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """A source of wall-clock time in seconds since the Unix epoch."""

    def now(self) -> float: ...


class SystemClock:
    """The real time (`time.time()`)."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to; safe to share between threads."""

    def __init__(self, start: float = 1_766_000_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by `seconds` (must be >= 0) and return the new time."""
        if seconds < 0:
            raise ValueError("a ManualClock only moves forward")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        """Jump to an absolute time, which must not be earlier than the current one."""
        with self._lock:
            if when < self._now:
                raise ValueError("a ManualClock only moves forward")
            self._now = float(when)

"""Time for apply: how long to wait between polls, when a wait gives up, and write pacing.

Nothing here sleeps or reads the time directly: `WaitPolicy` carries an injected async `sleep`
and `clock`, so tests drive waits with a fake clock (or advance the emulator's clock) instead of
sleeping. `WriteScheduler` keeps create and PUT-config calls within the workspace budget across
every endpoint of one apply, and holds all writes back after a 429's Retry-After. `ApplyRuntime`
bundles a command's time and pacing (the CLI's `Settings.runtime` test seam).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

DEFAULT_TIMEOUT = 45 * 60.0
DEFAULT_BUDGET_CALLS = 50
DEFAULT_BUDGET_SECONDS = 300.0


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitPolicy:
    """How apply waits for an endpoint's update to settle.

    The delay between polls grows with the time already spent waiting (`ratio` of it), from
    `min_interval` up to `max_interval`, with +/- `jitter` (a fraction) so that many endpoints
    do not poll in lock step. A rollout is therefore noticed within about `ratio` of its
    duration (never later than `max_interval`): 1 s late for a 10 s update, 10 s for a long one.
    `timeout` bounds all waiting for one endpoint. `clock` measures elapsed time; `wall_clock`
    (epoch seconds) is compared with the server's last_updated_timestamp to measure how late
    the end of an update was noticed.
    """

    timeout: float = DEFAULT_TIMEOUT
    min_interval: float = 1.0
    max_interval: float = 10.0
    ratio: float = 0.1
    jitter: float = 0.1
    sleep: Sleep = asyncio.sleep
    clock: Clock = time.monotonic
    wall_clock: Clock = time.time
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, elapsed: float) -> float:
        """Seconds to sleep before the next poll, `elapsed` seconds into a wait."""
        base = min(self.max_interval, max(self.min_interval, elapsed * self.ratio))
        return max(0.0, base * (1.0 + self.rng.uniform(-self.jitter, self.jitter)))


DEFAULT_WAIT = WaitPolicy()


@dataclass(frozen=True, kw_only=True)
class ApplyRuntime:
    """Time and pacing for one apply or wait command: the sleep and clocks of its waits, write
    scheduler and client retries, the write budget, and how often progress is shown. The CLI
    uses the real clock unless `Settings.runtime` holds one (end-to-end tests pass one whose
    `sleep` advances the emulator's ManualClock, so 10-minute rollouts take no time)."""

    sleep: Sleep = asyncio.sleep
    clock: Clock = time.monotonic
    wall_clock: Clock = time.time
    budget_calls: int = DEFAULT_BUDGET_CALLS
    budget_seconds: float = DEFAULT_BUDGET_SECONDS
    progress_every: float = 30.0


class WriteScheduler:
    """Paces the budgeted writes (create and PUT config) of one apply across all endpoints.

    At most `calls` writes are released per sliding `window` of seconds (0 in either disables
    the budget), and after a 429 no write is released until its Retry-After has passed. Writes
    are released in the order they asked (asyncio.Lock is fair).
    """

    def __init__(
        self,
        *,
        calls: int = DEFAULT_BUDGET_CALLS,
        window: float = DEFAULT_BUDGET_SECONDS,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.calls = calls
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._released: deque[float] = deque()
        self._hold_until = 0.0
        self._lock = asyncio.Lock()
        self.granted = 0
        """How many writes were released (for tests and benchmarks)."""

    @property
    def enabled(self) -> bool:
        return self.calls > 0 and self.window > 0

    async def acquire(self) -> float:
        """Wait until one more write fits the budget; returns the seconds spent waiting."""
        waited = 0.0
        async with self._lock:
            while True:
                delay = self._delay(self._clock())
                if delay <= 0:
                    break
                await self._sleep(delay)
                waited += delay
            self._released.append(self._clock())
            self.granted += 1
        return waited

    def hold(self, seconds: float) -> None:
        """The workspace answered 429: release no write for `seconds`."""
        self._hold_until = max(self._hold_until, self._clock() + max(seconds, 0.0))

    def _delay(self, now: float) -> float:
        delay = self._hold_until - now
        if not self.enabled:
            return delay
        while self._released and now - self._released[0] >= self.window:
            self._released.popleft()
        if len(self._released) >= self.calls:
            delay = max(delay, self._released[0] + self.window - now)
        return delay


def format_duration(seconds: float) -> str:
    """`7m04s`, `45s`, `1h02m03s`: Terraform's elapsed-time style (whole seconds)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"

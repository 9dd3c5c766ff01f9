"""Weight-based request limiting, driven by the exchange's own counters.

Binance counts request weight per IP in fixed windows (one minute for
``X-MBX-USED-WEIGHT-1M``) and answers 429, then 418 (a ban), to clients that
exceed it. The limiter keeps a local estimate, replaces it with the exchange's
figure from every response header (the authority: other processes on the same
IP spend weight too), and makes a caller wait for the next window rather than
exceed ``limit * safety``. After a 429/418 it blocks every request until the
``Retry-After`` time.
"""
from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable


class WeightLimiter:
    """One weight budget per exchange host (e.g. Binance spot, Binance USD-M).

    ``clock`` returns the exchange's time in seconds (local time plus the
    server-time offset), because windows are aligned to the exchange's clock;
    ``sleep`` is injectable for tests.
    """

    def __init__(self, limit: int, window_s: float = 60.0, *, safety: float = 0.9,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if limit < 1 or window_s <= 0 or not 0 < safety <= 1:
            raise ValueError(f"bad limiter settings: limit={limit} window_s={window_s} safety={safety}")
        self.limit = limit
        self.window_s = window_s
        self.safety = safety
        self._clock = clock
        self._sleep = sleep
        self._window = -1
        self.used = 0
        self.blocked_until = 0.0
        self.waits = 0            # times a caller had to wait (monitoring)
        self.waited_s = 0.0
        self._lock = asyncio.Lock()

    @property
    def budget(self) -> int:
        return max(1, int(self.limit * self.safety))

    def set_limit(self, limit: int, window_s: float | None = None) -> None:
        """Adopt the exchange's published limit (exchangeInfo ``rateLimits``)."""
        if limit >= 1:
            self.limit = limit
        if window_s:
            self.window_s = window_s

    def _roll(self, now: float) -> None:
        window = int(now // self.window_s)
        if window != self._window:
            self._window = window
            self.used = 0

    def delay_for(self, weight: int) -> float:
        """Seconds to wait before ``weight`` may be spent (0 when it fits now)."""
        now = self._clock()
        if now < self.blocked_until:
            return self.blocked_until - now
        self._roll(now)
        if self.used + weight <= self.budget or self.used == 0:
            # An empty window always admits one request, even one heavier
            # than the budget: otherwise it could never be sent at all.
            return 0.0
        return (self._window + 1) * self.window_s - now + 0.05

    async def acquire(self, weight: int) -> None:
        """Wait until ``weight`` fits in the budget, then reserve it."""
        async with self._lock:
            while True:
                delay = self.delay_for(weight)
                if delay <= 0:
                    self.used += weight
                    return
                self.waits += 1
                self.waited_s += delay
                await self._sleep(delay)

    def observe(self, used_weight: int) -> None:
        """Take the exchange's count from a response header (it includes our request)."""
        now = self._clock()
        self._roll(now)
        self.used = used_weight

    def block(self, retry_after_s: float) -> None:
        """The exchange said 429/418: send nothing until then."""
        self.blocked_until = max(self.blocked_until, self._clock() + max(retry_after_s, 0.0))

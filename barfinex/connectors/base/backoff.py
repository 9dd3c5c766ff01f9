"""Exponential backoff with full jitter for reconnect loops that never give up."""
from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Delays for attempt 1, 2, 3...: ``uniform(initial/2, min(cap, initial * factor**n))``.

    Jitter spreads reconnects of many clients (and of our own many streams)
    after a shared outage, so they do not hit the exchange in lockstep; the
    floor of ``initial/2`` keeps a tight loop impossible even with an unlucky
    draw. ``reset()`` after a connection proved healthy, so the next outage
    starts from ``initial`` again. There is no attempt limit: the caller loops
    while it runs.
    """

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    attempt: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(f"backoff needs 0 < initial_s ({self.initial_s}) <= max_s ({self.max_s})")
        if self.factor < 1:
            raise ValueError(f"backoff factor must be >= 1, got {self.factor}")

    def next_delay(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        ceiling = min(self.max_s, self.initial_s * self.factor ** self.attempt)
        self.attempt += 1
        return self.rng.uniform(min(self.initial_s / 2, ceiling), ceiling)

    def reset(self) -> None:
        self.attempt = 0

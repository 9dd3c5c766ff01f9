"""How long an actor busy-polls its SUB socket after an event (poll: spin).

On this machine class a thread that sleeps lets its vCPU halt, and waking a
halted vCPU from another one is most of a bus hop (bench/RESULTS.md, Bus).
An actor in spin mode therefore keeps polling for a while after each event;
an event that arrives in that window is handled with no wake-up at all.

The window adapts the way Linux's guest haltpoll does: when an event arrives
through epoll after a gap a longer window would have covered (gap <= the
cap), the window doubles; when the gap was longer than the cap, polling was
wasted and the window halves, down to 0 (pure epoll) for a sparse stream. An
idle actor therefore never spins, and a busy one spins only between events
that come close together.
"""
from __future__ import annotations

# Below this the window is not worth a spin phase: it drops to 0 (epoll).
MIN_WINDOW_NS = 5_000


class AdaptiveSpin:
    """The current spin window, adapted from the gaps between events."""

    __slots__ = ("max_ns", "window_ns", "grows", "shrinks")

    def __init__(self, max_ns: int) -> None:
        if max_ns < 1_000:
            raise ValueError(f"spin window cap {max_ns} ns: at least 1 us")
        self.max_ns = max_ns
        self.window_ns = max_ns     # start ready to spin; a sparse stream shrinks it
        self.grows = 0
        self.shrinks = 0

    def woke_after(self, gap_ns: int) -> None:
        """An event came through epoll ``gap_ns`` after the last activity."""
        if gap_ns <= self.max_ns:
            if gap_ns > self.window_ns:
                # A longer window would have caught it without a wake-up.
                self.window_ns = min(self.max_ns, max(self.window_ns * 2, MIN_WINDOW_NS))
                self.grows += 1
        elif self.window_ns:
            half = self.window_ns // 2
            self.window_ns = half if half >= MIN_WINDOW_NS else 0
            self.shrinks += 1

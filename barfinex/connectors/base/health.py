"""Counters for bad input and connection health, named by stream.

Every malformed exchange message is counted against the stream it arrived on,
with the latest error text kept for people; it never raises out of the read
loop, so one bad frame costs one message and nothing else.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger("barfinex.connectors")

_LOG_EVERY_S = 5.0


@dataclass
class StreamHealth:
    """Per-connection counters, readable at any time by the Provider (status, heartbeats)."""

    messages: int = 0
    malformed: Counter = field(default_factory=Counter)        # stream -> bad messages
    handler_errors: Counter = field(default_factory=Counter)   # stream -> handler exceptions
    reconnects: int = 0
    silences: int = 0
    last_error: str = ""
    last_message_ns: int = 0
    _last_log: float = 0.0
    _suppressed: int = 0

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())

    def bad_message(self, where: str, stream: str, why: str) -> None:
        """Count one malformed message on ``stream``; log, at most every few seconds."""
        self.malformed[stream or "?"] += 1
        self._note(f"{where}: malformed message on stream {stream or '?'!r}: {why}")

    def handler_failed(self, where: str, stream: str, exc: BaseException) -> None:
        self.handler_errors[stream or "?"] += 1
        self._note(f"{where}: handler for stream {stream!r} raised {type(exc).__name__}: {exc}")

    def _note(self, text: str) -> None:
        self.last_error = text
        now = time.monotonic()
        if now - self._last_log >= _LOG_EVERY_S:
            extra = f" (+{self._suppressed} similar not logged)" if self._suppressed else ""
            log.warning("%s%s", text, extra)
            self._last_log, self._suppressed = now, 0
        else:
            self._suppressed += 1

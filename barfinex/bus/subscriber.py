"""Receiving: decode, detect sequence gaps, count and report bad frames.

Nothing here raises on bad input: a garbled, truncated or unknown frame is
counted, logged with the endpoint it came from, and skipped.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from barfinex import backend
from barfinex.model import BusGap, Codec, DecodeError, Message

log = logging.getLogger("barfinex.bus")
_frame = backend.load("frame")
decode_frame = _frame.decode_frame
FrameError = _frame.FrameError


@dataclass(slots=True)
class Event:
    """A received event: its decoded header and payload."""

    header: object      # barfinex._fast.frame.Header
    msg: Message

    @property
    def topic(self) -> str:
        return self.header.topic.decode()


class SequenceTracker:
    """Per (source, topic) last sequence; reports every jump as a BusGap.

    A publisher that restarts starts its sequences again; it is recognised by
    the instance id in its event ids (their first 8 bytes), not by seq == 1,
    because a restarted publisher's first messages can be lost to the slow
    joiner too.
    """

    def __init__(self, on_gap: Callable[[BusGap], None] | None = None) -> None:
        self._last: dict[tuple[bytes, bytes], list] = {}   # -> [instance id, last seq]
        self._on_gap = on_gap
        self.gaps = 0           # gap events
        self.missing = 0        # messages lost in them
        self.duplicates = 0
        self.restarts = 0

    def check(self, source: bytes, topic: bytes, seq: int, event_id: bytes) -> bool:
        """True if the event is new; False for a duplicate or stale one."""
        key = (source, topic)
        entry = self._last.get(key)
        if entry is None:
            self._last[key] = [event_id[:8], seq]
            return True
        last = entry[1]
        if seq == last + 1:
            entry[1] = seq
            return True
        if entry[0] != event_id[:8]:
            self.restarts += 1
            entry[0], entry[1] = event_id[:8], seq
            log.info("bus: %s restarted; following %s from seq %d", source.decode(errors="replace"),
                     topic.decode(errors="replace"), seq)
            return True
        if seq <= last:
            self.duplicates += 1
            return False
        missing = seq - last - 1
        self.gaps += 1
        self.missing += missing
        entry[1] = seq
        gap = BusGap(source.decode(errors="replace"), topic.decode(errors="replace"),
                     last + 1, seq, missing)
        log.warning("bus: gap on %s from %s: expected seq %d, got %d (%d lost)",
                    gap.topic, gap.source, gap.expected_seq, seq, missing)
        if self._on_gap is not None:
            self._on_gap(gap)
        return True

    def reset(self, source: bytes, topic: bytes, seq: int, instance: bytes) -> None:
        """Accept ``seq`` as the baseline (after a snapshot stamped with it)."""
        self._last[(source, topic)] = [instance[:8], seq]


class Receiver:
    """Turns raw frames into Events, with gap tracking and bad-frame counting."""

    def __init__(self, codec: Codec | None = None, on_gap: Callable[[BusGap], None] | None = None) -> None:
        self.codec = codec or Codec()
        self.seq = SequenceTracker(on_gap)
        self.received = 0
        self.bad_frames = 0

    def feed(self, raw: bytes, origin: str = "?") -> Event | None:
        """Decode one frame; None (counted, logged) if it is bad, stale or a duplicate."""
        self.received += 1
        try:
            h = decode_frame(raw)
            msg = self.codec.decode(h.type, h.payload)
        except (FrameError, DecodeError) as exc:
            self.bad_frames += 1
            log.warning("bus: bad frame from %s (%d bytes): %s", origin, len(raw), exc)
            return None
        if not self.seq.check(h.source, h.topic, h.seq, h.event_id):
            return None
        return Event(h, msg)

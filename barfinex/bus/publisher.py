"""Publishing: one frame per event, a gapless sequence per topic, and the
source-prefix rule (an actor publishes only its own kind's channels)."""
from __future__ import annotations

import os
import time

import zmq

from barfinex import backend
from barfinex.model import Message
from barfinex.model.channels import ALL_CHANNELS, channel_of

_frame = backend.load("frame")
encode_frame = _frame.encode_frame
NoWaitSocket = backend.load("zsocket").NoWaitSocket


class PublishRefused(ValueError):
    """A channel this publisher may not publish (unknown, or another source's)."""


class Publisher:
    """Encodes and sends events on a PUB socket.

    The sequence runs per topic (not per channel): a subscriber that filters
    one symbol still sees a gapless sequence, so every jump is a real loss.
    """

    def __init__(self, sock: zmq.Socket, kind: str, name: str, encode) -> None:
        self._sock = sock
        # PUB never blocks (it drops at the high-water mark); this door skips
        # pyzmq's ~0.3 us of per-call overhead (barfinex/_fast/zsocket.pyx).
        self._send = NoWaitSocket(sock).send
        self._kind = kind
        self._source = name.encode()
        self._encode = encode
        self._prefix = os.urandom(8)  # event ids: unique per publisher instance
        self._counter = 0
        self._topics: dict[str, list] = {}  # topic -> [topic bytes, last seq]
        self.sent = 0

    def _register(self, topic: str) -> list:
        channel = channel_of(topic)
        if channel not in ALL_CHANNELS:
            raise PublishRefused(f"unknown channel {channel!r} in topic {topic!r}")
        if not channel.startswith(self._kind + "_"):
            raise PublishRefused(
                f"{self._source.decode()} ({self._kind}) may not publish {channel}: "
                f"a channel's prefix names its source")
        entry = [topic.encode(), 0]
        self._topics[topic] = entry
        return entry

    def publish(self, topic: str, msg: Message, exch_ts_ns: int = 0,
                correlation_id: bytes = b"", causation_id: bytes = b"") -> bytes:
        """Send ``msg`` on ``topic``; returns the event id (16 bytes)."""
        entry = self._topics.get(topic) or self._register(topic)
        entry[1] += 1
        self._counter += 1
        self._send(encode_frame(
            entry[0], msg.TYPE_ID, entry[1], time.time_ns(), exch_ts_ns, self._prefix,
            self._counter, correlation_id, causation_id, self._source, self._encode(msg)))
        self.sent += 1
        return self._prefix + self._counter.to_bytes(8, "little")

    def last_seq(self, topic: str) -> int:
        """The sequence of the last event sent on ``topic`` (0: none yet); a
        snapshot stamped with it lets a late joiner drop what it already has."""
        entry = self._topics.get(topic)
        return entry[1] if entry else 0

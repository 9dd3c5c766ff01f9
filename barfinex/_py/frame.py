"""Pure-Python twin of barfinex/_fast/frame.pyx: same API, same bytes."""
from __future__ import annotations

import struct

MAGIC = 0xBF
WIRE_VERSION = 1
HEADER_SIZE = 80
ID_SIZE = 16
MAX_SOURCE = 255

_FIXED = struct.Struct("<BBHBBHQqq8sQ16s16s")
_ZERO_ID = bytes(ID_SIZE)


class FrameError(ValueError):
    """A frame that cannot be decoded; the message says what is wrong with it."""


class Header:
    """A decoded frame: the header fields, the topic, the source and the payload."""

    __slots__ = ("topic", "version", "type", "flags", "seq", "ts_ns", "exch_ts_ns",
                 "event_id", "correlation_id", "causation_id", "source", "payload")

    def __repr__(self) -> str:
        return (f"Header(topic={self.topic!r}, type={self.type}, seq={self.seq}, "
                f"source={self.source!r}, ts_ns={self.ts_ns}, "
                f"payload={len(self.payload)}B)")


def encode_frame(topic: bytes, msg_type: int, seq: int, ts_ns: int, exch_ts_ns: int,
                 id_prefix: bytes, id_counter: int, correlation_id: bytes,
                 causation_id: bytes, source: bytes, payload: bytes) -> bytes:
    """Build one frame (see the Cython module for the layout and errors)."""
    if not topic or b"\0" in topic:
        raise FrameError("topic must be non-empty and free of NUL bytes")
    if len(id_prefix) != 8:
        raise FrameError("id_prefix must be 8 bytes")
    if len(correlation_id) not in (0, ID_SIZE):
        raise FrameError("correlation_id must be empty or 16 bytes")
    if len(causation_id) not in (0, ID_SIZE):
        raise FrameError("causation_id must be empty or 16 bytes")
    if len(source) > MAX_SOURCE:
        raise FrameError("source longer than 255 bytes")
    if not 0 <= msg_type <= 0xFFFF:
        raise FrameError("msg_type out of range 0..65535")
    fixed = _FIXED.pack(MAGIC, WIRE_VERSION, msg_type, len(source), 0, 0,
                        seq, ts_ns, exch_ts_ns, id_prefix, id_counter,
                        correlation_id or _ZERO_ID, causation_id or _ZERO_ID)
    return b"".join((topic, b"\0", fixed, source, payload))


def decode_frame(frame: bytes) -> Header:
    """Split a frame into its Header. Raises FrameError naming what is wrong."""
    tlen = frame.find(b"\0")
    if tlen < 0:
        raise FrameError("no topic terminator (not a barfinex frame)")
    if tlen == 0:
        raise FrameError("empty topic")
    rest = len(frame) - tlen - 1
    if rest < HEADER_SIZE:
        raise FrameError(f"truncated header: {rest} of {HEADER_SIZE} bytes")
    (magic, version, mtype, slen, flags, _reserved, seq, ts_ns, exch_ts_ns,
     prefix, counter, corr, cause) = _FIXED.unpack_from(frame, tlen + 1)
    if magic != MAGIC:
        raise FrameError(f"bad magic 0x{magic:02x}")
    if version != WIRE_VERSION:
        raise FrameError(f"unsupported wire version {version}")
    if rest - HEADER_SIZE < slen:
        raise FrameError("truncated source")
    h = Header()
    h.topic = frame[:tlen]
    h.version = version
    h.type = mtype
    h.flags = flags
    h.seq = seq
    h.ts_ns = ts_ns
    h.exch_ts_ns = exch_ts_ns
    h.event_id = prefix + counter.to_bytes(8, "little")
    h.correlation_id = corr
    h.causation_id = cause
    start = tlen + 1 + HEADER_SIZE
    h.source = frame[start:start + slen]
    h.payload = frame[start + slen:]
    return h

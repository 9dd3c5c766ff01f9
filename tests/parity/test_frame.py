"""The frame codec: Cython and its pure-Python twin produce the same bytes and
decode each other's frames; every malformed frame is a FrameError."""
import os

import pytest
from hypothesis import given, settings, strategies as st

from barfinex import backend

pytestmark = pytest.mark.parity

fast = backend.load("frame", "fast")
py = backend.load("frame", "py")

PREFIX = b"\x01\x02\x03\x04\x05\x06\x07\x08"
FIELDS = ("topic", "version", "type", "flags", "seq", "ts_ns", "exch_ts_ns",
          "event_id", "correlation_id", "causation_id", "source", "payload")


def _fields(h):
    return tuple(getattr(h, f) for f in FIELDS)


def _args(**kw):
    base = dict(topic=b"PROVIDER_MARKETDATA_TRADE.binance.usdm.BTCUSDT", msg_type=1, seq=7,
                ts_ns=1_723_161_256_299_000_000, exch_ts_ns=1_723_161_256_298_000_000,
                id_prefix=PREFIX, id_counter=42, correlation_id=b"", causation_id=bytes(range(16)),
                source=b"provider", payload=b"\x9a\x01\x02")
    base.update(kw)
    return base


def test_round_trip_and_same_bytes(impl):
    mod = impl("frame")
    frame = mod.encode_frame(**_args())
    assert frame == py.encode_frame(**_args()) == fast.encode_frame(**_args())
    h = mod.decode_frame(frame)
    assert h.topic == b"PROVIDER_MARKETDATA_TRADE.binance.usdm.BTCUSDT"
    assert (h.type, h.seq, h.source, h.payload) == (1, 7, b"provider", b"\x9a\x01\x02")
    assert h.event_id == PREFIX + (42).to_bytes(8, "little")
    assert h.correlation_id == bytes(16) and h.causation_id == bytes(range(16))
    assert h.exch_ts_ns == 1_723_161_256_298_000_000


def test_topic_prefix_is_the_raw_frame_prefix(impl):
    # SUB filtering matches raw bytes: the topic must be the frame's first bytes.
    frame = impl("frame").encode_frame(**_args())
    assert frame.startswith(b"PROVIDER_MARKETDATA_TRADE.binance.")


@pytest.mark.parametrize("kw, why", [
    (dict(topic=b""), "topic"),
    (dict(topic=b"A\0B"), "topic"),
    (dict(id_prefix=b"short"), "id_prefix"),
    (dict(correlation_id=b"x" * 5), "correlation_id"),
    (dict(source=b"s" * 256), "source"),
    (dict(msg_type=70000), "msg_type"),
])
def test_encode_rejects(impl, kw, why):
    mod = impl("frame")
    with pytest.raises(mod.FrameError, match=why):
        mod.encode_frame(**_args(**kw))


def _garbled():
    good = py.encode_frame(**_args())
    tlen = good.index(b"\0")
    bad_magic = bytearray(good); bad_magic[tlen + 1] = 0x00
    bad_version = bytearray(good); bad_version[tlen + 2] = 99
    long_source = bytearray(good[: tlen + 1 + 80]); long_source[tlen + 1 + 4] = 200
    return [
        (b"no terminator at all", "terminator"),
        (b"\0" + good[tlen + 1:], "empty topic"),
        (good[: tlen + 30], "truncated header"),
        (bytes(bad_magic), "magic"),
        (bytes(bad_version), "version"),
        (bytes(long_source), "truncated source"),
    ]


@pytest.mark.parametrize("frame, why", _garbled())
def test_decode_rejects_garbled(impl, frame, why):
    mod = impl("frame")
    with pytest.raises(mod.FrameError, match=why):
        mod.decode_frame(frame)


@settings(max_examples=300, deadline=None)
@given(
    topic=st.binary(min_size=1, max_size=80).filter(lambda b: b"\0" not in b),
    msg_type=st.integers(0, 0xFFFF), seq=st.integers(0, 2**64 - 1),
    ts=st.integers(-2**63, 2**63 - 1), exch=st.integers(-2**63, 2**63 - 1),
    counter=st.integers(0, 2**64 - 1), source=st.binary(max_size=255),
    payload=st.binary(max_size=300), corr=st.sampled_from([b"", os.urandom(16)]),
)
def test_twins_agree_on_random_frames(topic, msg_type, seq, ts, exch, counter, source, payload, corr):
    args = dict(topic=topic, msg_type=msg_type, seq=seq, ts_ns=ts, exch_ts_ns=exch,
                id_prefix=PREFIX, id_counter=counter, correlation_id=corr, causation_id=b"",
                source=source, payload=payload)
    a, b = fast.encode_frame(**args), py.encode_frame(**args)
    assert a == b
    assert _fields(fast.decode_frame(a)) == _fields(py.decode_frame(b))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_decoder(data):
    for mod in (fast, py):
        try:
            mod.decode_frame(data)
        except mod.FrameError:
            pass

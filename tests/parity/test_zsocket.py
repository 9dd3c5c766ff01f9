"""The non-blocking socket door: Cython (libzmq through pyzmq's own handle)
and its pyzmq twin behave the same on real sockets."""
import time

import pytest
import zmq

pytestmark = pytest.mark.parity


@pytest.fixture
def pair():
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind("inproc://zsocket-parity")
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"T")
    sub.connect("inproc://zsocket-parity")
    yield pub, sub
    ctx.destroy(linger=0)


def _until(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got is not None:
            return got
        time.sleep(0.001)
    raise AssertionError("timed out")


def test_frames_in_order_none_when_empty_and_filters_apply(impl, pair):
    mod = impl("zsocket")
    pub, sub = pair
    tx, rx = mod.NoWaitSocket(pub), mod.NoWaitSocket(sub)
    assert rx.recv() is None
    # Slow joiner: send until the subscription is live (bounded).
    _until(lambda: (tx.send(b"Tping"), rx.recv())[1])
    while rx.recv() is not None:
        pass
    frames = [b"T" + i.to_bytes(4, "little") + bytes(150) for i in range(500)]  # under the HWM
    for f in frames:
        tx.send(b"X-filtered-out")
        assert tx.send(f) == 0
    got = [_until(rx.recv) for _ in frames]
    assert got == frames
    assert rx.recv() is None and rx.recv() is None
    tx.send(b"")                            # empty frame: no topic, filtered by "T"
    tx.send(b"T")
    assert _until(rx.recv) == b"T"


def test_closed_socket_is_an_error_not_a_crash(impl, pair):
    mod = impl("zsocket")
    pub, sub = pair
    rx, tx = mod.NoWaitSocket(sub), mod.NoWaitSocket(pub)
    sub.close(linger=0)
    pub.close(linger=0)
    for call in (rx.recv, lambda: tx.send(b"T")):
        with pytest.raises(zmq.ZMQError) as info:
            call()
        assert info.value.errno == zmq.ENOTSOCK
    with pytest.raises(zmq.ZMQError):
        mod.NoWaitSocket(sub)


def test_send_that_would_block_raises_again(impl):
    mod = impl("zsocket")
    ctx = zmq.Context()
    try:
        push = ctx.socket(zmq.PUSH)         # no peer: nowhere to queue
        push.setsockopt(zmq.LINGER, 0)
        push.bind("inproc://zsocket-nopeer")
        with pytest.raises(zmq.Again):
            mod.NoWaitSocket(push).send(b"x")
    finally:
        ctx.destroy(linger=0)

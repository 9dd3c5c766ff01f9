"""The bus across real processes: round trip, gap detection, garbled frames."""
from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest
import zmq

from barfinex.bus import Publisher, Receiver, RpcClient
from barfinex.model import Codec, Heartbeat, ActorState, BusGap
from barfinex.runtime.topology import load_topology

from .conftest import wait_for

pytestmark = pytest.mark.integration


def two_actor_topology(topology):
    return topology({
        "provider": {"class": "bfx_test_actors:TradeSource"},
        "echo": {"class": "bfx_test_actors:Echo", "subscribe": ["provider"]},
    })


def call(endpoint, method, params=None, timeout=5.0):
    with RpcClient(endpoint) as c:
        return c.call(method, params, timeout=timeout)


def test_round_trip_across_processes_with_a_gap(topology, procs, zctx):
    path = two_actor_topology(topology)
    topo = load_topology(str(path), check_classes=False)
    procs.start("actor", "provider", "-t", str(path))
    procs.start("actor", "echo", "-t", str(path))
    echo_ctl, src_ctl = topo.actors["echo"].control, topo.actors["provider"].control

    # Watch the echo's own events (its gap report) before anything is sent.
    sub = zctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"DETECTOR_")
    sub.connect(topo.actors["echo"].pub)
    receiver = Receiver()

    def echo_heartbeat_seen():
        while sub.poll(50):
            ev = receiver.feed(sub.recv())
            if ev and isinstance(ev.msg, Heartbeat):
                return True
        return False

    wait_for(echo_heartbeat_seen, 15, "the echo actor's heartbeat")
    # The echo is subscribed once it has heard the provider's heartbeat.
    wait_for(lambda: call(echo_ctl, "seen")["beats"] > 0, 15, "echo to hear the provider")

    assert call(src_ctl, "emit", {"n": 20, "skip": [5, 6]}) == 20
    want = [i for i in range(1, 21) if i not in (5, 6)]
    seen = wait_for(lambda: (s := call(echo_ctl, "seen"))["trade_ids"] == want and s, 10, "all trades")
    assert (seen["gaps"], seen["missing"], seen["bad_frames"]) == (1, 2, 0)

    def gap_event():
        while sub.poll(100):
            ev = receiver.feed(sub.recv())
            if ev and isinstance(ev.msg, BusGap):
                return ev.msg
        return None

    gap = wait_for(gap_event, 5, "the DETECTOR_BUS_GAP event")
    assert (gap.source, gap.expected_seq, gap.got_seq, gap.missing) == ("provider", 5, 7, 2)
    assert gap.topic == "PROVIDER_MARKETDATA_TRADE.binance.usdm.BTCUSDT"
    sub.close(linger=0)


def test_garbled_frames_are_counted_and_the_actor_carries_on(topology, procs, zctx):
    path = two_actor_topology(topology)
    topo = load_topology(str(path), check_classes=False)
    # The test plays the provider itself, so it can send anything.
    pub = zctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    topo.run_dir.mkdir(parents=True, exist_ok=True)
    pub.bind(topo.actors["provider"].pub)
    codec = Codec()
    publisher = Publisher(pub, "PROVIDER", "provider", codec.encode)
    procs.start("actor", "echo", "-t", str(path))
    echo_ctl = topo.actors["echo"].control
    beat = Heartbeat("provider", "PROVIDER", ActorState.RUNNING, 1, "h", 0, 0, 0, 0, 0, 0, 200)

    def heard():
        publisher.publish("PROVIDER_HEARTBEAT.provider", beat)
        return call(echo_ctl, "seen")["beats"] > 0

    wait_for(heard, 15, "echo to hear the fake provider", interval=0.1)

    from barfinex.model import Trade, MarketType, Side
    topic = "PROVIDER_MARKETDATA_TRADE.binance.usdm.BTCUSDT"
    good = lambda i: publisher.publish(topic, Trade("binance", MarketType.USDM, "BTCUSDT", i, 1, 1, 2, 3, Side.SELL, 0))
    good(1)
    pub.send(b"PROVIDER_MARKETDATA_TRADE.binance garbage with no terminator")
    good(2)
    pub.send(b"PROVIDER_MARKETDATA_TRADE.x\0" + b"\xbf\x01" + b"truncated")
    frame = bytearray(publisher._topics[topic][0] + b"\0" + bytes(80))
    frame[len(topic) + 1] = 0xBF; frame[len(topic) + 2] = 1; frame[len(topic) + 3] = 0xEE  # unknown type id
    pub.send(bytes(frame))
    good(3)
    seen = wait_for(lambda: (s := call(echo_ctl, "seen"))["trade_ids"] == [1, 2, 3] and s, 10, "good trades")
    assert seen["bad_frames"] == 3
    status = call(echo_ctl, "status")
    assert status["state"] == "RUNNING" and status["bad_frames"] == 3
    pub.close(linger=0)


# ------------------------------------------------------------- polling modes
TOPIC = "PROVIDER_MARKETDATA_TRADE.binance.usdm.BTCUSDT"


def _trade(i):
    from barfinex.model import MarketType, Side, Trade
    return Trade("binance", MarketType.USDM, "BTCUSDT", i, 6_000_000 + i, 10, 2, 3, Side.BUY, 0)


def _fake_provider(topology, zctx, procs, echo_opts):
    """The test plays the provider (a PUB at its endpoint) for an Echo actor
    started with ``echo_opts``; returns (publisher, echo control, echo process)."""
    path = topology({
        "provider": {"class": "bfx_test_actors:TradeSource"},
        "echo": {"class": "bfx_test_actors:Echo", "subscribe": ["provider"], **echo_opts},
    })
    topo = load_topology(str(path), check_classes=False)
    pub = zctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.setsockopt(zmq.SNDHWM, 100_000)
    topo.run_dir.mkdir(parents=True, exist_ok=True)
    pub.bind(topo.actors["provider"].pub)
    publisher = Publisher(pub, "PROVIDER", "provider", Codec().encode)
    proc = procs.start("actor", "echo", "-t", str(path))
    echo_ctl = topo.actors["echo"].control
    beat = Heartbeat("provider", "PROVIDER", ActorState.RUNNING, 1, "h", 0, 0, 0, 0, 0, 0, 200)

    def heard():
        publisher.publish("PROVIDER_HEARTBEAT.provider", beat)
        return call(echo_ctl, "seen")["beats"] > 0

    wait_for(heard, 15, "echo to hear the fake provider", interval=0.1)
    return publisher, echo_ctl, proc, topo


def _cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])        # utime + stime


def _pause_us(us):
    end = time.perf_counter_ns() + us * 1000
    while time.perf_counter_ns() < end:
        pass


@pytest.mark.parametrize("poll", ["spin", "epoll"])
def test_every_event_in_order_in_both_polling_modes_and_an_idle_actor_sleeps(topology, zctx, procs, poll):
    publisher, echo_ctl, proc, _ = _fake_provider(topology, zctx, procs, {"poll": poll})
    rng = random.Random(7)
    n = 0
    # Bursts and pauses, some shorter than the spin window, some longer: both
    # the spin and the epoll path carry events.
    for _ in range(300):
        for _ in range(rng.choice((1, 1, 3, 40))):
            n += 1
            publisher.publish(TOPIC, _trade(n))
        _pause_us(rng.choice((5, 30, 80, 400, 3000)))
    want = list(range(1, n + 1))
    seen = wait_for(lambda: (s := call(echo_ctl, "seen"))["trade_ids"] == want and s, 15, f"all {n} trades")
    assert (seen["gaps"], seen["missing"], seen["bad_frames"]) == (0, 0, 0)
    stats = call(echo_ctl, "poll")
    assert stats["mode"] == poll and stats["wakeups"] > 0
    if poll == "spin":
        assert stats["spin_hits"] > 0, stats     # events taken without a wake-up
    else:
        assert (stats["spin_hits"], stats["spin_misses"]) == (0, 0)

    # Idle: back to epoll, no core burnt (heartbeats only).
    time.sleep(0.3)
    assert call(echo_ctl, "poll")["spinning"] is False
    pid = call(echo_ctl, "status")["pid"]
    before = _cpu_ticks(pid)
    time.sleep(1.0)
    used = (_cpu_ticks(pid) - before) / os.sysconf("SC_CLK_TCK")
    assert used < 0.1, f"idle {poll} actor used {used:.2f} s of CPU in 1 s"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_spinning_actor_answers_control_keeps_its_heartbeat_and_stops_within_3s(topology, zctx, procs, sig):
    publisher, echo_ctl, proc, topo = _fake_provider(topology, zctx, procs, {"poll": "spin"})
    beats = zctx.socket(zmq.SUB)
    beats.setsockopt(zmq.LINGER, 0)
    beats.setsockopt(zmq.SUBSCRIBE, b"DETECTOR_HEARTBEAT")
    beats.connect(topo.actors["echo"].pub)
    streaming = threading.Event()
    done = threading.Event()
    sent = [0]

    def stream():
        # Gaps well inside the spin window: the echo never needs to sleep.
        while not done.is_set():
            sent[0] += 1
            publisher.publish(TOPIC, _trade(sent[0]))
            streaming.set()
            _pause_us(20)

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    try:
        assert streaming.wait(5)
        wait_for(lambda: call(echo_ctl, "poll")["spin_hits"] > 100, 10, "the echo to spin")
        # Control answers and heartbeats keep their interval (200 ms) while it spins.
        t0 = time.monotonic()
        for _ in range(5):
            assert call(echo_ctl, "ping", timeout=2.0) == "pong"
        assert time.monotonic() - t0 < 2.0
        got = []
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            if beats.poll(100):
                beats.recv()
                got.append(time.monotonic())
        assert len(got) >= 4, f"{len(got)} heartbeats in 1.5 s"
        assert call(echo_ctl, "poll")["spin_hits"] > 100
        t0 = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(timeout=3) == 0
        assert time.monotonic() - t0 < 3
    finally:
        done.set()
        t.join(5)
        beats.close(linger=0)

"""The bus across real processes: round trip, gap detection, garbled frames."""
from __future__ import annotations

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

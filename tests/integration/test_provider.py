"""Provider against the replay venue: the real Binance connector over real
sockets, market data on the bus, snapshots for late joiners, orders refused
with a reason while no credentials or connection allow them."""
from __future__ import annotations

import json

import pytest
import yaml

from barfinex.bus import RpcClient, RpcError, RpcTimeout
from barfinex.runtime.topology import load_topology

from .conftest import cli, free_port, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def venue_topology(topology, run_dir):
    port = free_port()
    (run_dir / "venue.yaml").write_text(yaml.safe_dump({"port": port, "speed": 4.0, "loop": True}))
    (run_dir / "provider.yaml").write_text(yaml.safe_dump({
        "connectors": {"binance": {"options": {"venue": f"http://127.0.0.1:{port}", "markets": ["spot", "usdm"]},
                                   "symbols": {"spot": ["BTCUSDT"], "usdm": ["BTCUSDT"]}}},
        "candles": ["1s", "1m"]}))
    return topology({
        "venue": {"class": "barfinex.connectors.venue.actor:VenueActor", "config": "venue.yaml"},
        "provider": {"class": "actors.provider:Provider", "config": "provider.yaml"},
    })


def call(endpoint, method, params=None, timeout=3.0):
    with RpcClient(endpoint) as c:
        return c.call(method, params, timeout=timeout)


def _place(ctl, order):
    try:
        return call(ctl, "order.place", order, timeout=10)
    except RpcError as exc:
        if exc.code == "refused":      # the connector or its user data stream is still coming up
            return None
        raise


def test_provider_publishes_synced_books_trades_and_candles(venue_topology, procs, env):
    topo = load_topology(str(venue_topology), check_classes=False)
    procs.start("up", str(venue_topology), start_new_session=True)
    ctl = topo.actors["provider"].control

    def valid_book(market):
        try:
            snap = call(ctl, "book", {"connector": "binance", "market": market, "symbol": "BTCUSDT", "depth": 5})
        except (RpcTimeout, RpcError):
            return None
        # bus_seq: the last delta the snapshot includes (0 until the first one is out)
        return snap if snap["status"] == "VALID" and snap["bus_seq"] > 0 else None

    spot = wait_for(lambda: valid_book("spot"), 60, "a VALID spot book")
    usdm = wait_for(lambda: valid_book("usdm"), 60, "a VALID USD-M book")
    for snap in (spot, usdm):
        (bid, _), (ask, _) = snap["bids"][0], snap["asks"][0]
        assert 0 < bid < ask, snap          # never crossed
        assert len(snap["bids"]) == 5
    assert spot["price_prec"] == 2

    trades = cli(env, "tail", "PROVIDER_MARKETDATA_TRADE.binance.usdm", "-t", str(venue_topology),
                 "--count", "5", "--timeout", "30", "--json")
    assert trades.returncode == 0, trades.stderr
    rows = [json.loads(x) for x in trades.stdout.splitlines()]
    assert all(r["payload"]["symbol"] == "BTCUSDT" and r["payload"]["price"] > 0 for r in rows)
    ids = [r["payload"]["trade_id"] for r in rows]
    assert ids == sorted(ids)

    candles = cli(env, "tail", "PROVIDER_MARKETDATA_CANDLE.binance.usdm", "-t", str(venue_topology),
                  "--count", "2", "--timeout", "30", "--json")
    assert candles.returncode == 0, candles.stderr
    bar = json.loads(candles.stdout.splitlines()[0])["payload"]
    assert bar["low"] <= bar["open"] <= bar["high"] and bar["count"] > 0 and bar["closed"]

    # Late joiner: recent candles by request, stamped with the bus sequence.
    recent = call(ctl, "candles", {"connector": "binance", "market": "usdm", "symbol": "BTCUSDT",
                                   "timeframe": "1s", "limit": 3})
    assert recent["bus_seq"] > 0 and recent["candles"]

    # Orders: a market order through Provider -> the venue's paper exchange.
    # A retry with the same client order id (another request key, as from a
    # restarted Inspector) returns the same answer and is not placed again.
    order = {"client_order_id": "it-1", "connector": "binance", "market": 2, "symbol": "BTCUSDT",
             "side": 1, "type": 1, "qty": 10, "qty_prec": 3}
    import zmq
    from barfinex.bus import Receiver
    from barfinex.model import Fill
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    for prefix in (b"PROVIDER_ORDER_FILL", b"PROVIDER_HEARTBEAT"):
        sub.setsockopt(zmq.SUBSCRIBE, prefix)
    sub.connect(topo.actors["provider"].pub)
    receiver = Receiver()

    def next_event(kind):
        while sub.poll(200):
            ev = receiver.feed(sub.recv())
            if ev is not None and isinstance(ev.msg, kind):
                return ev.msg
        return None

    from barfinex.model import Heartbeat
    wait_for(lambda: next_event(Heartbeat), 10, "our subscription to be live")   # no slow joiner
    first = wait_for(lambda: _place(ctl, order), 30, "the order to be accepted")
    # USD-M answers a market order with NEW (ACK); the fill follows on the user stream.
    assert first["status"] in ("NEW", "FILLED") and first["client_order_id"] == "it-1", first
    assert _place(ctl, order) == first
    from binance.um_futures import UMFutures
    from barfinex.connectors.binance.config import PAPER_VENUE_API_KEY, PAPER_VENUE_API_SECRET
    port = yaml.safe_load((venue_topology.parent / "venue.yaml").read_text())["port"]
    client = UMFutures(PAPER_VENUE_API_KEY, PAPER_VENUE_API_SECRET, base_url=f"http://127.0.0.1:{port}")
    def position():
        return [float(p["positionAmt"]) for p in client.get_position_risk(symbol="BTCUSDT")
                if float(p["positionAmt"])]
    assert wait_for(position, 10, "the position") == [0.01]          # once, not twice
    fill = wait_for(lambda: next_event(Fill), 20, "the fill on PROVIDER_ORDER_FILL")
    assert fill.client_order_id == "it-1" and fill.qty == 10 and fill.price > 0
    sub.close(linger=0)
    ctx.destroy(linger=0)

    # A bad order gets the exchange's reason back, and the actor carries on.
    with pytest.raises(RpcError) as info:
        call(ctl, "order.place", {**order, "client_order_id": "it-2", "qty": 0}, timeout=10)
    assert "below the minimum" in str(info.value)     # checked against the instrument's filters
    with pytest.raises(RpcError, match="bad order: Order: unknown field"):
        call(ctl, "order.place", {**order, "client_order_id": "it-3", "colour": "red"})
    with pytest.raises(RpcError, match="no feed for binance spot ETHUSDT"):
        call(ctl, "book", {"connector": "binance", "market": "spot", "symbol": "ETHUSDT"})
    assert call(ctl, "status")["state"] == "RUNNING"


def test_bad_provider_config_names_file_and_line(topology, run_dir, env):
    (run_dir / "provider.yaml").write_text("connectors: {}\ncandels: [1m]\n")
    path = topology({"provider": {"class": "actors.provider:Provider", "config": "provider.yaml"}})
    result = cli(env, "actor", "provider", "-t", str(path), timeout=30)
    assert result.returncode == 1
    assert "provider.yaml:2:1: unknown key 'candels'" in result.stderr
    assert "candles" in result.stderr   # the hint lists the keys it takes

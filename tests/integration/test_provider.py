"""Provider against the replay venue: the real Binance connector over real
sockets, market data on the bus, snapshots for late joiners, orders through
its order API (a retry is never placed twice, a resting limit fills when the
replay crosses it, a refusal comes back in the exchange's own error shape).

One topology serves the module; the tests run in any order."""
from __future__ import annotations

import json

import httpx
import pytest

from barfinex.bus import RpcError
from barfinex.connectors.binance.config import PAPER_VENUE_API_KEY, PAPER_VENUE_API_SECRET
from barfinex.model import Fill, OrderStatus, OrderUpdate

from .conftest import Desk, cli, place, wait_for

pytestmark = pytest.mark.integration

ORDER_UPDATE = "PROVIDER_ORDER_UPDATE.binance.account.BTCUSDT"   # from the user data stream
ORDER_FILL = "PROVIDER_ORDER_FILL.binance.account.BTCUSDT"
PLACED = "PROVIDER_ORDER_UPDATE.binance.usdm.BTCUSDT"            # the REST answer to order.place
USDM = 2                                                         # MarketType.USDM on the wire


@pytest.fixture(scope="module")
def desk(module_run_dir, module_env):
    with Desk(module_run_dir, module_env, speed=4.0) as d:
        d.wait_ready()
        yield d


@pytest.fixture(scope="module")
def futures(desk):
    """Binance's own USD-M client on the venue: what the exchange itself says."""
    um = pytest.importorskip("binance.um_futures")
    return um.UMFutures(PAPER_VENUE_API_KEY, PAPER_VENUE_API_SECRET, base_url=desk.venue_url)


def order(cid: str, **kw) -> dict:
    return {"client_order_id": cid, "connector": "binance", "market": USDM, "symbol": "BTCUSDT",
            "side": 1, "type": 1, "qty": 10, "qty_prec": 3, **kw}


def test_provider_publishes_synced_books_trades_and_candles(desk):
    spot, usdm = desk.valid_book("spot"), desk.valid_book("usdm")
    for snap in (spot, usdm):
        (bid, _), (ask, _) = snap["bids"][0], snap["asks"][0]
        assert 0 < bid < ask, snap          # never crossed
        assert len(snap["bids"]) == 5
    assert spot["price_prec"] == 2

    trades = cli(desk.env, "tail", "PROVIDER_MARKETDATA_TRADE.binance.usdm", "-t", str(desk.path),
                 "--count", "5", "--timeout", "30", "--json")
    assert trades.returncode == 0, trades.stderr
    rows = [json.loads(x) for x in trades.stdout.splitlines()]
    assert all(r["payload"]["symbol"] == "BTCUSDT" and r["payload"]["price"] > 0 for r in rows)
    ids = [r["payload"]["trade_id"] for r in rows]
    assert ids == sorted(ids)

    candles = cli(desk.env, "tail", "PROVIDER_MARKETDATA_CANDLE.binance.usdm", "-t", str(desk.path),
                  "--count", "2", "--timeout", "30", "--json")
    assert candles.returncode == 0, candles.stderr
    bar = json.loads(candles.stdout.splitlines()[0])["payload"]
    assert bar["low"] <= bar["open"] <= bar["high"] and bar["count"] > 0 and bar["closed"]

    # Late joiner: recent candles by request, stamped with the bus sequence.
    recent = desk.call("candles", {"connector": "binance", "market": "usdm", "symbol": "BTCUSDT",
                                   "timeframe": "1s", "limit": 3})
    assert recent["bus_seq"] > 0 and recent["candles"]
    with pytest.raises(RpcError, match="no feed for binance spot ETHUSDT"):
        desk.call("book", {"connector": "binance", "market": "spot", "symbol": "ETHUSDT"})


def test_market_order_retried_is_placed_once_and_fills_on_the_bus(desk, futures):
    """A market order through Provider -> the venue's paper exchange. A retry
    with the same client order id (another request key, as from a restarted
    Inspector) returns the same answer and is not placed again."""
    def position() -> float:
        return sum(float(p["positionAmt"]) for p in futures.get_position_risk(symbol="BTCUSDT"))
    before = position()
    mark = desk.bus.mark()
    first = wait_for(lambda: place(desk.ctl, order("it-1")), 30, "the order to be accepted")
    # USD-M answers a market order with NEW (ACK); the fill follows on the user stream.
    assert first["status"] in ("NEW", "FILLED") and first["client_order_id"] == "it-1", first
    assert place(desk.ctl, order("it-1")) == first
    _, _, fill = desk.bus.wait("the fill on PROVIDER_ORDER_FILL", mark, ORDER_FILL, Fill,
                               lambda f: f.client_order_id == "it-1", timeout=20)
    assert fill.qty == 10 and fill.price > 0
    assert wait_for(lambda: round(position() - before, 3) == 0.01, 10, "the position")   # once, not twice

    # Refused before it reaches the exchange, and the actor carries on.
    with pytest.raises(RpcError) as info:
        desk.call("order.place", order("it-2", qty=0), timeout=10)
    assert "below the minimum" in str(info.value)     # checked against the instrument's filters
    with pytest.raises(RpcError, match="bad order: Order: unknown field"):
        desk.call("order.place", {**order("it-3"), "colour": "red"})
    assert desk.call("status")["state"] == "RUNNING"


def test_resting_limit_order_fills_when_the_replay_crosses_it(desk, futures):
    """GTC limits a few ticks outside the touch on both sides rest (NEW on the
    bus, open on the venue); as the replay moves, one fills as maker at its
    own price (ORDER_FILL, then ORDER_UPDATE FILLED)."""
    tick = next(i["tick_size"] for i in desk.call("instruments") if i["market"] == "USDM")
    for attempt in range(4):
        snap = wait_for(lambda: desk.valid_book("usdm"), 20, "a VALID USD-M book")
        prec, bid, ask = snap["price_prec"], snap["bids"][0][0], snap["asks"][0][0]
        # Outside the touch so neither should arrive marketable; the recording
        # crosses one side within ~13 s of replay time at worst (~3 s at 4x).
        legs = {f"rest-buy-{attempt}": (1, bid - 3 * tick), f"rest-sell-{attempt}": (2, ask + 3 * tick)}
        mark = desk.bus.mark()
        for cid, (side, price) in legs.items():
            reply = wait_for(lambda: place(desk.ctl, order(cid, side=side, type=2, qty=2, price=price,
                                                           price_prec=prec)), 30, f"{cid} accepted")
            assert reply["status"] == "NEW" and reply["client_order_id"] == cid, reply
            desk.bus.wait(f"{cid} NEW on the bus", mark, PLACED, OrderUpdate,
                          lambda u: u.client_order_id == cid and u.status == OrderStatus.NEW, timeout=5)
        # On the venue: open, unless its fill has already happened (then the bus shows it).
        open_ids = {o["clientOrderId"] for o in futures.get_orders(symbol="BTCUSDT")}
        for cid in legs.keys() - open_ids:
            desk.bus.wait(f"{cid}'s fill", mark, ORDER_FILL, Fill, lambda f: f.client_order_id == cid, timeout=10)
        _, _, fill = desk.bus.wait("a fill of the bracket", mark, ORDER_FILL, Fill,
                                   lambda f: f.client_order_id in legs, timeout=30)
        other = next(cid for cid in legs if cid != fill.client_order_id)
        if fill.is_maker:
            break
        # The book moved past a leg before it landed (a taker fill): quote again.
        _cancel(desk, other)
    else:
        pytest.fail("no bracket rested in 4 attempts: the replay moves faster than we quote")
    side, price = legs[fill.client_order_id]
    assert (fill.side, fill.price, fill.price_prec) == (side, price, prec)     # a maker fills at its own price
    desk.bus.wait("ORDER_UPDATE FILLED", mark, ORDER_UPDATE, OrderUpdate,
                  lambda u: u.client_order_id == fill.client_order_id and u.status == OrderStatus.FILLED,
                  timeout=30)
    _cancel(desk, other)


def _cancel(desk, cid: str) -> None:
    try:
        desk.call("order.cancel", {"connector": "binance", "market": "usdm", "symbol": "BTCUSDT",
                                   "client_order_id": cid}, timeout=10)
    except RpcError as exc:       # it filled meanwhile: the exchange says so in its own words
        assert exc.code == "rejected" and exc.detail["code"] == -2011, exc


def test_bad_order_gets_the_exchanges_error_shape(desk, futures):
    """The caller sees exactly what the exchange said ({"code", "msg"} in the
    RPC error's detail), REJECTED follows ORDER_CREATE on the bus, and a
    retry of the same client order id gets the same answer without a resend."""
    snap = wait_for(lambda: desk.valid_book("usdm"), 20, "a VALID USD-M book")
    bid, prec = snap["bids"][0][0], snap["price_prec"]
    venue_orders = httpx.get(f"{desk.venue_url}/_venue/stats").json()["venue"]["rest_errors"]
    mark = desk.bus.mark()
    too_big = order("bad-1", type=2, qty=2_000_000, price=bid - 100, price_prec=prec)    # 2,000 BTC: over maxQty
    with pytest.raises(RpcError) as info:
        wait_for(lambda: place(desk.ctl, too_big), 30, "the Provider to take orders")
    err = info.value
    assert err.code == "rejected"
    assert err.detail == {"code": -4005, "msg": "Quantity greater than max quantity.", "status": 400,
                          "endpoint": "POST /fapi/v1/order", "connector": "binance"}
    _, _, update = desk.bus.wait("REJECTED on the bus", mark, PLACED, OrderUpdate,
                                 lambda u: u.client_order_id == "bad-1")
    assert update.status == OrderStatus.REJECTED and update.reason == "-4005 Quantity greater than max quantity."
    with pytest.raises(RpcError) as again:
        desk.call("order.place", too_big, timeout=10)
    assert again.value.detail == err.detail
    errors = httpx.get(f"{desk.venue_url}/_venue/stats").json()["venue"]["rest_errors"]
    assert errors == venue_orders + 1                   # the retry never reached the exchange

    # Refusals the connector makes from the exchange's filters, without a
    # request, carry the code the exchange gives them (status 0: not sent).
    with pytest.raises(RpcError) as info:
        desk.call("order.place", order("bad-2", qty=0), timeout=10)
    assert info.value.code == "rejected"
    assert (info.value.detail["code"], info.value.detail["status"]) == (-4003, 0)
    with pytest.raises(RpcError) as info:
        desk.call("order.place", order("bad-3", symbol="NOPEUSDT"), timeout=10)
    assert (info.value.detail["code"], info.value.detail["status"]) == (-1121, 0)
    assert "NOPEUSDT" in info.value.detail["msg"]
    assert desk.call("status")["state"] == "RUNNING"


@pytest.mark.parametrize("fault", ["order_lost", "order_failed"])
def test_an_unanswered_order_is_resolved_by_client_order_id_never_doubled(desk, futures, fault):
    """The exchange answers 503 ("status unknown"): the order went through
    (order_lost) or not (order_failed). The Provider asks the exchange by
    client order id and, only if it has none, sends it again with the same id:
    the caller gets the order's real state and the venue holds it exactly once."""
    def position() -> float:
        return sum(float(p["positionAmt"]) for p in futures.get_position_risk(symbol="BTCUSDT"))
    wait_for(lambda: place(desk.ctl, order(f"probe-{fault}")), 30, "the Provider to take orders")
    wait_for(lambda: futures.query_order(symbol="BTCUSDT", origClientOrderId=f"probe-{fault}")["status"]
             == "FILLED", 10, "the probe to fill")
    before = position()
    counters = desk.health()["orders"]["placement"]
    desk.fault(fault, "usdm")
    cid = f"unknown-{fault}"
    reply = desk.call("order.place", order(cid), timeout=15)
    assert reply["client_order_id"] == cid and reply["status"] in ("NEW", "FILLED"), reply
    assert futures.query_order(symbol="BTCUSDT", origClientOrderId=cid)["origQty"] == "0.010"
    assert wait_for(lambda: round(position() - before, 3) == 0.01, 10, "the position")   # once, not twice
    after = desk.health()["orders"]["placement"]
    assert after["orders_unknown"] == counters["orders_unknown"] + 1
    assert after["orders_resent"] == counters["orders_resent"] + (fault == "order_failed")
    stats = httpx.get(f"{desk.venue_url}/_venue/stats").json()["venue"]
    assert stats[f"fault_{fault.replace('order_', 'orders_')}"] >= 1


def test_bad_provider_config_names_file_and_line(topology, run_dir, env):
    (run_dir / "provider.yaml").write_text("connectors: {}\ncandels: [1m]\n")
    path = topology({"provider": {"class": "actors.provider:Provider", "config": "provider.yaml"}})
    result = cli(env, "actor", "provider", "-t", str(path), timeout=30)
    assert result.returncode == 1
    assert "provider.yaml:2:1: unknown key 'candels'" in result.stderr
    assert "candles" in result.stderr   # the hint lists the keys it takes

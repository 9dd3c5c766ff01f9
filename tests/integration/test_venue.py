"""The replay venue over real sockets: Binance's protocol, book sync, paper orders.

One venue (the shipped real data, 10x, looping) serves the module; every
client here speaks Binance's documented protocol with httpx + websockets, or
Binance's own Python connectors."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from decimal import Decimal
from urllib.parse import urlencode

import httpx
import pytest
import websockets

from barfinex import backend
from barfinex.book.sync import BookSync
from barfinex.connectors.venue import DEFAULT_API_KEY, DEFAULT_API_SECRET, ExchangeConfig, Venue, VenueThread
from barfinex.model.enums import BookStatus, MarketType

pytestmark = pytest.mark.integration

KEY, SECRET = DEFAULT_API_KEY, DEFAULT_API_SECRET


@pytest.fixture(scope="module")
def venue():
    # a large USD-M wallet, so a market order may sweep several levels
    with VenueThread(Venue(speed=10, loop=True, exchange=ExchangeConfig(usdm_balance="2000000"))) as v:
        yield v


def signed(params: dict, secret: str = SECRET) -> str:
    params = {**params, "timestamp": int(time.time() * 1000)}
    query = urlencode(params)
    return query + "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


def request(venue, method: str, path: str, params: dict, *, key: str | None = KEY, sign: bool = True):
    headers = {"X-MBX-APIKEY": key} if key else {}
    query = signed(params) if sign else urlencode(params)
    return httpx.request(method, f"{venue.base_url}{path}?{query}", headers=headers, timeout=10)


def ws_base(venue, market: MarketType) -> str:
    return f"ws://127.0.0.1:{venue.port}" + ("/usdm" if market == MarketType.USDM else "")


async def sync_and_compare(venue, market: MarketType, depth_stream: str, seconds: float) -> tuple[int, int]:
    """Binance's documented procedure: open the diff stream, buffer, fetch the
    snapshot, drop old diffs, require a bridging diff, then continuity. Every
    bookTicker whose ``u`` ends an applied diff must equal the rebuilt top."""
    prefix = "/fapi/v1" if market == MarketType.USDM else "/api/v3"
    info = httpx.get(f"{venue.base_url}{prefix}/exchangeInfo", params={"symbol": "BTCUSDT"}).json()
    filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
    price_dec = len(filters["PRICE_FILTER"]["tickSize"].partition(".")[2].rstrip("0"))
    book = backend.load("orderbook").OrderBook("BTCUSDT", price_dec, 8, 1, 1)
    sync = BookSync(book, market)
    url = f"{ws_base(venue, market)}/stream?streams=btcusdt@{depth_stream}/btcusdt@bookTicker"
    compared = mismatches = 0
    applied: dict[int, tuple] = {}
    tickers: dict[int, tuple] = {}
    fp = backend.load("fixedpoint")
    async with websockets.connect(url, max_queue=None) as ws, httpx.AsyncClient() as http:
        snapshot_task = None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            data = msg["data"]
            if msg["stream"].endswith(depth_stream):
                assert msg["stream"] == f"btcusdt@{depth_stream}"
                for event in sync.on_depth(data):
                    assert event.kind != "snapshot_needed" or sync.stats.snapshots == 0, event.reason
                if snapshot_task is None:
                    snapshot_task = asyncio.ensure_future(
                        http.get(f"{venue.base_url}{prefix}/depth", params={"symbol": "BTCUSDT", "limit": 1000}))
                if sync.is_valid:
                    applied[book.last_update_id] = book.bbo()
            else:
                # A ticker shows the book at update id u; it usually arrives
                # before the (batched) diff that ends at u: pair them either way.
                tickers[data["u"]] = (fp.parse_fixed(data["b"], price_dec), fp.parse_fixed(data["B"], 8),
                                      fp.parse_fixed(data["a"], price_dec), fp.parse_fixed(data["A"], 8))
            for u in tickers.keys() & applied.keys():
                compared += 1
                mismatches += tickers.pop(u) != applied[u]
            if snapshot_task is not None and snapshot_task.done() and sync.stats.snapshots == 0:
                sync.on_snapshot(snapshot_task.result().json())
    assert sync.status == BookStatus.VALID, sync.last_error
    assert sync.stats.gaps == 0
    return compared, mismatches


@pytest.mark.parametrize("market,depth_stream", [(MarketType.SPOT, "depth@100ms"), (MarketType.USDM, "depth@0ms")])
def test_client_sync_rebuilds_the_replayed_book(venue, market, depth_stream):
    compared, mismatches = asyncio.run(sync_and_compare(venue, market, depth_stream, 6.0))
    assert compared >= 3
    assert mismatches == 0


def test_exchange_info_has_filters_inferred_from_data(venue):
    spot = httpx.get(f"{venue.base_url}/api/v3/exchangeInfo").json()["symbols"][0]
    usdm = httpx.get(f"{venue.base_url}/fapi/v1/exchangeInfo").json()["symbols"][0]
    assert spot["symbol"] == usdm["symbol"] == "BTCUSDT"
    assert (spot["baseAsset"], spot["quoteAsset"]) == ("BTC", "USDT")
    f = {x["filterType"]: x for x in spot["filters"]}
    assert f["PRICE_FILTER"]["tickSize"] == "0.01" and "NOTIONAL" in f and "LOT_SIZE" in f
    g = {x["filterType"]: x for x in usdm["filters"]}
    assert g["PRICE_FILTER"]["tickSize"] == "0.1" and g["LOT_SIZE"]["stepSize"] == "0.001"
    assert g["MIN_NOTIONAL"]["notional"] == "100"
    assert (usdm["pricePrecision"], usdm["quantityPrecision"], usdm["contractType"]) == (2, 3, "PERPETUAL")


def test_errors_have_binance_shape(venue):
    r = request(venue, "GET", "/api/v3/depth", {"symbol": "NOPEUSDT"}, sign=False)
    assert (r.status_code, r.json()) == (400, {"code": -1121, "msg": "Invalid symbol."})
    r = request(venue, "GET", "/api/v3/depth", {}, sign=False)
    assert r.status_code == 400 and r.json()["code"] == -1102 and "'symbol'" in r.json()["msg"]
    q = signed({"symbol": "BTCUSDT"}, secret="wrong")
    r = httpx.get(f"{venue.base_url}/api/v3/openOrders?{q}", headers={"X-MBX-APIKEY": KEY})
    assert (r.status_code, r.json()["code"]) == (400, -1022)
    r = request(venue, "GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, key=None)
    assert (r.status_code, r.json()["code"]) == (401, -2014)
    r = request(venue, "GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, key="other-key")
    assert (r.status_code, r.json()["code"]) == (401, -2015)
    stale = urlencode({"symbol": "BTCUSDT", "timestamp": int(time.time() * 1000) - 60_000})
    stale += "&signature=" + hmac.new(SECRET.encode(), stale.encode(), hashlib.sha256).hexdigest()
    r = httpx.get(f"{venue.base_url}/api/v3/openOrders?{stale}", headers={"X-MBX-APIKEY": KEY})
    assert r.json()["code"] == -1021
    r = request(venue, "POST", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                  "timeInForce": "GTC", "price": "100.05"})
    assert r.json()["code"] == -1102 and "quantity" in r.json()["msg"]
    r = request(venue, "POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "SIDEWAYS", "type": "MARKET",
                                                 "quantity": "0.001"})
    assert r.json() == {"code": -1117, "msg": "Invalid side."}
    r = request(venue, "POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                 "quantity": "0.0000000001"})
    assert r.json()["code"] == -1111
    r = request(venue, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 42})
    assert (r.status_code, r.json()) == (400, {"code": -2013, "msg": "Order does not exist."})
    r = request(venue, "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": 42})
    assert r.json() == {"code": -2011, "msg": "Unknown order sent."}
    for path in ("/api/v3/nope", "/fapi/v9/order", "/sapi/v1/system/status"):
        assert httpx.get(venue.base_url + path).status_code == 404
    r = httpx.post(f"{venue.base_url}/api/v3/order", content=b"\xff\x00garbage", headers={"X-MBX-APIKEY": KEY})
    assert r.status_code == 400 and "code" in r.json()
    assert httpx.get(f"{venue.base_url}/api/v3/ping").json() == {}
    assert venue.call(lambda: venue.venue.stats.internal_errors) == 0


async def _user_stream(venue, market: MarketType):
    path = "/fapi/v1/listenKey" if market == MarketType.USDM else "/api/v3/userDataStream"
    key = httpx.post(venue.base_url + path, headers={"X-MBX-APIKEY": KEY}).json()["listenKey"]
    return await websockets.connect(f"{ws_base(venue, market)}/ws/{key}", max_queue=None)


async def _events(ws, kind: str, until, timeout: float) -> list[dict]:
    out, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = json.loads(await asyncio.wait_for(ws.recv(), max(0.05, deadline - time.monotonic())))
        except asyncio.TimeoutError:
            break
        if event.get("e") == kind:
            out.append(event)
            if until(event):
                break
    return out


def test_market_order_walks_levels_with_partial_fill_events(venue):
    async def run():
        ws = await _user_stream(venue, MarketType.USDM)
        try:
            qty = "100.000"     # far more than any one level holds (MARKET_LOT_SIZE maxQty is 120)
            r = await asyncio.to_thread(request, venue, "POST", "/fapi/v1/order", {
                "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": qty,
                "newClientOrderId": "walk-1", "newOrderRespType": "RESULT"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["status"] == "FILLED" and body["executedQty"] == qty
            events = await _events(ws, "ORDER_TRADE_UPDATE", lambda e: e["o"]["X"] == "FILLED", 10)
            account = await _events(ws, "ACCOUNT_UPDATE", lambda e: True, 5)
            return events, account
        finally:
            await ws.close()
    events, account = asyncio.run(run())
    trades = [e["o"] for e in events if e["o"]["x"] == "TRADE"]
    assert events[0]["o"]["x"] == "NEW" and events[0]["o"]["c"] == "walk-1"
    assert len(trades) >= 2          # the book moves between our read and the order
    assert all(t["X"] == "PARTIALLY_FILLED" for t in trades[:-1]) and trades[-1]["X"] == "FILLED"
    prices = [float(t["L"]) for t in trades]
    assert prices == sorted(prices) and len(set(prices)) == len(prices)
    assert all(t["m"] is False and float(t["n"]) > 0 and t["N"] == "USDT" for t in trades)
    assert account and account[0]["a"]["P"][0]["s"] == "BTCUSDT"
    pos = request(venue, "GET", "/fapi/v2/positionRisk", {"symbol": "BTCUSDT"}).json()[0]
    assert float(pos["positionAmt"]) > 0 and float(pos["entryPrice"]) > 0
    # close it again with a reduce-only order; a second reduce-only order is refused
    r = request(venue, "POST", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET",
                                                  "quantity": pos["positionAmt"], "reduceOnly": "true"})
    assert r.status_code == 200, r.text
    r = request(venue, "POST", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET",
                                                  "quantity": "0.001", "reduceOnly": "true"})
    assert r.json() == {"code": -2022, "msg": "ReduceOnly Order is rejected."}


def test_resting_limit_fills_when_the_replay_crosses_it(venue):
    """A buy a tick under the best bid and a sell a tick over the best ask
    rest (maker); as the replayed market moves, at least one is filled and
    its events arrive."""
    async def run():
        ws = await _user_stream(venue, MarketType.SPOT)
        try:
            # The book can move between reading the ticker and the order landing:
            # a leg that arrives marketable fills as taker at once, and if the
            # market keeps going that way nothing rests where it will be crossed.
            # Quote again from a fresh ticker until both legs rest.
            tick = Decimal("0.01")
            for attempt in range(5):
                top = httpx.get(f"{venue.base_url}/api/v3/ticker/bookTicker", params={"symbol": "BTCUSDT"}).json()
                placed = {}
                for side, price in (("BUY", str(Decimal(top["bidPrice"]) - tick)),
                                    ("SELL", str(Decimal(top["askPrice"]) + tick))):
                    r = await asyncio.to_thread(request, venue, "POST", "/api/v3/order", {
                        "symbol": "BTCUSDT", "side": side, "type": "LIMIT", "timeInForce": "GTC",
                        "quantity": "0.001", "price": price, "newClientOrderId": f"rest-{side}-{attempt}"})
                    assert r.status_code == 200, r.text
                    placed[side] = r.json()
                if all(p["status"] == "NEW" for p in placed.values()):
                    break
                await asyncio.to_thread(request, venue, "DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"})
            else:
                pytest.fail("no bracket rested in 5 attempts: the replay moves faster than we quote")
            ids = {p["clientOrderId"] for p in placed.values()}
            events = await _events(ws, "executionReport",
                                   lambda e: e["c"] in ids and e["x"] == "TRADE" and e["m"] is True, 30)
            return placed, [e for e in events if e["c"] in ids]
        finally:
            await ws.close()
    placed, events = asyncio.run(run())
    buy = placed["BUY"]["clientOrderId"]
    assert events[0]["x"] == "NEW" and events[0]["c"] == buy
    fill = events[-1]
    assert fill["x"] == "TRADE" and fill["m"] is True, events
    assert fill["L"] == fill["p"]                      # a maker fills at its own price
    oid = fill["i"]
    status = request(venue, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": oid}).json()
    assert status["status"] in ("PARTIALLY_FILLED", "FILLED") and float(status["executedQty"]) > 0
    request(venue, "DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"})


def test_retried_client_order_id_is_not_placed_twice(venue):
    top = httpx.get(f"{venue.base_url}/fapi/v1/ticker/bookTicker", params={"symbol": "BTCUSDT"}).json()
    far = f"{float(top['bidPrice']) * 0.8:.1f}"
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.005",
             "price": far, "newClientOrderId": "retry-me"}
    first = request(venue, "POST", "/fapi/v1/order", order)
    assert first.status_code == 200, first.text
    again = request(venue, "POST", "/fapi/v1/order", order)
    assert (again.status_code, again.json()["code"]) == (400, -4116)
    opened = request(venue, "GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"}).json()
    assert [o["clientOrderId"] for o in opened].count("retry-me") == 1
    got = request(venue, "GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "retry-me"}).json()
    assert got["orderId"] == first.json()["orderId"] and got["status"] == "NEW"
    cancel = request(venue, "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "retry-me"})
    assert cancel.json()["status"] == "CANCELED"
    again = request(venue, "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "retry-me"})
    assert again.json()["code"] == -2011
    spot_order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                  "quantity": "0.001", "price": "30000", "newClientOrderId": "spot-retry"}
    assert request(venue, "POST", "/api/v3/order", spot_order).status_code == 200
    dup = request(venue, "POST", "/api/v3/order", spot_order).json()
    assert dup == {"code": -2010, "msg": "Duplicate order sent."}
    request(venue, "DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"})


def test_websocket_garbage_does_not_kill_the_server(venue):
    async def run():
        async with websockets.connect(f"{ws_base(venue, MarketType.SPOT)}/ws/btcusdt@trade") as ws:
            replies = []
            for frame in ("not json{", "[1,2]", json.dumps({"method": "DANCE", "id": 1}), b"\x00\x01",
                          json.dumps({"method": "SUBSCRIBE", "params": "x", "id": 2})):
                await ws.send(frame)
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 7}))
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
            while len(replies) < 7:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if "e" in msg or ("u" in msg and "s" in msg):
                    continue                    # market data interleaves with the replies
                replies.append(msg)
            return replies
    replies = asyncio.run(run())
    assert [r.get("code") for r in replies[:5]] == [3, 2, 2, 3, 2]
    assert replies[5] == {"result": None, "id": 7}
    assert replies[6] == {"result": ["btcusdt@trade", "btcusdt@bookTicker"], "id": 8}
    assert httpx.get(f"{venue.base_url}/api/v3/ping").status_code == 200
    assert venue.call(lambda: venue.venue.stats.ws_bad_frames) >= 5


def test_binance_official_connectors_work_against_the_venue(venue):
    spot_mod = pytest.importorskip("binance.spot")
    um_mod = pytest.importorskip("binance.um_futures")
    spot = spot_mod.Spot(api_key=KEY, api_secret=SECRET, base_url=venue.base_url)
    assert spot.time()["serverTime"] > 0
    depth = spot.depth("BTCUSDT", limit=10)
    assert len(depth["bids"]) == 10 and depth["lastUpdateId"] > 0
    order = spot.new_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
    assert order["status"] == "FILLED" and order["fills"]
    assert any(b["asset"] == "BTC" for b in spot.account()["balances"])
    um = um_mod.UMFutures(key=KEY, secret=SECRET, base_url=venue.base_url)
    assert um.change_leverage(symbol="BTCUSDT", leverage=5)["leverage"] == 5
    placed = um.new_order(symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.002")
    assert placed["status"] == "NEW"                  # USD-M answers ACK by default
    got = um.query_order(symbol="BTCUSDT", orderId=placed["orderId"])
    assert got["status"] == "FILLED"
    assert um.account()["positions"][0]["leverage"] == "5"
    with pytest.raises(Exception) as err:
        spot_mod.Spot(api_key=KEY, api_secret="wrong", base_url=venue.base_url).account()
    assert getattr(err.value, "error_code", None) == -1022


def test_fault_injection_on_the_wire(venue):
    """The admin endpoint refuses a bad request with a reason (other paths
    under it are unknown paths, as on Binance), and each fault is what a
    client sees on the wire: garbage frames, an update-id gap, a silence with
    the connection open, a drop with no close frame."""
    url = f"{venue.base_url}/_venue/fault"
    for body, why in ((b"{", "body is not JSON"), (b"[]", "body must be a JSON object"),
                      ({"kind": "flood", "market": "usdm"}, "unknown fault kind 'flood'"),
                      ({"kind": "drop", "market": "coinm"}, "unknown market 'coinm'"),
                      ({"kind": "drop", "market": "usdm", "seconds": 1}, "seconds does not apply to drop"),
                      ({"kind": "skip_diff", "market": "usdm"}, "skip_diff needs a symbol"),
                      ({"kind": "skip_diff", "market": "usdm", "symbol": "ETHUSDT"}, "no symbol 'ETHUSDT'"),
                      ({"kind": "garbage", "market": "spot", "count": -1}, "count must be an integer"),
                      ({"kind": "silence", "market": "spot"}, "silence needs seconds"),
                      ({"kind": "drop", "market": "usdm", "colour": "red"}, "unknown key(s) colour")):
        r = httpx.post(url, **({"content": body} if isinstance(body, bytes) else {"json": body}))
        assert r.status_code == 400 and why in r.json()["error"], (body, r.text)
    assert httpx.get(url).status_code == 404 and httpx.post(f"{venue.base_url}/_venue/x").status_code == 404

    def stat(name):
        return venue.call(lambda: getattr(venue.venue.stats, name))

    async def run():
        stream = f"{ws_base(venue, MarketType.USDM)}/stream?streams=btcusdt@depth@0ms/btcusdt@trade"
        async with websockets.connect(stream, max_queue=None) as ws:
            async def next_diff():
                while (data := json.loads(await asyncio.wait_for(ws.recv(), 10))["data"])["e"] != "depthUpdate":
                    pass
                return data
            prev = (await next_diff())["u"]
            withheld = stat("fault_withheld_diffs")
            assert (await asyncio.to_thread(venue.fault, "skip_diff", "usdm", symbol="BTCUSDT"))["pending"] == 1
            gaps, bad = 0, []
            for _ in range(200):                          # ~10 s of replay; the gap comes within a few diffs
                data = await next_diff()
                gaps += data["pu"] != prev
                prev = data["u"]
                if gaps:
                    break
            assert stat("fault_withheld_diffs") == withheld + 1
            await asyncio.to_thread(httpx.post, url, json={"kind": "garbage", "market": "usdm", "count": 3})
            while len(bad) < 3:
                raw = await asyncio.wait_for(ws.recv(), 10)
                try:
                    data = json.loads(raw)["data"]
                    if data.get("e") == "depthUpdate":
                        [float(p) for p, _ in data["b"]]
                except (ValueError, KeyError):
                    bad.append(raw)
            await asyncio.to_thread(venue.fault, "silence", "usdm", seconds=0.6)
            arrivals, end = [time.monotonic()], time.monotonic() + 1.5
            while (left := end - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(ws.recv(), left)
                except asyncio.TimeoutError:
                    break
                arrivals.append(time.monotonic())
            quiet = max(b - a for a, b in zip(arrivals, arrivals[1:] + [end]))
            assert 0.45 < quiet < 1.2, quiet              # open, quiet, then the stream resumes
            assert arrivals[-1] > arrivals[0] + 0.6
            await asyncio.to_thread(venue.fault, "drop", "usdm")
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is None              # no close frame: a network drop
            return gaps, bad
    gaps, bad = asyncio.run(run())
    assert gaps == 1
    assert bad[0].startswith("\x00") and bad[1].endswith('"E":17231') and "not-a-price" in bad[2]
    assert stat("fault_garbage_frames") >= 3 and stat("fault_silenced") > 0 and stat("fault_drops") >= 1
    assert stat("faults") >= 4 and stat("internal_errors") == 0

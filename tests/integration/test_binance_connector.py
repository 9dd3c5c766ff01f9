"""The Binance connector against real local servers: a WebSocket server
(websockets.serve on 127.0.0.1) replaying real recorded Binance frames, and a
real HTTP server (stdlib, 127.0.0.1) answering Binance's REST paths and error
shapes. Covers reconnect after a dropped connection, resubscribe, the silence
watchdog, garbage frames, SUBSCRIBE frames, rate-limit headers and Retry-After,
signed requests verified by the server, error codes -> exceptions, kline
paging, the listenKey user data stream, and a full connector start."""
from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
from websockets.asyncio.server import serve

from barfinex.connectors import (
    CONNECTED, DISCONNECTED, RESUBSCRIBED, SILENT, USER_STREAM_RENEWED, ExchangeError,
    OrderRejectedError, OrderStatusUnknownError, RateLimitedError, create_connector,
)
from barfinex.connectors.binance import BinanceAdapters, BinanceConfig, BinanceStreams
from barfinex.datasets import USDM_BTCUSDT
from barfinex.model.enums import MarketType, OrderStatus, OrderType, Side, Timeframe
from barfinex.model.messages import Fill, Order, OrderUpdate, TopOfBook, Trade

pytestmark = pytest.mark.integration

KEY, SECRET = "test-key-0001", "test-secret-do-not-log"
ENV = {"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET}


def _recorded(n: int) -> list[bytes]:
    """The first ``n`` real USD-M combined-stream frames (trade, depth@0ms, bookTicker)."""
    out = []
    with gzip.open(USDM_BTCUSDT[0], "rb") as f:
        for line in f:
            body = line.rstrip(b"\n").partition(b" ")[2]
            if body.startswith(b'{"stream":'):
                out.append(body)
                if len(out) == n:
                    return out
    return out


FRAMES = _recorded(120)
STREAMS = ("btcusdt@trade", "btcusdt@depth@0ms", "btcusdt@bookTicker")


def run(coro, timeout: float = 15.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def until(predicate, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class WsVenue:
    """A WebSocket server whose n-th connection runs ``scripts[n]`` (the last one repeats)."""

    def __init__(self, scripts) -> None:
        self.scripts = scripts
        self.paths: list[str] = []
        self.received: list[dict] = []
        self.server = None

    async def __aenter__(self) -> "WsVenue":
        self.server = await serve(self._handle, "127.0.0.1", 0, compression=None)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _handle(self, ws) -> None:
        self.paths.append(ws.request.path)
        script = self.scripts[min(len(self.paths), len(self.scripts)) - 1]

        async def listen():
            async for text in ws:
                self.received.append(json.loads(text))
        reader = asyncio.get_running_loop().create_task(listen())
        try:
            await script(ws)
        finally:
            reader.cancel()


def send_then(frames, end: str):
    async def script(ws):
        for frame in frames:
            await ws.send(frame.decode())
        if end == "drop":
            ws.transport.abort()               # a dropped TCP connection, no close frame
        else:                                  # "hold": stay open, silent
            await ws.wait_closed()
    return script


def _streams(url: str, **cfg) -> tuple[BinanceStreams, list]:
    events: list = []
    config = BinanceConfig.from_mapping({"markets": ["usdm"], "usdm_ws": url, "depth_speed": "0ms",
                                         "backoff_initial_s": 0.05, "backoff_max_s": 0.2, **cfg})
    adapters = BinanceAdapters(MarketType.USDM, {"BTCUSDT": (1, 3)})
    return BinanceStreams(MarketType.USDM, config, adapters, report=events.append), events


def _subscribe_all(streams: BinanceStreams, got: list) -> None:
    streams.subscribe_trades("BTCUSDT", got.append)
    streams.subscribe_book_diffs("btcusdt", got.append)
    streams.subscribe_book_ticker("BTCUSDT", got.append)


# ----------------------------------------------------------------- WebSocket
def test_reconnects_after_a_dropped_connection_and_resubscribes_everything():
    async def scenario():
        async with WsVenue([send_then(FRAMES[:60], "drop"), send_then(FRAMES[60:], "hold")]) as venue:
            streams, events = _streams(venue.url)
            got: list = []
            _subscribe_all(streams, got)
            await until(lambda: len(got) == len(FRAMES), what="all frames over two connections")
            await streams.close()
            return venue, events, got, streams
    venue, events, got, streams = run(scenario())
    assert [e.kind for e in events] == [CONNECTED, DISCONNECTED, RESUBSCRIBED]
    assert events[2].symbols == ("BTCUSDT",) and set(events[2].streams) == set(STREAMS)
    for path in venue.paths:        # the URL of every (re)connection carries every stream
        assert urlsplit(path).path == "/stream"
        assert set(dict(parse_qsl(urlsplit(path).query))["streams"].split("/")) == set(STREAMS)
    assert len(venue.paths) == 2 and streams.health.reconnects == 1
    assert streams.health.malformed_total == 0
    assert {type(m).__name__ for m in got} == {"Trade", "DepthDiff", "TopOfBook"}


def test_silence_watchdog_reports_and_replaces_a_quiet_connection():
    async def scenario():
        async with WsVenue([send_then(FRAMES[:5], "hold"), send_then(FRAMES[5:10], "hold")]) as venue:
            streams, events = _streams(venue.url, silence_timeout_s=0.3)
            got: list = []
            _subscribe_all(streams, got)
            await until(lambda: len(got) == 10, what="frames after the silent connection was replaced")
            await streams.close()
            return venue, events, streams
    venue, events, streams = run(scenario())
    kinds = [e.kind for e in events]
    assert kinds[:3] == [CONNECTED, SILENT, RESUBSCRIBED]
    assert "no message for 0.3s" in events[1].reason and events[1].symbols == ("BTCUSDT",)
    assert streams.health.silences >= 1 and len(venue.paths) >= 2


def test_garbage_is_counted_per_stream_and_never_costs_other_messages():
    good_trade = next(f for f in FRAMES if b"@trade" in f)
    good_ticker = next(f for f in FRAMES if b"@bookTicker" in f)
    garbage = [
        b"this is not json",
        b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":5,"p":"6x1.0","q":"1","m":true}}',
        b'{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"a":[]}}',
        b'{"stream":"btcusdt@bookTicker","data":[1,2,3]}',
        b'{"code":2,"msg":"Invalid request: unknown stream","id":9}',
        b"\x00\xff\xfe",
    ]

    async def script(ws):
        await ws.send(good_trade.decode())
        for g in garbage:
            await (ws.send(g) if g.startswith(b"\x00") else ws.send(g.decode()))
        await ws.send(good_ticker.decode())
        await ws.wait_closed()

    async def scenario():
        async with WsVenue([script]) as venue:
            streams, events = _streams(venue.url)
            got: list = []
            _subscribe_all(streams, got)
            await until(lambda: len(got) == 2 and streams.health.malformed_total == 6, what="good + bad")
            await streams.close()
            return venue, streams, got
    venue, streams, got = run(scenario())
    assert [type(m) for m in got] == [Trade, TopOfBook]
    m = streams.health.malformed
    assert (m["btcusdt@trade"], m["btcusdt@depth@0ms"], m["btcusdt@bookTicker"], m["control"], m["?"]) == (
        1, 1, 1, 1, 2)
    assert "Invalid request: unknown stream" in streams.health.last_error or m["control"] == 1
    assert len(venue.paths) == 1          # the connection was never dropped for bad input


def test_subscribe_and_unsubscribe_frames_on_a_live_connection():
    async def scenario():
        async with WsVenue([send_then(FRAMES[:3], "hold")]) as venue:
            streams, events = _streams(venue.url)
            got: list = []
            stop_trades = streams.subscribe_trades("BTCUSDT", got.append)
            await until(lambda: events and events[0].kind == CONNECTED, what="connected")
            candles: list = []
            stop_klines = streams.subscribe_candles("BTCUSDT", Timeframe.M1, candles.append)
            await until(lambda: any(r.get("method") == "SUBSCRIBE" for r in venue.received), what="SUBSCRIBE")
            stop_klines()
            await until(lambda: any(r.get("method") == "UNSUBSCRIBE" for r in venue.received), what="UNSUBSCRIBE")
            stop_trades()
            stop_trades()                                  # a second call does nothing
            conn = streams.connections()[0]
            await until(lambda: not conn.connected.is_set(), what="connection closed with no streams")
            await streams.close()
            return venue
    venue = run(scenario())
    sub = next(r for r in venue.received if r["method"] == "SUBSCRIBE")
    unsub = next(r for r in venue.received if r["method"] == "UNSUBSCRIBE")
    assert sub["params"] == ["btcusdt@kline_1m"] and unsub["params"] == ["btcusdt@kline_1m"]
    assert isinstance(sub["id"], int) and unsub["id"] != sub["id"]


def test_a_failing_handler_is_counted_and_other_handlers_still_run():
    async def scenario():
        async with WsVenue([send_then(FRAMES[:40], "hold")]) as venue:
            streams, _ = _streams(venue.url)
            got: list = []

            def broken(msg):
                raise RuntimeError("strategy bug")
            streams.subscribe_trades("BTCUSDT", broken)
            streams.subscribe_trades("BTCUSDT", got.append)
            n = sum(1 for f in FRAMES[:40] if b"@trade" in f)
            await until(lambda: len(got) == n, what="trades to the healthy handler")
            await streams.close()
            return streams, n
    streams, n = run(scenario())
    assert streams.health.handler_errors["btcusdt@trade"] == n
    assert "strategy bug" in streams.health.last_error


# ----------------------------------------------------------------- REST
class RestVenue:
    """A real HTTP server on 127.0.0.1 answering a few Binance paths; records requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict, dict]] = []
        self.used_weight = 0
        self.script: dict[str, list] = {}       # path -> queued (status, headers, body) overrides
        self.listen_keys = 0
        self.time_skew_ms = 0
        venue = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                params = dict(parse_qsl(url.query)) | dict(parse_qsl(body))
                venue.requests.append((self.command, url.path, params, dict(self.headers)))
                status, headers, payload = venue.route(self.command, url.path, params, url.query + body,
                                                       self.headers)
                data = json.dumps(payload).encode()
                self.send_response(status)
                venue.used_weight += 1
                self.send_header("Content-Type", "application/json")
                self.send_header("X-MBX-USED-WEIGHT-1M", str(venue.used_weight))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "RestVenue":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def route(self, method, path, params, signed_text, headers):
        queued = self.script.get(path)
        if queued:
            return queued.pop(0)
        if path in ("/api/v3/time", "/fapi/v1/time"):
            return 200, {}, {"serverTime": time.time_ns() // 1_000_000 + self.time_skew_ms}
        if path == "/fapi/v1/exchangeInfo":
            return 200, {}, {"rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                                             "intervalNum": 1, "limit": 2400}],
                             "symbols": [USDM_INFO]}
        if path == "/fapi/v1/depth":
            if params.get("symbol") != "BTCUSDT":
                return 400, {}, {"code": -1121, "msg": "Invalid symbol."}
            return 200, {}, {"lastUpdateId": 42, "E": 1, "T": 1, "bids": [["61000.0", "1.000"]],
                             "asks": [["61000.1", "2.000"]]}
        if path == "/fapi/v1/klines":
            start, limit = int(params["startTime"]), int(params["limit"])
            rows = []
            for i in range(limit):
                t = start + i * 60_000
                if t >= KLINE_END_MS:
                    break
                rows.append([t, "61000.0", "61010.0", "60990.0", "61005.0", "1.500", t + 59_999,
                             "91507.50000", 12, "0.500", "30502.50000", "0"])
            return 200, {}, rows
        if path == "/fapi/v1/order":
            if headers.get("X-MBX-APIKEY") != KEY:
                return 401, {}, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
            text, _, sig = signed_text.rpartition("&signature=")
            expected = hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
            if sig != expected:
                return 400, {}, {"code": -1022, "msg": "Signature for this request is not valid."}
            return 200, {}, {"symbol": params["symbol"], "orderId": 7, "clientOrderId": params["newClientOrderId"],
                             "avgPrice": "0.00", "executedQty": "0", "status": "NEW", "updateTime": 1}
        if path == "/fapi/v1/listenKey":
            if method == "POST":
                self.listen_keys += 1
                return 200, {}, {"listenKey": f"key{self.listen_keys}"}
            return 200, {}, {}
        return 404, {}, {"code": -1000, "msg": f"unknown path {path}"}


KLINE_START_MS = 1_700_000_000_000 - 1_700_000_000_000 % 60_000
KLINE_END_MS = KLINE_START_MS + 2500 * 60_000
USDM_INFO = {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
             "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.10"},
                         {"filterType": "LOT_SIZE", "minQty": "0.001", "stepSize": "0.001"},
                         {"filterType": "MIN_NOTIONAL", "notional": "100"}]}


def _connector(rest: RestVenue, ws_url: str, events: list, **cfg):
    return create_connector("binance", {"markets": ["usdm"], "usdm_rest": rest.url, "usdm_ws": ws_url,
                                        "depth_speed": "0ms", "backoff_initial_s": 0.05,
                                        "backoff_max_s": 0.2, **cfg},
                            env=ENV, on_connection=events.append)


def test_connector_start_ready_rest_errors_and_signed_orders():
    async def scenario(rest):
        async with WsVenue([send_then(FRAMES[:10], "hold")]) as ws:
            events: list = []
            conn = _connector(rest, ws.url, events)
            assert not conn.ready
            await conn.start()
            assert conn.ready
            usdm = conn.session(MarketType.USDM)
            r = conn.rest(MarketType.USDM)
            assert abs(r.time_offset_ms - 5000) < 500            # the server's clock runs 5 s ahead
            assert r.limiter.limit == 2400 and r.limiter.used == rest.used_weight
            got: list = []
            usdm.streams.subscribe_trades("BTCUSDT", got.append)
            await until(lambda: got, what="a trade through the connector")
            snap = await usdm.market_data.depth_snapshot("BTCUSDT", 100)
            assert snap["lastUpdateId"] == 42
            with pytest.raises(ExchangeError) as err:
                await usdm.market_data.depth_snapshot("NOPE", 100)
            e = err.value
            assert (e.code, e.message, e.status, e.endpoint) == (-1121, "Invalid symbol.", 400, "GET /fapi/v1/depth")
            assert str(e) == "binance usdm GET /fapi/v1/depth: -1121 Invalid symbol. (HTTP 400)"
            # Rate limited: the 429's Retry-After blocks the next request.
            rest.script["/fapi/v1/depth"] = [(429, {"Retry-After": "0.3"},
                                              {"code": -1003, "msg": "Too many requests."})]
            with pytest.raises(RateLimitedError) as err:
                await usdm.market_data.depth_snapshot("BTCUSDT", 100)
            assert err.value.retry_after_s == 0.3
            t0 = time.monotonic()
            await usdm.market_data.depth_snapshot("BTCUSDT", 100)
            assert time.monotonic() - t0 >= 0.25
            # A signed order the server verifies; rounding to tick/step on the way.
            order = Order("cid-42", "binance", MarketType.USDM, "BTCUSDT", Side.BUY, OrderType.LIMIT,
                          qty=25004, qty_prec=4, price=6100037, price_prec=2)
            update = await usdm.orders.place(order)
            assert (update.client_order_id, update.status, update.exchange_order_id) == ("cid-42", OrderStatus.NEW, "7")
            method, path, params, headers = rest.requests[-1]
            assert (method, params["quantity"], params["price"], params["newClientOrderId"]) == (
                "POST", "2.500", "61000.3", "cid-42")
            assert headers["X-MBX-APIKEY"] == KEY
            # Exchange refusals and unknown outcomes become distinct, secret-free errors.
            rest.script["/fapi/v1/order"] = [
                (400, {}, {"code": -2010, "msg": "Account has insufficient balance for requested action."}),
                (502, {}, {"code": -1001, "msg": "Internal error; unable to process your request."}),
            ]
            with pytest.raises(OrderRejectedError) as rej:
                await usdm.orders.place(order)
            with pytest.raises(OrderStatusUnknownError) as unknown:
                await usdm.orders.place(order)
            for exc in (rej.value, unknown.value):
                assert SECRET not in str(exc) and "signature" not in str(exc) and KEY not in str(exc)
            assert rej.value.code == -2010
            # -1021 (our clock drifted): remeasure the offset and retry once, transparently.
            rest.script["/fapi/v1/order"] = [
                (400, {}, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."})]
            assert (await usdm.orders.place(order)).status == OrderStatus.NEW
            # Kline history pages by open time until the end.
            pages = [p async for p in usdm.market_data.candles(
                "BTCUSDT", Timeframe.M1, KLINE_START_MS * 1_000_000, (KLINE_END_MS - 1) * 1_000_000)]
            assert [len(p) for p in pages] == [1500, 1000]
            opens = [c.open_ns for p in pages for c in p]
            assert opens == [(KLINE_START_MS + i * 60_000) * 1_000_000 for i in range(2500)]
            c = pages[0][0]
            assert (c.open, c.high, c.volume, c.quote_volume, c.count, c.closed) == (610000, 610100, 1500, 915_075_000, 12, True)
            assert SECRET not in repr(conn) and KEY not in repr(conn)
            await conn.stop()
            assert not conn.ready
            return events
    with RestVenue() as rest:
        rest.time_skew_ms = 5000
        events = run(scenario(rest), timeout=30)
    assert events[0].kind == CONNECTED


def test_user_data_stream_listen_key_renewal():
    execution = {"e": "ORDER_TRADE_UPDATE", "E": 2, "T": 2, "o": {
        "s": "BTCUSDT", "c": "cid-9", "S": "BUY", "o": "LIMIT", "q": "0.010", "p": "61000.0", "ap": "61000.0",
        "x": "TRADE", "X": "FILLED", "i": 99, "l": "0.010", "z": "0.010", "L": "61000.0", "N": "USDT",
        "n": "0.24400000", "T": 2, "t": 1234, "m": True, "R": False}}

    async def first(ws):
        await ws.send(json.dumps(execution))
        await ws.send("{broken")
        await ws.send(json.dumps({"e": "listenKeyExpired", "E": 3, "listenKey": "key1"}))
        await ws.wait_closed()

    async def second(ws):
        await ws.send(json.dumps(execution))
        await ws.wait_closed()

    async def scenario(rest):
        async with WsVenue([first, second]) as ws:
            events: list = []
            conn = _connector(rest, ws.url, events)
            await conn.start()
            usdm = conn.session(MarketType.USDM)
            got: list = []
            usdm.streams.subscribe_account(got.append)
            await until(lambda: len(got) == 4, what="two executions over two listen keys")
            health = usdm.streams.health
            await conn.stop()
            return ws, events, got, health
    with RestVenue() as rest:
        ws, events, got, health = run(scenario(rest))
        keys = [(m, p) for m, p, _, _ in rest.requests if p == "/fapi/v1/listenKey"]
    assert ws.paths[:2] == ["/ws/key1", "/ws/key2"]
    assert keys[:2] == [("POST", "/fapi/v1/listenKey")] * 2
    assert [type(m) for m in got] == [OrderUpdate, Fill, OrderUpdate, Fill]
    assert got[1].qty == 10 and got[1].price == 610000 and got[1].is_maker
    assert health.malformed["user"] == 1
    kinds = [e.kind for e in events if e.connection == "user"]
    assert kinds[0] == CONNECTED and USER_STREAM_RENEWED in kinds

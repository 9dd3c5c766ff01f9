"""The venue's server: Binance's REST and WebSocket protocol on one aiohttp port.

See the package docstring for the URL layout and the fault-injection endpoint
(``/_venue/...``). Everything runs on one asyncio loop: a REST handler runs
between two replayed messages, so the depth snapshot it serves is exactly the
book after the last diff sent, and a fault lands between two messages too.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import parse_qsl

import msgspec
from aiohttp import WSMsgType, web

from barfinex.model.enums import MarketType, Timeframe

from . import errors as E
from barfinex.connectors.binance.config import PAPER_VENUE_API_KEY, PAPER_VENUE_API_SECRET

from .exchange import SPOT_TYPES, STOP_TYPES, USDM_TYPES, CLIENT_ID, ExchangeConfig, Order, PaperExchange
from .feed import KLINE_INTERVALS, Feed, SymbolState
from .instruments import MarketDefaults

log = logging.getLogger("barfinex.venue")

# One source for the paper credentials: the Binance connector uses the same
# pair when it is pointed at a venue with none in its environment.
DEFAULT_API_KEY, DEFAULT_API_SECRET = PAPER_VENUE_API_KEY, PAPER_VENUE_API_SECRET
MAX_RECV_WINDOW = 60_000
QUEUE_HIGH = 2_000          # a client this far behind slows an as-fast-as-possible replay
QUEUE_LIMIT = 100_000       # a client this far behind is disconnected (slow consumer)
DRAIN_TIMEOUT_S = 10.0
_DECIMAL = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_PARTIAL = re.compile(r"^depth(5|10|20)(@\d+ms)?$")
_DEPTH_SPEEDS = ("depth", "depth@100ms", "depth@250ms", "depth@500ms", "depth@1000ms", "depth@0ms")
_NOT_FOUND_HTML = ("<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
                   "<body><h1>404 Not Found</h1></body></html>")
_encode = msgspec.json.Encoder().encode

NONE, USER_STREAM, SIGNED = 0, 1, 2

ADMIN_PREFIX = "/_venue/"     # the venue's own endpoints; no Binance path starts with it
FAULT_KINDS = ("drop", "skip_diff", "garbage", "silence", "order_lost", "order_failed")
_FAULT_KEYS = {"drop": (), "skip_diff": ("symbol", "count"), "garbage": ("symbol", "count"),
               "silence": ("seconds",), "order_lost": ("count",), "order_failed": ("count",)}
# What Binance answers when it cannot tell whether an order went through.
def _unknown_status() -> E.BinanceError:
    return E.BinanceError(-1001, "Internal error; unable to process your request. Please try again.", status=503)
_FAULT_MARKETS = {"spot": MarketType.SPOT, "usdm": MarketType.USDM}
MAX_FAULT_COUNT = 100_000
MAX_FAULT_SECONDS = 3600.0


def canonical_stream(name: str, market: MarketType) -> str | None:
    """The venue's key for a Binance stream name (symbol lowercased; every
    depth-diff speed maps to the recorded diffs); None if it is not a market stream."""
    sym, sep, rest = name.partition("@")
    if not sep or not sym:
        return None
    sym = sym.lower()
    if rest in _DEPTH_SPEEDS:
        return f"{sym}@depth"
    m = _PARTIAL.match(rest)
    if m:
        return f"{sym}@depth{m.group(1)}"
    if rest in ("trade", "aggTrade", "bookTicker"):
        return f"{sym}@{rest}"
    if rest.startswith("kline_") and rest[6:] in KLINE_INTERVALS:
        return f"{sym}@{rest}"
    if market == MarketType.USDM and rest in ("markPrice", "markPrice@1s"):
        return f"{sym}@{rest}"
    return f"{sym}@{rest}"      # valid-looking but not replayed: accepted, never delivers


@dataclass
class VenueStats:
    """Counters for monitoring, the CLI's progress line and tests."""

    rest_requests: int = 0
    rest_errors: int = 0         # answered with a Binance error (4xx)
    internal_errors: int = 0     # bugs: answered -1000 / HTTP 500, logged with a traceback
    not_found: int = 0
    ws_connections: int = 0
    ws_open: int = 0
    ws_bad_frames: int = 0       # garbage, binary frames, malformed control requests
    slow_consumers: int = 0      # WebSocket clients dropped for falling too far behind
    orders: int = 0
    # Injected faults (POST /_venue/fault): requests accepted, then what they did.
    faults: int = 0
    fault_drops: int = 0         # WebSocket connections aborted (no close frame)
    fault_withheld_diffs: int = 0    # depth diffs not sent (skip_diff); the venue's book applied them
    fault_garbage_frames: int = 0    # malformed frames sent
    fault_silenced: int = 0      # stream messages not sent during an injected silence
    fault_orders_lost: int = 0   # orders placed, answered 503 (the client cannot know it went through)
    fault_orders_failed: int = 0     # orders answered 503 and not placed


class Conn:
    """One WebSocket client: its streams and an outgoing queue drained by a writer task."""

    def __init__(self, ws: web.WebSocketResponse, market: MarketType, combined: bool, peer: str,
                 transport: asyncio.BaseTransport | None = None) -> None:
        self.ws = ws
        self.market = market
        self.combined = combined
        self.peer = peer
        self.transport = transport
        self.names: dict[str, list[str]] = {}      # canonical key -> names as the client wrote them
        self.queue: deque[str] = deque()
        self.wake = asyncio.Event()
        self.closed = False

    def send(self, key: str, payload: str) -> None:
        if self.closed:
            return
        if self.combined:
            for name in self.names.get(key, ()):
                self.queue.append('{"stream":"%s","data":%s}' % (name, payload))
        else:
            self.queue.append(payload)
        self.wake.set()

    def reply(self, obj: Any) -> None:
        self.queue.append(_encode(obj).decode())
        self.wake.set()

    def raw(self, text: str) -> None:
        """Queue a frame exactly as given (injected garbage)."""
        self.queue.append(text)
        self.wake.set()

    def abort(self) -> None:
        """Cut the TCP connection with no close frame, as a network drop does."""
        self.closed = True
        self.queue.clear()
        self.wake.set()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()
        else:
            asyncio.ensure_future(self.ws.close(code=1006))

    async def writer(self) -> None:
        try:
            while not self.closed:
                await self.wake.wait()
                self.wake.clear()
                while self.queue and not self.closed:
                    await self.ws.send_str(self.queue.popleft())
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            self.closed = True


class Hub:
    """Who listens to which stream, per market; the feeds publish here."""

    def __init__(self, stats: VenueStats) -> None:
        self.stats = stats
        self.subs: dict[tuple[MarketType, str], set[Conn]] = {}
        self.conns: set[Conn] = set()
        # Injected faults (see Venue.inject): diffs still to withhold per
        # (market, "<sym>@depth"), and per market the monotonic end of a silence.
        self.withhold: dict[tuple[MarketType, str], int] = {}
        self.silent_until: dict[MarketType, float] = {}
        self.first_client = {m: asyncio.Event() for m in MarketType}   # set on a market's first subscription

    def subscribe(self, conn: Conn, name: str, key: str) -> None:
        names = conn.names.setdefault(key, [])
        if name not in names:
            names.append(name)
        self.subs.setdefault((conn.market, key), set()).add(conn)
        self.first_client[conn.market].set()

    def unsubscribe(self, conn: Conn, name: str, key: str) -> None:
        names = conn.names.get(key, [])
        if name in names:
            names.remove(name)
        if not names:
            conn.names.pop(key, None)
            subs = self.subs.get((conn.market, key))
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self.subs[(conn.market, key)]

    def drop(self, conn: Conn) -> None:
        for key in list(conn.names):
            for name in list(conn.names.get(key, [])):
                self.unsubscribe(conn, name, key)
        self.conns.discard(conn)

    def wants(self, market: MarketType, key: str) -> bool:
        return (market, key) in self.subs

    def publish(self, market: MarketType, key: str, payload: str) -> None:
        if (self.withhold or self.silent_until) and self._faulted(market, key):
            return
        for conn in tuple(self.subs.get((market, key), ())):
            conn.send(key, payload)
            if len(conn.queue) > QUEUE_LIMIT:
                self._slow(conn)

    def _faulted(self, market: MarketType, key: str) -> bool:
        """True if an injected fault eats this message (it is counted)."""
        until = self.silent_until.get(market)
        if until is not None:
            if time.monotonic() < until:
                self.stats.fault_silenced += 1
                return True
            del self.silent_until[market]
            log.warning("fault: %s streams resume after the injected silence", market.name.lower())
        left = self.withhold.get((market, key))
        if left:
            if left == 1:
                del self.withhold[(market, key)]
            else:
                self.withhold[(market, key)] = left - 1
            self.stats.fault_withheld_diffs += 1
            return True
        return False

    def _slow(self, conn: Conn) -> None:
        self.stats.slow_consumers += 1
        log.warning("WebSocket client %s dropped: %d messages behind (slow consumer)", conn.peer, len(conn.queue))
        conn.closed = True
        conn.queue.clear()
        conn.wake.set()
        self.drop(conn)
        asyncio.ensure_future(conn.ws.close(code=1008, message=b"slow consumer"))

    async def drain(self) -> None:
        """Wait while a client is more than QUEUE_HIGH messages behind (drop it after DRAIN_TIMEOUT_S)."""
        deadline = None
        while True:
            behind = [c for c in self.conns if len(c.queue) > QUEUE_HIGH and not c.closed]
            if not behind:
                await asyncio.sleep(0)
                return
            deadline = deadline or time.monotonic() + DRAIN_TIMEOUT_S
            if time.monotonic() > deadline:
                for c in behind:
                    self._slow(c)
                return
            await asyncio.sleep(0.002)


class Venue:
    """A replay venue: Binance's protocol on one loopback port, over recorded data.

    ``Venue(captures=None, speed=1.0, loop=False, port=0)``; ``await start()``
    returns the bound port, ``await stop()`` shuts down. With no captures it
    plays the shipped real data (spot and USD-M BTCUSDT). ``hold=True`` keeps
    each market at the start of its recording until a client subscribes to
    one of its streams. ``inject()`` injects a fault. See the package
    docstring for URLs, keys and semantics.
    """

    def __init__(self, captures: Iterable[str | Path] | None = None, *, speed: float = 1.0, loop: bool = False,
                 port: int = 0, host: str = "127.0.0.1", api_key: str = DEFAULT_API_KEY,
                 api_secret: str = DEFAULT_API_SECRET, exchange: ExchangeConfig | None = None,
                 defaults: dict[MarketType, MarketDefaults] | None = None, hold: bool = False) -> None:
        if captures is None:
            from barfinex import datasets
            captures = [*datasets.SPOT_BTCUSDT, *datasets.USDM_BTCUSDT]
        self.captures = [Path(p) for p in captures]
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 or inf: as fast as possible)")
        self.speed = float(speed)
        self.loop = loop
        self.hold = hold
        self.host = host
        self.port = port
        self.api_key = api_key
        self.api_secret = api_secret.encode()
        self.exchange_config = exchange or ExchangeConfig()
        self.defaults = defaults
        self.stats = VenueStats()
        self.hub = Hub(self.stats)
        self.order_faults: dict[MarketType, list[str]] = {}   # injected order_lost / order_failed, in order
        self.feeds: dict[MarketType, Feed] = {}
        self.exchange: PaperExchange | None = None
        self.listen_keys: dict[MarketType, str] = {}
        self.user_conns: dict[MarketType, dict[Conn, list[str]]] = {m: {} for m in MarketType}
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task] = []
        self.replay_done = asyncio.Event()
        self._routes = self._route_table()
        self._admin_routes = {("POST", ADMIN_PREFIX + "fault"): self._admin_fault,
                              ("GET", ADMIN_PREFIX + "stats"): self._admin_stats}

    # -- lifecycle --

    async def start(self) -> int:
        """Load the captures, sync the books, bind; returns the port."""
        feeds = await asyncio.to_thread(Feed.load, self.captures, self.defaults)
        self.feeds = {f.market: f for f in feeds}
        self.exchange = PaperExchange(feeds, self.exchange_config, self._emit_user)
        app = web.Application(client_max_size=1 << 20)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        readies = []
        for feed in feeds:
            ready = asyncio.Event()
            readies.append(ready)
            self._tasks.append(asyncio.create_task(self._play(feed, ready), name=f"replay-{feed.market.name}"))
        await asyncio.gather(*(r.wait() for r in readies))
        return self.port

    async def _play(self, feed: Feed, ready: asyncio.Event) -> None:
        try:
            gate = self.hub.first_client[feed.market] if self.hold else None
            await feed.run(self.hub, self.speed, self.loop, self.exchange, ready, gate)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s replay failed", feed.market.name)
            ready.set()
        finally:
            if all(t.done() or t is asyncio.current_task() for t in self._tasks):
                self.replay_done.set()

    async def stop(self) -> None:
        """Stop replaying, close every client, release the port."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        for conn in list(self.hub.conns):
            conn.closed = True
            conn.wake.set()
            await conn.ws.close(code=1001, message=b"venue shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def urls(self) -> dict[str, str]:
        """What to configure in a client: REST base and the two WebSocket bases."""
        return {"rest": self.base_url, "spot_ws": f"ws://{self.host}:{self.port}",
                "usdm_ws": f"ws://{self.host}:{self.port}/usdm"}

    # -- injected faults --

    def inject(self, kind: str, market: str | MarketType, *, symbol: str | None = None, count: int | None = None,
               seconds: float | None = None) -> dict:
        """Inject a fault into the live streams of ``market`` (call on the venue's loop).

        ``drop``: abort every WebSocket of the market (no close frame).
        ``order_lost``: the next ``count`` orders are placed but answered 503,
        as when Binance's answer is lost ("execution status unknown").
        ``order_failed``: the next ``count`` orders are answered 503 and not placed.
        ``skip_diff``: withhold the next ``count`` depth diffs of ``symbol``.
        ``garbage``: send ``count`` malformed frames on each stream connection
        of the market (of ``symbol``'s streams, if given). ``silence``: send no
        stream message on the market for ``seconds``, connections left open.
        Returns what was done; ``ValueError`` names what is wrong with the request.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose from {', '.join(FAULT_KINDS)}")
        if not isinstance(market, MarketType):
            if market not in _FAULT_MARKETS:
                raise ValueError(f"unknown market {market!r}; choose from {', '.join(_FAULT_MARKETS)}")
            market = _FAULT_MARKETS[market]
        feed = self.feeds.get(market)
        if feed is None:
            raise ValueError(f"{market.name.lower()} is not replayed here (captures: "
                             f"{', '.join(p.name for p in self.captures)})")
        given = {k for k, v in (("symbol", symbol), ("count", count), ("seconds", seconds)) if v is not None}
        extra = given - set(_FAULT_KEYS[kind])
        if extra:
            raise ValueError(f"{', '.join(sorted(extra))} does not apply to {kind} "
                             f"(it takes: {', '.join(_FAULT_KEYS[kind]) or 'market only'})")
        sym = None
        if symbol is not None:
            sym = feed.get(symbol.upper() if isinstance(symbol, str) else symbol)
            if sym is None:
                raise ValueError(f"no symbol {symbol!r} in the {market.name.lower()} replay "
                                 f"(it has: {', '.join(feed.symbols)})")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                                  or not 1 <= count <= MAX_FAULT_COUNT):
            raise ValueError(f"count must be an integer within 1..{MAX_FAULT_COUNT}, got {count!r}")
        name = market.name.lower()
        out: dict[str, Any] = {"kind": kind, "market": name}
        if kind == "drop":
            conns = [c for c in self.hub.conns if c.market == market and not c.closed]
            for conn in conns:
                self.hub.drop(conn)
                conn.abort()
            self.stats.fault_drops += len(conns)
            out["connections"] = len(conns)
        elif kind == "skip_diff":
            if sym is None:
                raise ValueError("skip_diff needs a symbol")
            if not sym.has_depth:
                raise ValueError(f"{sym.symbol} has no depth diffs in the {name} replay")
            key = (market, f"{sym.lower}@depth")
            self.hub.withhold[key] = self.hub.withhold.get(key, 0) + (count or 1)
            out.update(symbol=sym.symbol, pending=self.hub.withhold[key])
        elif kind in ("order_lost", "order_failed"):
            self.order_faults.setdefault(market, []).extend([kind] * (count or 1))
            out["pending"] = len(self.order_faults[market])
        elif kind == "garbage":
            sent = self._send_garbage(market, sym, count or 1)
            self.stats.fault_garbage_frames += sent
            out.update(frames=sent, symbol=sym.symbol if sym else None)
        else:
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                    or not 0 < seconds <= MAX_FAULT_SECONDS:
                raise ValueError(f"silence needs seconds within (0, {MAX_FAULT_SECONDS:g}], got {seconds!r}")
            self.hub.silent_until[market] = time.monotonic() + float(seconds)
            out["seconds"] = float(seconds)
        self.stats.faults += 1
        log.warning("fault injected: %s", " ".join(f"{k}={v}" for k, v in out.items() if v is not None))
        return out

    def _send_garbage(self, market: MarketType, sym: SymbolState | None, count: int) -> int:
        """Queue ``count`` malformed frames on each stream connection of ``market``,
        cycling through the three ways a feed goes bad: bytes that are not JSON
        (no stream named), a trade cut short (on the trade stream, if the
        connection has one), and a well-formed depthUpdate with a non-numeric
        price (on the depth stream, if it has one)."""
        sent = 0
        prefix = f"{sym.lower}@" if sym else ""
        feed = self.feeds[market]
        for conn in list(self.hub.conns):
            if conn.market != market or conn.closed:
                continue
            keys = [k for k in conn.names if k.startswith(prefix)]
            if not keys:
                continue
            trade = next((k for k in keys if k.endswith("@trade")), keys[0])
            depth = next((k for k in keys if k.endswith("@depth")), keys[0])
            for i in range(count):
                which = i % 3
                if which == 0:
                    frame = "\x00\x01 garbage: not JSON {{"
                elif which == 1:
                    cut = '{"e":"trade","E":17231'
                    frame = f'{{"stream":"{conn.names[trade][0]}","data":{cut}' if conn.combined else cut
                else:
                    s = feed.symbols.get(depth.partition("@")[0].upper())
                    u = (s.book.last_update_id if s else 0) + 1
                    data = _encode({"e": "depthUpdate", "E": s.clock_ms if s else 0, "s": s.symbol if s else "?",
                                    "U": u, "u": u, "pu": u - 1, "b": [["not-a-price", "1.000"]],
                                    "a": []}).decode()
                    frame = f'{{"stream":"{conn.names[depth][0]}","data":{data}}}' if conn.combined else data
                conn.raw(frame)
                sent += 1
        return sent

    async def _admin_fault(self, request: web.Request) -> web.Response:
        """POST /_venue/fault {"kind", "market", "symbol"?, "count"?, "seconds"?}."""
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError as exc:
            return _admin_error(f"body is not JSON: {exc}")
        if not isinstance(body, dict):
            return _admin_error('body must be a JSON object like {"kind": "drop", "market": "usdm"}')
        unknown = sorted(set(body) - {"kind", "market", "symbol", "count", "seconds"})
        if unknown:
            return _admin_error(f"unknown key(s) {', '.join(unknown)}; keys: kind, market, symbol, count, seconds")
        if "kind" not in body or "market" not in body:
            return _admin_error(f"kind and market are required; kinds: {', '.join(FAULT_KINDS)}; "
                                f"markets: {', '.join(_FAULT_MARKETS)}")
        try:
            done = self.inject(body["kind"], body["market"], symbol=body.get("symbol"), count=body.get("count"),
                               seconds=body.get("seconds"))
        except (ValueError, TypeError) as exc:
            return _admin_error(str(exc))
        return web.json_response(done, dumps=_dumps)

    async def _admin_stats(self, request: web.Request) -> web.Response:
        """GET /_venue/stats: the venue's counters and each market's replay progress."""
        feeds = {m.name.lower(): {**dataclasses.asdict(f.stats), "pass": f.loop_index + 1,
                                  "symbols": list(f.symbols)} for m, f in self.feeds.items()}
        return web.json_response({"venue": dataclasses.asdict(self.stats), "feeds": feeds,
                                  "replay_done": self.replay_done.is_set()}, dumps=_dumps)

    # -- user data --

    def _emit_user(self, market: MarketType, event: dict) -> None:
        conns = self.user_conns[market]
        if not conns:
            return
        payload = _encode(event).decode()
        for conn, names in list(conns.items()):
            if conn.closed:
                continue
            if conn.combined:
                for name in names:
                    conn.queue.append('{"stream":"%s","data":%s}' % (name, payload))
            else:
                conn.queue.append(payload)
            conn.wake.set()

    # -- HTTP dispatch --

    def _route_table(self) -> dict[tuple[str, str], tuple[Callable, int, MarketType]]:
        S, U = MarketType.SPOT, MarketType.USDM
        t = {}
        for prefix, m in (("/api/v3", S), ("/fapi/v1", U)):
            t[("GET", f"{prefix}/ping")] = (self._ping, NONE, m)
            t[("GET", f"{prefix}/time")] = (self._time, NONE, m)
            t[("GET", f"{prefix}/exchangeInfo")] = (self._exchange_info, NONE, m)
            t[("GET", f"{prefix}/depth")] = (self._depth, NONE, m)
            t[("GET", f"{prefix}/klines")] = (self._klines, NONE, m)
            t[("GET", f"{prefix}/ticker/bookTicker")] = (self._book_ticker, NONE, m)
            t[("GET", f"{prefix}/ticker/price")] = (self._ticker_price, NONE, m)
            t[("POST", f"{prefix}/order")] = (self._new_order, SIGNED, m)
            t[("GET", f"{prefix}/order")] = (self._query_order, SIGNED, m)
            t[("DELETE", f"{prefix}/order")] = (self._cancel_order, SIGNED, m)
            t[("GET", f"{prefix}/openOrders")] = (self._open_orders, SIGNED, m)
        t[("POST", "/api/v3/order/test")] = (self._test_order, SIGNED, S)
        t[("DELETE", "/api/v3/openOrders")] = (self._cancel_all, SIGNED, S)
        t[("GET", "/api/v3/account")] = (self._account, SIGNED, S)
        for method in ("POST", "PUT", "DELETE"):
            t[(method, "/api/v3/userDataStream")] = (self._listen_key, USER_STREAM, S)
            t[(method, "/fapi/v1/listenKey")] = (self._listen_key, USER_STREAM, U)
        t[("DELETE", "/fapi/v1/allOpenOrders")] = (self._cancel_all, SIGNED, U)
        t[("GET", "/fapi/v1/premiumIndex")] = (self._premium_index, NONE, U)
        t[("POST", "/fapi/v1/leverage")] = (self._leverage, SIGNED, U)
        for v in ("v2", "v3"):
            t[("GET", f"/fapi/{v}/account")] = (self._account, SIGNED, U)
            t[("GET", f"/fapi/{v}/positionRisk")] = (self._position_risk, SIGNED, U)
            t[("GET", f"/fapi/{v}/balance")] = (self._balance, SIGNED, U)
        return t

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        market, ws_path = MarketType.SPOT, path
        if path == "/usdm" or path.startswith("/usdm/"):
            market, ws_path = MarketType.USDM, path[5:] or "/"
        if ws_path.startswith("/ws/") or ws_path in ("/stream", "/ws"):
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return await self._websocket(request, market, ws_path)
        route = self._routes.get((request.method, path))
        if route is None and path.startswith(ADMIN_PREFIX):
            admin = self._admin_routes.get((request.method, path))
            if admin is not None:
                return await admin(request)
        if route is None:
            self.stats.not_found += 1
            return web.Response(status=404, text=_NOT_FOUND_HTML, content_type="text/html")
        handler, security, market = route
        self.stats.rest_requests += 1
        try:
            params = await self._params(request, security)
            if security != NONE and handler not in (self._listen_key,):
                pass
            body = await handler(request, market, params)
            return web.json_response(body, dumps=_dumps)
        except E.BinanceError as err:
            self.stats.rest_errors += 1
            return web.json_response(err.body(), status=err.status, dumps=_dumps)
        except Exception:
            self.stats.internal_errors += 1
            log.exception("%s %s failed", request.method, request.path_qs)
            return web.json_response(E.unknown_error().body(), status=500, dumps=_dumps)

    async def _params(self, request: web.Request, security: int) -> dict[str, str]:
        raw_query = request.rel_url.raw_query_string
        raw_body = ""
        if request.can_read_body:
            raw_body = (await request.read()).decode("utf-8", errors="replace")
            ctype = request.content_type
            if raw_body and ctype not in ("application/x-www-form-urlencoded", "", "application/octet-stream",
                                          "text/plain"):
                raise E.BinanceError(-1100, f"Illegal characters found in a parameter (content type {ctype}).")
        params: dict[str, str] = {}
        for part in (raw_query, raw_body):
            for k, v in parse_qsl(part, keep_blank_values=True):
                if k in params:
                    raise E.duplicate_parameter(k)
                params[k] = v
        if security >= USER_STREAM:
            key = request.headers.get("X-MBX-APIKEY")
            if not key:
                raise E.api_key_format()
            if not hmac.compare_digest(key.encode(), self.api_key.encode()):
                raise E.rejected_api_key()
        if security == SIGNED:
            self._check_signature(raw_query, raw_body, params)
            self._check_timestamp(params)
        return params

    def _check_signature(self, raw_query: str, raw_body: str, params: dict[str, str]) -> None:
        sig = params.get("signature")
        if not sig:
            raise E.mandatory("signature")
        # Binance signs totalParams = query string + request body, the signature
        # parameter excluded. Clients differ on joining the two (Binance's
        # example concatenates; some join with '&'): both are accepted.
        q, b = _without_signature(raw_query), _without_signature(raw_body)
        candidates = {q + b, f"{q}&{b}" if q and b else q + b}
        for text in candidates:
            mac = hmac.new(self.api_secret, text.encode(), hashlib.sha256).hexdigest()
            if hmac.compare_digest(mac, sig.lower()):
                return
        raise E.bad_signature()

    def _check_timestamp(self, params: dict[str, str]) -> None:
        ts = _int_param(params, "timestamp", required=True)
        window = _int_param(params, "recvWindow") if "recvWindow" in params else 5000
        if window > MAX_RECV_WINDOW or window <= 0:
            raise E.BinanceError(-1131, f"recvWindow must be less than {MAX_RECV_WINDOW}")
        now = int(time.time() * 1000)
        if ts > now + 1000:
            raise E.invalid_timestamp("Timestamp for this request was 1000ms ahead of the server's time.")
        if now - ts > window:
            raise E.invalid_timestamp("Timestamp for this request is outside of the recvWindow.")

    # -- market data --

    def _symbol(self, market: MarketType, params: dict, required: bool = True) -> SymbolState | None:
        name = params.get("symbol")
        if not name:
            if required:
                raise E.mandatory("symbol")
            return None
        feed = self.feeds.get(market)
        sym = feed.get(name) if feed else None
        if sym is None:
            raise E.invalid_symbol()
        return sym

    async def _ping(self, request, market, params) -> dict:
        return {}

    async def _time(self, request, market, params) -> dict:
        return {"serverTime": int(time.time() * 1000)}

    async def _exchange_info(self, request, market, params) -> dict:
        feed = self.feeds.get(market)
        syms = list(feed.symbols.values()) if feed else []
        wanted = None
        if "symbol" in params:
            wanted = [params["symbol"]]
        elif "symbols" in params:
            try:
                wanted = json.loads(params["symbols"])
            except ValueError:
                raise E.illegal_chars("symbols", '["SYMBOL",...]') from None
            if not isinstance(wanted, list):
                raise E.illegal_chars("symbols", '["SYMBOL",...]')
        if wanted is not None:
            if any(not isinstance(w, str) or (feed is None or w not in feed.symbols) for w in wanted):
                raise E.invalid_symbol()
            syms = [feed.symbols[w] for w in wanted]
        limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                  {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                  {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000}]
        body = {"timezone": "UTC", "serverTime": int(time.time() * 1000), "rateLimits": limits,
                "exchangeFilters": [], "symbols": [s.instrument.exchange_info() for s in syms]}
        if market == MarketType.USDM:
            body["futuresType"] = "U_MARGINED"
            quotes = sorted({s.instrument.quote for s in syms})
            body["assets"] = [{"asset": q, "marginAvailable": True, "autoAssetExchange": "0"} for q in quotes]
        return body

    async def _depth(self, request, market, params) -> dict:
        sym = self._symbol(market, params)
        if market == MarketType.USDM:
            limit = _int_param(params, "limit") if "limit" in params else 500
            allowed = (5, 10, 20, 50, 100, 500, 1000)
            if limit not in allowed:
                raise E.illegal_chars("limit", ", ".join(map(str, allowed)))
        else:
            limit = _int_param(params, "limit") if "limit" in params else 100
            if limit < 1:
                raise E.illegal_chars("limit", "1-5000")
            limit = min(limit, 5000)
        bids, asks = sym.depth(limit)
        if market == MarketType.USDM:
            return {"lastUpdateId": sym.book.last_update_id, "E": sym.clock_ms, "T": sym.clock_ms,
                    "bids": bids, "asks": asks}
        return {"lastUpdateId": sym.book.last_update_id, "bids": bids, "asks": asks}

    async def _klines(self, request, market, params) -> list:
        sym = self._symbol(market, params)
        interval = params.get("interval")
        if not interval:
            raise E.mandatory("interval")
        tf = KLINE_INTERVALS.get(interval)
        if tf is None:
            raise E.bad_interval()
        top = 1000 if market == MarketType.SPOT else 1500
        limit = _int_param(params, "limit") if "limit" in params else 500
        if not 1 <= limit <= top:
            raise E.illegal_chars("limit", f"1-{top}")
        start = _int_param(params, "startTime") if "startTime" in params else None
        end = _int_param(params, "endTime") if "endTime" in params else None
        if start is not None and end is not None and start > end:
            raise E.BinanceError(-1023, "Start time is greater than end time.")
        return sym.klines(tf, start, end, limit)

    def _ticker(self, sym: SymbolState) -> dict:
        ins = sym.instrument
        bid, bq, ask, aq = sym.book.bbo()
        out = {"symbol": sym.symbol, "bidPrice": ins.fmt_price(bid), "bidQty": ins.fmt_qty(bq),
               "askPrice": ins.fmt_price(ask), "askQty": ins.fmt_qty(aq)}
        if ins.futures:
            out["time"] = sym.clock_ms
            out["lastUpdateId"] = sym.book.last_update_id
        return out

    async def _book_ticker(self, request, market, params):
        sym = self._symbol(market, params, required=False)
        if sym is not None:
            return self._ticker(sym)
        return [self._ticker(s) for s in self.feeds[market].symbols.values()] if market in self.feeds else []

    async def _ticker_price(self, request, market, params):
        sym = self._symbol(market, params, required=False)
        syms = [sym] if sym is not None else list(self.feeds[market].symbols.values()) if market in self.feeds else []
        out = []
        for s in syms:
            row = {"symbol": s.symbol, "price": s.instrument.fmt_price(s.last_price)}
            if market == MarketType.USDM:
                row["time"] = s.clock_ms
            out.append(row)
        return out[0] if sym is not None else out

    async def _premium_index(self, request, market, params):
        sym = self._symbol(market, params, required=False)
        syms = [sym] if sym is not None else list(self.feeds[market].symbols.values()) if market in self.feeds else []
        out = []
        eight_h = 8 * 3600 * 1000
        for s in syms:
            mark = s.instrument._fp.format_fixed(s.mark_ticks_e8(), 8)
            out.append({"symbol": s.symbol, "markPrice": mark, "indexPrice": mark, "estimatedSettlePrice": mark,
                        "lastFundingRate": "0.00010000", "interestRate": "0.00010000",
                        "nextFundingTime": (s.clock_ms // eight_h + 1) * eight_h, "time": s.clock_ms})
        return out[0] if sym is not None else out

    # -- listen keys --

    async def _listen_key(self, request, market, params) -> dict:
        if request.method == "POST":
            key = self.listen_keys.get(market)
            if key is None:
                key = self.listen_keys[market] = secrets.token_urlsafe(48)[:64]
            return {"listenKey": key}
        key = params.get("listenKey")
        if market == MarketType.SPOT and not key:
            raise E.mandatory("listenKey")
        current = self.listen_keys.get(market)
        if current is None or (key and key != current):
            raise E.invalid_listen_key()
        if request.method == "DELETE":
            del self.listen_keys[market]
            for conn in list(self.user_conns[market]):
                self.user_conns[market].pop(conn, None)
                asyncio.ensure_future(conn.ws.close(code=1000, message=b"listenKey closed"))
            return {}
        return {"listenKey": current} if market == MarketType.USDM else {}

    # -- orders --

    async def _latency(self) -> None:
        if self.exchange_config.latency_ms > 0:
            await asyncio.sleep(self.exchange_config.latency_ms / 1000)

    def _decimal(self, params: dict, name: str, sym: SymbolState, price: bool, required: bool) -> int:
        text = params.get(name)
        if text is None or text == "":
            if required:
                raise E.mandatory(name)
            return 0
        if not _DECIMAL.match(text):
            raise E.illegal_chars(name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$")
        ins = sym.instrument
        futures = ins.futures
        decimals = len(text.partition(".")[2].rstrip("0"))
        if decimals > (ins.price_text if price else ins.qty_text):
            raise (E.BinanceError(-1111, "Precision is over the maximum defined for this asset.") if futures
                   else E.too_much_precision(name))
        try:
            value = ins.parse_price(text) if price else ins.parse_qty(text)
        except ValueError:
            if futures:
                raise (E.BinanceError(-4014, "Price not increased by tick size.") if price
                       else E.BinanceError(-1111, "Precision is over the maximum defined for this asset.")) from None
            raise E.filter_failure("PRICE_FILTER" if price else "LOT_SIZE") from None
        if value <= 0:
            if futures:
                raise (E.BinanceError(-4013, "Price less than min price.") if price
                       else E.BinanceError(-4003, "Quantity less than or equal to zero."))
            raise E.filter_failure("PRICE_FILTER" if price else "LOT_SIZE")
        return value

    async def _new_order(self, request, market, params, test: bool = False):
        sym = self._symbol(market, params)
        futures = market == MarketType.USDM
        side = params.get("side")
        if not side:
            raise E.mandatory("side")
        if side not in ("BUY", "SELL"):
            raise E.invalid_side()
        type_ = params.get("type")
        if not type_:
            raise E.mandatory("type")
        if type_ not in (USDM_TYPES if futures else SPOT_TYPES):
            raise E.invalid_order_type()
        tif = params.get("timeInForce")
        if type_ == "LIMIT":
            if not tif:
                raise E.mandatory("timeInForce")
            if tif not in (("GTC", "IOC", "FOK", "GTX") if futures else ("GTC", "IOC", "FOK")):
                raise E.invalid_tif()
        elif tif and not futures:
            raise E.not_required("timeInForce")
        else:
            tif = "GTC"
        close_position = _bool_param(params, "closePosition") if futures else False
        reduce_only = _bool_param(params, "reduceOnly") if futures else False
        if close_position and type_ not in STOP_TYPES:
            raise E.invalid_parameter("closePosition", "only with STOP_MARKET or TAKE_PROFIT_MARKET")
        if close_position and params.get("quantity"):
            raise E.not_required("quantity")
        if "quoteOrderQty" in params:
            raise E.BinanceError(-1013, "Quote order qty market orders are not support for this symbol.")
        qty = self._decimal(params, "quantity", sym, price=False, required=not close_position)
        price = self._decimal(params, "price", sym, price=True, required=type_ in ("LIMIT", "LIMIT_MAKER"))
        if price and type_ not in ("LIMIT", "LIMIT_MAKER"):
            raise E.not_required("price")
        stop = self._decimal(params, "stopPrice", sym, price=True, required=type_ in STOP_TYPES)
        d = sym.instrument.defaults
        max_qty = d.market_max_qty if type_ in ("MARKET", *STOP_TYPES) else d.max_qty
        if qty and qty > sym.instrument.parse_qty(max_qty):
            raise (E.BinanceError(-4005, "Quantity greater than max quantity.") if futures else
                   E.filter_failure("MARKET_LOT_SIZE" if type_ == "MARKET" else "LOT_SIZE"))
        client_id = params.get("newClientOrderId")
        if client_id is not None and not CLIENT_ID.match(client_id):
            raise E.illegal_chars("newClientOrderId", "^[\\.A-Z\\:/a-z0-9_-]{1,36}$")
        resp_type = params.get("newOrderRespType") or ("ACK" if futures or type_ in STOP_TYPES
                                                       or type_ == "LIMIT_MAKER" else "FULL")
        if resp_type not in ("ACK", "RESULT", "FULL") or (futures and resp_type == "FULL"):
            raise E.illegal_chars("newOrderRespType", "ACK, RESULT" + ("" if futures else ", FULL"))
        if test:
            return {}
        await self._latency()
        fault = self.order_faults[market].pop(0) if self.order_faults.get(market) else None
        if fault == "order_failed":
            self.stats.fault_orders_failed += 1
            raise _unknown_status()
        order = self.exchange.place(market, sym, side=side, type_=type_, tif=tif, qty=qty, price=price,
                                    stop=stop, client_id=client_id, reduce_only=reduce_only,
                                    close_position=close_position)
        self.stats.orders += 1
        if fault == "order_lost":
            self.stats.fault_orders_lost += 1
            raise _unknown_status()
        if futures:
            return self._futures_order(order, sym, ack=resp_type == "ACK")
        body = {"symbol": order.symbol, "orderId": order.order_id, "orderListId": -1,
                "clientOrderId": order.client_id, "transactTime": order.time_ms}
        if resp_type in ("RESULT", "FULL"):
            body.update(self._spot_order_fields(order, sym))
            body["workingTime"] = order.working_ms or order.time_ms
        if resp_type == "FULL":
            body["fills"] = list(order.fills)
        return body

    async def _test_order(self, request, market, params):
        return await self._new_order(request, market, params, test=True)

    def _spot_order_fields(self, order: Order, sym: SymbolState) -> dict:
        ins = sym.instrument
        return {"price": ins.fmt_price(order.price), "origQty": ins.fmt_qty(order.qty),
                "executedQty": ins.fmt_qty(order.executed),
                "cummulativeQuoteQty": ins.fmt_quote(order.cum_quote, ins.price_dec + ins.qty_dec),
                "status": order.status, "timeInForce": order.tif, "type": order.type, "side": order.side,
                "selfTradePreventionMode": "NONE"}

    def _spot_order(self, order: Order, sym: SymbolState) -> dict:
        body = {"symbol": order.symbol, "orderId": order.order_id, "orderListId": -1,
                "clientOrderId": order.client_id}
        body.update(self._spot_order_fields(order, sym))
        body.update({"stopPrice": sym.instrument.fmt_price(order.stop), "icebergQty": sym.instrument.fmt_qty(0),
                     "time": order.time_ms, "updateTime": order.update_ms, "isWorking": order.is_open,
                     "workingTime": order.working_ms or -1, "origQuoteOrderQty": "0.00000000"})
        return body

    def _futures_order(self, order: Order, sym: SymbolState, ack: bool = False) -> dict:
        ins = sym.instrument
        executed, cum, status = (0, 0, "NEW") if ack else (order.executed, order.cum_quote, order.status)
        avg = "0.00" if not executed else self.exchange.avg_price(order, ins)
        return {"orderId": order.order_id, "symbol": order.symbol, "status": status,
                "clientOrderId": order.client_id, "price": ins.fmt_price(order.price), "avgPrice": avg,
                "origQty": ins.fmt_qty(order.qty), "executedQty": ins.fmt_qty(executed),
                "cumQty": ins.fmt_qty(executed), "cumQuote": ins.fmt_quote(cum, ins.price_dec + ins.qty_dec),
                "timeInForce": order.tif, "type": order.type, "reduceOnly": order.reduce_only,
                "closePosition": order.close_position, "side": order.side, "positionSide": "BOTH",
                "stopPrice": ins.fmt_price(order.stop), "workingType": "CONTRACT_PRICE", "priceProtect": False,
                "origType": order.type, "priceMatch": "NONE", "selfTradePreventionMode": "NONE",
                "goodTillDate": 0, "time": order.time_ms, "updateTime": order.update_ms}

    def _lookup(self, market, params, sym: SymbolState) -> Order | None:
        order_id = _int_param(params, "orderId") if params.get("orderId") else None
        client_id = params.get("origClientOrderId") or None
        if order_id is None and client_id is None:
            raise E.BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                                        "but both were empty/null!")
        return self.exchange.find(market, sym.symbol, order_id, client_id)

    async def _query_order(self, request, market, params):
        sym = self._symbol(market, params)
        order = self._lookup(market, params, sym)
        if order is None:
            raise E.BinanceError(-2013, "Order does not exist.")
        return self._futures_order(order, sym) if market == MarketType.USDM else self._spot_order(order, sym)

    async def _cancel_order(self, request, market, params):
        sym = self._symbol(market, params)
        order = self._lookup(market, params, sym)
        await self._latency()
        if order is None or not order.is_open:
            raise E.BinanceError(-2011, "Unknown order sent.")
        self.exchange.cancel(order, sym)
        if market == MarketType.USDM:
            return self._futures_order(order, sym)
        body = {"symbol": order.symbol, "origClientOrderId": order.client_id, "orderId": order.order_id,
                "orderListId": -1, "clientOrderId": params.get("newClientOrderId") or secrets.token_urlsafe(16),
                "transactTime": sym.clock_ms}
        body.update(self._spot_order_fields(order, sym))
        return body

    async def _cancel_all(self, request, market, params):
        sym = self._symbol(market, params)
        await self._latency()
        orders = self.exchange.open_orders(market, sym.symbol)
        for o in orders:
            self.exchange.cancel(o, sym)
        if market == MarketType.USDM:
            return {"code": 200, "msg": "The operation of cancel all open order is done."}
        if not orders:
            raise E.BinanceError(-2011, "Unknown order sent.")
        return [dict(self._spot_order_fields(o, sym), symbol=o.symbol, origClientOrderId=o.client_id,
                     orderId=o.order_id, orderListId=-1, clientOrderId=secrets.token_urlsafe(16),
                     transactTime=sym.clock_ms) for o in orders]

    async def _open_orders(self, request, market, params):
        sym = self._symbol(market, params, required=False)
        orders = self.exchange.open_orders(market, sym.symbol if sym else None)
        feed = self.feeds[market]
        if market == MarketType.USDM:
            return [self._futures_order(o, feed.symbols[o.symbol]) for o in orders]
        return [self._spot_order(o, feed.symbols[o.symbol]) for o in orders]

    async def _account(self, request, market, params):
        return self.exchange.usdm_account() if market == MarketType.USDM else self.exchange.spot_account()

    async def _position_risk(self, request, market, params):
        sym = self._symbol(market, params, required=False)
        return self.exchange.position_risk(sym.symbol if sym else None)

    async def _balance(self, request, market, params):
        account = self.exchange.usdm_account()
        return [{"accountAlias": "venue", "asset": a["asset"], "balance": a["walletBalance"],
                 "crossWalletBalance": a["crossWalletBalance"], "crossUnPnl": a["crossUnPnl"],
                 "availableBalance": a["availableBalance"], "maxWithdrawAmount": a["maxWithdrawAmount"],
                 "marginAvailable": True, "updateTime": a["updateTime"]} for a in account["assets"]]

    async def _leverage(self, request, market, params):
        sym = self._symbol(market, params)
        lev = _int_param(params, "leverage", required=True)
        return self.exchange.set_leverage(sym, lev)

    # -- WebSocket --

    async def _websocket(self, request: web.Request, market: MarketType, path: str) -> web.StreamResponse:
        combined = path == "/stream"
        if combined:
            names = [n for n in request.query.get("streams", "").split("/") if n]
        else:
            names = [n for n in path[4:].split("/") if n]
        ws = web.WebSocketResponse(heartbeat=180.0, max_msg_size=64 * 1024)
        await ws.prepare(request)
        peer = request.remote or "?"
        conn = Conn(ws, market, combined, peer, request.transport)
        self.hub.conns.add(conn)
        self.stats.ws_connections += 1
        self.stats.ws_open += 1
        log.info("client %s connected: %s %s (%d open)", peer, market.name.lower(), request.path_qs,
                 self.stats.ws_open)
        for name in names:
            self._add_stream(conn, name)
        writer = asyncio.create_task(conn.writer())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._control(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self.stats.ws_bad_frames += 1
                    conn.reply({"code": 3, "msg": "Invalid JSON: binary frames are not accepted", "id": None})
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            conn.closed = True
            conn.wake.set()
            self.hub.drop(conn)
            self.user_conns[market].pop(conn, None)
            writer.cancel()
            self.stats.ws_open -= 1
            log.info("client %s disconnected (%d open)", peer, self.stats.ws_open)
        return ws

    def _add_stream(self, conn: Conn, name: str) -> None:
        key = self.listen_keys.get(conn.market)
        if key is not None and name == key:
            self.user_conns[conn.market].setdefault(conn, []).append(name)
            return
        canon = canonical_stream(name, conn.market)
        if canon is not None:
            self.hub.subscribe(conn, name, canon)

    def _remove_stream(self, conn: Conn, name: str) -> None:
        if name in self.user_conns[conn.market].get(conn, []):
            self.user_conns[conn.market][conn].remove(name)
            return
        canon = canonical_stream(name, conn.market)
        if canon is not None:
            self.hub.unsubscribe(conn, name, canon)

    def _control(self, conn: Conn, text: str) -> None:
        """Binance's live control frames: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET/GET_PROPERTY."""
        try:
            req = json.loads(text)
        except ValueError as exc:
            self.stats.ws_bad_frames += 1
            conn.reply({"code": 3, "msg": f"Invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                        "id": None})
            return
        if not isinstance(req, dict):
            self.stats.ws_bad_frames += 1
            conn.reply({"code": 2, "msg": "Invalid request: expected an object", "id": None})
            return
        rid = req.get("id")
        if not (rid is None or (isinstance(rid, int) and not isinstance(rid, bool))
                or (isinstance(rid, str) and re.fullmatch(r"[A-Za-z0-9]{1,36}", rid))):
            self.stats.ws_bad_frames += 1
            conn.reply({"code": 2, "msg": "Invalid request: request ID must be an unsigned integer", "id": None})
            return
        method = req.get("method")
        params = req.get("params", [])
        if method is None:
            self.stats.ws_bad_frames += 1
            conn.reply({"code": 2, "msg": "Invalid request: missing field `method`", "id": rid})
            return
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                self.stats.ws_bad_frames += 1
                conn.reply({"code": 2, "msg": "Invalid request: params must be a list of stream names", "id": rid})
                return
            for name in params:
                (self._add_stream if method == "SUBSCRIBE" else self._remove_stream)(conn, name)
            conn.reply({"result": None, "id": rid})
        elif method == "LIST_SUBSCRIPTIONS":
            names = [n for names in conn.names.values() for n in names]
            names += self.user_conns[conn.market].get(conn, [])
            conn.reply({"result": names, "id": rid})
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            if not isinstance(params, list) or not params or params[0] != "combined":
                self.stats.ws_bad_frames += 1
                conn.reply({"code": 0, "msg": "Unknown property", "id": rid})
            elif method == "GET_PROPERTY":
                conn.reply({"result": conn.combined, "id": rid})
            elif len(params) != 2 or not isinstance(params[1], bool):
                self.stats.ws_bad_frames += 1
                conn.reply({"code": 1, "msg": "Invalid value type: expected Boolean", "id": rid})
            else:
                conn.combined = params[1]
                conn.reply({"result": None, "id": rid})
        else:
            self.stats.ws_bad_frames += 1
            conn.reply({"code": 2, "msg": f"Invalid request: unknown variant {str(method)[:40]!r}, expected one "
                                          "of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, "
                                          "`GET_PROPERTY`", "id": rid})


def _dumps(obj: Any) -> str:
    return _encode(obj).decode()


def _admin_error(text: str) -> web.Response:
    return web.json_response({"error": text}, status=400, dumps=_dumps)


def _without_signature(raw: str) -> str:
    return "&".join(p for p in raw.split("&") if p and not p.startswith("signature="))


def _int_param(params: dict, name: str, required: bool = False) -> int:
    text = params.get(name)
    if text is None or text == "":
        if required:
            raise E.mandatory(name)
        raise E.mandatory(name)
    if not re.fullmatch(r"-?[0-9]{1,19}", text):
        raise E.illegal_chars(name, "integer")
    return int(text)


def _bool_param(params: dict, name: str) -> bool:
    text = params.get(name)
    if text is None or text == "":
        return False
    if text.lower() not in ("true", "false"):
        raise E.illegal_chars(name, "true, false")
    return text.lower() == "true"


class VenueThread:
    """Run a Venue on its own event loop in a background thread (tests, embedding).

    ``with VenueThread(Venue(...)) as v: ... v.base_url ...``
    """

    def __init__(self, venue: Venue, start_timeout: float = 60.0) -> None:
        self.venue = venue
        self.start_timeout = start_timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="venue", daemon=True)
        self.port = 0

    def start(self) -> "VenueThread":
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self.venue.start(), self.loop)
        self.port = fut.result(self.start_timeout)
        return self

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``fn()`` on the venue's loop (to read its state safely)."""
        async def run():
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def fault(self, kind: str, market: str, **kw) -> dict:
        """``Venue.inject`` on the venue's loop: ``v.fault("skip_diff", "usdm", symbol="BTCUSDT", count=2)``."""
        return self.call(lambda: self.venue.inject(kind, market, **kw))

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self.venue.stop(), self.loop).result(timeout)
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(timeout)
        self.loop.close()

    @property
    def base_url(self) -> str:
        return self.venue.base_url

    def __enter__(self) -> "VenueThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""Binance WebSocket streams: combined-stream connections that never give up.

Public streams of one market are spread over ``StreamConnection``s (at most
``max_streams_per_connection`` each), every one to ``<ws>/stream?streams=a/b``.
A connection:

- subscribes through its URL when it connects (so a reconnect resubscribes
  everything by construction) and by ``SUBSCRIBE``/``UNSUBSCRIBE`` frames
  while it is up, batched and paced under Binance's incoming-message limit;
- reconnects after any failure with exponential backoff and jitter, forever,
  while the connector runs; the backoff resets once a connection has been up
  ``stable_after_s``;
- is watched for silence: no frame for ``silence_timeout_s`` means it is
  reported (SILENT) and replaced;
- is rotated before Binance's 24-hour cut-off;
- reports every state change as a ``ConnectionEvent`` naming the symbols whose
  books lost continuity (the Provider resyncs them).

The read loop decodes each frame with the typed decoder of its stream and
hands the normalised message to that stream's handlers. A malformed frame is
counted against its stream and dropped; nothing else is affected.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any, Callable

import msgspec
import websockets
from websockets.asyncio.client import connect

from barfinex.model.enums import MarketType, Timeframe

from ..base.backoff import Backoff
from ..base.errors import ConnectorConfigError, ExchangeError
from ..base.health import StreamHealth
from ..base.protocols import (
    CONNECTED, DISCONNECTED, ERROR, RESUBSCRIBED, SILENT, USER_STREAM_RENEWED, ConnectionEvent,
    Unsubscribe,
)
from .adapters import KINDS, BinanceAdapters, kind_of, user_event
from .config import BinanceConfig
from .timeframes import TIMEFRAMES

log = logging.getLogger("barfinex.connectors.binance")

CONNECTOR = "binance"
_PREFIX = b'{"stream":"'
_CONTROL_INTERVAL_S = 0.25     # Binance allows 5 (spot) / 10 (USD-M) incoming control frames per second
_MALFORMED = (msgspec.DecodeError, msgspec.ValidationError, ValueError, KeyError, TypeError,
              IndexError, AttributeError)


async def _cancel(task: asyncio.Task | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):
        pass


class _Route:
    """Everything the read loop needs for one stream, looked up once per frame."""

    __slots__ = ("stream", "symbol", "decoder", "normalise", "pp", "qp", "handlers")

    def __init__(self, stream: str, symbol: str, decoder, normalise, pp: int, qp: int) -> None:
        self.stream, self.symbol, self.decoder, self.normalise = stream, symbol, decoder, normalise
        self.pp, self.qp = pp, qp
        self.handlers: list[Callable[[Any], Any]] = []


class StreamConnection:
    """One WebSocket carrying a set of combined streams, kept alive until ``stop()``."""

    def __init__(self, owner: "BinanceStreams", name: str) -> None:
        self.owner = owner
        self.name = name
        self.streams: set[str] = set()
        self.connected = asyncio.Event()
        self._ws = None
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._subscribed: set[str] = set()     # what the exchange has confirmed or the URL carried
        self._ids = itertools.count(1)
        self._had_connection = False
        cfg = owner.config
        self.backoff = Backoff(cfg.backoff_initial_s, cfg.backoff_max_s)
        self.attempt = 0

    # -- lifecycle --

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"binance-{self.name}")
        self._wake.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        await _cancel(task)
        self.connected.clear()

    def changed(self) -> None:
        """The stream set changed: (un)subscribe on the live socket, or connect, or close."""
        if self.streams:
            self.ensure_running()
        elif self._task is not None:
            # Detach the task now, so a subscription arriving before it ends starts a fresh one.
            task, self._task = self._task, None
            self.connected.clear()
            self.owner._background(_cancel(task), f"{self.name}-close")

    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted({s.partition("@")[0].upper() for s in self.streams}))

    def _event(self, kind: str, reason: str = "") -> ConnectionEvent:
        return ConnectionEvent(CONNECTOR, self.owner.market, kind, self.name, self.symbols(),
                               tuple(sorted(self.streams)), reason, self.attempt, time.time_ns())

    # -- the loop --

    async def _run(self) -> None:
        cfg = self.owner.config
        health = self.owner.health
        while self.streams:
            streams = sorted(self.streams)
            url = f"{self.owner.ws_base}/stream?streams={'/'.join(streams)}"
            reason = ""
            kind = DISCONNECTED
            try:
                async with connect(url, open_timeout=cfg.connect_timeout_s, max_size=2 ** 24,
                                   compression=None, close_timeout=2) as ws:
                    self._ws = ws
                    self._subscribed = set(streams)
                    up_since = time.monotonic()
                    self.connected.set()
                    self.owner._report(self._event(RESUBSCRIBED if self._had_connection else CONNECTED))
                    self._had_connection = True
                    writer = asyncio.get_running_loop().create_task(self._control(ws))
                    try:
                        kind, reason = await self._read(ws, up_since)
                    finally:
                        writer.cancel()
            except asyncio.CancelledError:
                raise
            except websockets.exceptions.ConnectionClosed as exc:
                reason = f"closed by peer: {exc.rcvd.code if exc.rcvd else 'no close frame'}"
            except (OSError, TimeoutError, websockets.exceptions.InvalidHandshake,
                    websockets.exceptions.InvalidURI, websockets.exceptions.WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self._ws = None
                self.connected.clear()
            if not self.streams:
                return
            health.reconnects += 1
            self.attempt += 1
            delay = self.backoff.next_delay()
            self.owner._report(self._event(kind, f"{reason}; reconnecting in {delay:.2f}s"))
            await asyncio.sleep(delay)

    async def _read(self, ws, up_since: float) -> tuple[str, str]:
        cfg = self.owner.config
        dispatch = self.owner.dispatch
        silence = cfg.silence_timeout_s
        rotate_at = up_since + cfg.max_connection_age_s
        stable_at = up_since + cfg.stable_after_s
        while True:
            now = time.monotonic()
            if now >= rotate_at:
                return DISCONNECTED, "rotating before Binance's 24 h disconnect"
            if stable_at and now >= stable_at:
                self.backoff.reset()
                self.attempt = 0
                stable_at = 0.0
            try:
                raw = await asyncio.wait_for(ws.recv(decode=False), min(silence, rotate_at - now))
            except TimeoutError:
                if time.monotonic() >= rotate_at:
                    continue
                self.owner.health.silences += 1
                return SILENT, f"no message for {silence:g}s"
            dispatch(raw)

    async def _control(self, ws) -> None:
        """Send SUBSCRIBE/UNSUBSCRIBE for set changes, batched, under the frame-rate limit."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                add = sorted(self.streams - self._subscribed)
                drop = sorted(self._subscribed - self.streams)
                for method, params in (("SUBSCRIBE", add), ("UNSUBSCRIBE", drop)):
                    if params:
                        await ws.send(msgspec.json.encode({"method": method, "params": params,
                                                           "id": next(self._ids)}).decode())
                        if method == "SUBSCRIBE":
                            self._subscribed.update(params)
                        else:
                            self._subscribed.difference_update(params)
                        # Changes made during this pause stay pending (wake is set) for the next round.
                        await asyncio.sleep(_CONTROL_INTERVAL_S)
        except websockets.exceptions.ConnectionClosed:
            return      # the read loop sees the close and reconnects with the current set


class BinanceStreams:
    """The ``StreamManager`` of one Binance market."""

    def __init__(self, market: MarketType, config: BinanceConfig, adapters: BinanceAdapters, *,
                 report: Callable[[ConnectionEvent], Any], rest=None, market_api=None) -> None:
        self.market = market
        self.config = config
        self.adapters = adapters
        self.ws_base = config.ws_url(market)
        self.health = StreamHealth()
        self._report = report
        self._rest = rest
        self._market_api = market_api
        self._routes: dict[str, _Route] = {}
        self._connections: list[StreamConnection] = []
        self._user: UserDataStream | None = None
        self._tasks: set[asyncio.Task] = set()
        self._where = f"binance {market.name.lower()}"

    # -- StreamManager API --

    def subscribe_trades(self, symbol: str, handler, *, aggregated: bool = False) -> Unsubscribe:
        return self._subscribe(symbol, "aggTrade" if aggregated else "trade", handler)

    def subscribe_book_diffs(self, symbol: str, handler) -> Unsubscribe:
        speed = self.config.depth_speed
        default = "1000ms" if self.market == MarketType.SPOT else "250ms"
        suffix = "depth" if speed in ("", default) else f"depth@{speed}"
        return self._subscribe(symbol, suffix, handler)

    def subscribe_book_ticker(self, symbol: str, handler) -> Unsubscribe:
        return self._subscribe(symbol, "bookTicker", handler)

    def subscribe_candles(self, symbol: str, timeframe: Timeframe, handler) -> Unsubscribe:
        return self._subscribe(symbol, f"kline_{TIMEFRAMES.to_exchange(timeframe, self.market)}", handler)

    def subscribe_prices(self, symbol: str, handler) -> Unsubscribe:
        suffix = "miniTicker" if self.market == MarketType.SPOT else "markPrice@1s"
        return self._subscribe(symbol, suffix, handler)

    def subscribe_liquidations(self, symbol: str, handler) -> Unsubscribe:
        return self._subscribe(symbol, "forceOrder", handler)

    def subscribe_instruments(self, handler, *, refresh_s: float = 3600.0) -> Unsubscribe:
        if self._market_api is None:
            raise ConnectorConfigError(f"{self._where}: instruments need the market API")

        async def poll() -> None:
            backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s)
            while True:
                try:
                    handler(await self._market_api.instruments())
                    backoff.reset()
                    await asyncio.sleep(refresh_s)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:    # keep polling: the next refresh may work
                    self.health.handler_failed(self._where, "instruments", exc)
                    await asyncio.sleep(backoff.next_delay())

        return self._background(poll(), "instruments")

    def subscribe_account(self, handler) -> Unsubscribe:
        if self._rest is None or not self._rest.has_credentials:
            raise ConnectorConfigError(f"{self._where}: the user data stream needs API credentials "
                                       f"({self.config.api_key_env}/{self.config.api_secret_env})")
        if self._user is None:
            self._user = UserDataStream(self)
        return self._user.add(handler)

    # -- bookkeeping --

    @property
    def connected(self) -> bool:
        """Every connection that carries streams is up."""
        live = [c for c in self._connections if c.streams]
        return all(c.connected.is_set() for c in live) and (
            self._user is None or not self._user.handlers or self._user.connected.is_set())

    @property
    def streams(self) -> list[str]:
        return sorted(self._routes)

    def connections(self) -> list[StreamConnection]:
        return list(self._connections)

    def _subscribe(self, symbol: str, suffix: str, handler) -> Unsubscribe:
        if not callable(handler):
            raise TypeError(f"{self._where}: handler must be callable, got {handler!r}")
        symbol = symbol.upper()
        stream = f"{symbol.lower()}@{suffix}"
        kind = KINDS[kind_of(stream)]
        if self.market not in kind.markets:
            raise ConnectorConfigError(f"{self._where}: no {kind.name} stream on this market")
        route = self._routes.get(stream)
        if route is None:
            try:
                pp, qp = self.adapters.precisions[symbol]
            except KeyError:
                raise ConnectorConfigError(f"{self._where}: unknown symbol {symbol!r} (not in "
                                           f"exchangeInfo; start the connector first)") from None
            route = _Route(stream, symbol, self.adapters.decoder(kind.name), kind.normalise, pp, qp)
            self._routes[stream] = route
            self._connection_for(stream).changed()
        route.handlers.append(handler)
        done = False

        def unsubscribe() -> None:
            nonlocal done
            if done:
                return
            done = True
            route.handlers.remove(handler)
            if not route.handlers and self._routes.get(stream) is route:
                del self._routes[stream]
                for conn in self._connections:
                    if stream in conn.streams:
                        conn.streams.discard(stream)
                        conn.changed()

        return unsubscribe

    def _connection_for(self, stream: str) -> StreamConnection:
        for conn in self._connections:
            if len(conn.streams) < self.config.max_streams_per_connection:
                conn.streams.add(stream)
                return conn
        conn = StreamConnection(self, f"public-{len(self._connections) + 1}")
        self._connections.append(conn)
        conn.streams.add(stream)
        return conn

    def _background(self, coro, name: str) -> Unsubscribe:
        task = asyncio.get_running_loop().create_task(coro, name=f"binance-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task.cancel

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for conn in self._connections:
            await conn.stop()
        if self._user is not None:
            await self._user.stop()

    # -- the hot path --

    def dispatch(self, raw: bytes | str) -> None:
        """Route one frame to its stream's handlers; count, never raise, on bad input."""
        health = self.health
        health.messages += 1
        health.last_message_ns = time.monotonic_ns()
        if isinstance(raw, str):
            raw = raw.encode()
        if raw.startswith(_PREFIX):
            end = raw.find(b'"', 11)
            route = self._routes.get(raw[11:end].decode("utf-8", "replace")) if end > 0 else None
            if route is not None:
                try:
                    msg = route.normalise(route.decoder.decode(raw).data, self.market, route.pp, route.qp)
                except _MALFORMED as exc:
                    health.bad_message(self._where, route.stream, f"{type(exc).__name__}: {exc}")
                    return
                for handler in route.handlers:
                    try:
                        handler(msg)
                    except Exception as exc:
                        health.handler_failed(self._where, route.stream, exc)
                return
        self._other(raw)

    def _other(self, raw: bytes) -> None:
        """Control answers, frames for streams no longer subscribed, and garbage."""
        try:
            msg = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            self.health.bad_message(self._where, "?", f"bad JSON ({exc}): {raw[:60]!r}")
            return
        if isinstance(msg, dict):
            if "result" in msg and "id" in msg:
                return                                  # SUBSCRIBE/UNSUBSCRIBE acknowledged
            if "code" in msg and "msg" in msg:
                self.health.bad_message(self._where, "control",
                                        f"exchange refused a request: {msg['code']} {msg['msg']}")
                return
            stream = msg.get("stream")
            if isinstance(stream, str) and "data" in msg:
                return                                  # a stream we just unsubscribed from
        self.health.bad_message(self._where, "?", f"not a combined-stream message: {raw[:60]!r}")


class UserDataStream:
    """The user data stream of one market: listenKey create, keepalive, renew, reconnect."""

    def __init__(self, owner: BinanceStreams) -> None:
        self.owner = owner
        self.handlers: list[Callable[[Any], Any]] = []
        self.connected = asyncio.Event()
        self.listen_key = ""
        self.renewals = 0
        self._task: asyncio.Task | None = None
        self._renew = asyncio.Event()
        cfg = owner.config
        self.backoff = Backoff(cfg.backoff_initial_s, cfg.backoff_max_s)

    def add(self, handler) -> Unsubscribe:
        self.handlers.append(handler)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="binance-user")
        done = False

        def unsubscribe() -> None:
            nonlocal done
            if not done:
                done = True
                self.handlers.remove(handler)
                if not self.handlers:
                    self.owner._background(self.stop(), "user-close")

        return unsubscribe

    async def stop(self) -> None:
        task, self._task = self._task, None
        await _cancel(task)
        self.connected.clear()
        if self.listen_key:
            key, self.listen_key = self.listen_key, ""
            try:
                await self._key_call("DELETE", key)
            except Exception:       # best effort: an unused key expires by itself in 60 min
                pass

    def _event(self, kind: str, reason: str) -> ConnectionEvent:
        return ConnectionEvent(CONNECTOR, self.owner.market, kind, "user", (), (), reason, 0,
                               time.time_ns())

    async def _key_call(self, method: str, key: str = "") -> Any:
        rest = self.owner._rest
        params = {"listenKey": key} if key and rest.market == MarketType.SPOT else None
        weight = 2 if rest.market == MarketType.SPOT else 1
        return await rest.request(method, rest.paths.listen_key, params, weight=weight, api_key=True)

    async def _run(self) -> None:
        cfg = self.owner.config
        first = True
        while self.handlers:
            reason = ""
            try:
                body = await self._key_call("POST")
                self.listen_key = body["listenKey"]
                url = f"{self.owner.ws_base}/ws/{self.listen_key}"
                async with connect(url, open_timeout=cfg.connect_timeout_s, compression=None,
                                   close_timeout=2) as ws:
                    self.connected.set()
                    self.owner._report(self._event(CONNECTED if first else USER_STREAM_RENEWED,
                                                   "user data stream up"))
                    first = False
                    self.backoff.reset()
                    keepalive = asyncio.get_running_loop().create_task(self._keepalive())
                    try:
                        reason = await self._read(ws)
                    finally:
                        keepalive.cancel()
            except asyncio.CancelledError:
                raise
            except (ExchangeError, OSError, TimeoutError, KeyError, TypeError,
                    websockets.exceptions.WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self.connected.clear()
            if not self.handlers:
                return
            self.owner.health.reconnects += 1
            delay = self.backoff.next_delay()
            self.owner._report(self._event(DISCONNECTED, f"user stream: {reason}; "
                                                         f"reconnecting in {delay:.2f}s"))
            await asyncio.sleep(delay)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.owner.config.listen_key_keepalive_s)
            try:
                await self._key_call("PUT", self.listen_key)
            except ExchangeError as exc:
                # -1125: the key no longer exists. Any failure: make a new key.
                self.owner._report(self._event(ERROR, f"listenKey keepalive failed: {exc}"))
                self._renew.set()
                return

    async def _read(self, ws) -> str:
        where = self.owner._where
        health = self.owner.health
        market = self.owner.market
        precisions = self.owner.adapters.precisions
        self._renew.clear()
        renew = asyncio.get_running_loop().create_task(self._renew.wait())
        recv = None
        try:
            while True:
                recv = asyncio.get_running_loop().create_task(ws.recv(decode=False))
                done, _ = await asyncio.wait({recv, renew}, return_when=asyncio.FIRST_COMPLETED)
                if renew in done:
                    recv.cancel()
                    self.renewals += 1
                    return "listenKey renewal"
                raw = recv.result()
                health.messages += 1
                try:
                    data = msgspec.json.decode(raw)
                    if isinstance(data, dict) and "stream" in data and "data" in data:
                        data = data["data"]
                    if data.get("e") == "listenKeyExpired":
                        self.renewals += 1
                        return "listenKey expired"
                    messages = user_event(data, market, precisions)
                except _MALFORMED as exc:
                    health.bad_message(where, "user", f"{type(exc).__name__}: {exc}")
                    continue
                for msg in messages:
                    for handler in list(self.handlers):
                        try:
                            handler(msg)
                        except Exception as exc:
                            health.handler_failed(where, "user", exc)
        finally:
            renew.cancel()
            # Stopped while waiting: a receive left behind would fail when the
            # socket closes, with nobody to hear it.
            if recv is not None and not recv.done():
                recv.cancel()

"""Provider: exchange connectivity, synced books, candles, the order API.

Config (the `config:` file its topology names)::

    connectors:
      binance:                       # a name registered under barfinex.connectors
        options: {venue: "http://127.0.0.1:8765", markets: [spot, usdm]}
        symbols: {spot: [BTCUSDT], usdm: [BTCUSDT]}
    candles: [1s, 1m, 5m, 15m, 1h]   # timeframes aggregated from trades, all at once
    ready_timeout_s: 30

Requests on its ROUTER (besides the runtime's status/stop/reload/ping):
``book`` {connector, market, symbol, depth}, ``candles`` {connector, market,
symbol, timeframe, limit}, ``instruments`` {}, ``order.place`` {Order fields},
``order.cancel`` {connector, market, symbol, client_order_id}. Snapshots
carry ``bus_seq``: the sequence of the last event they include, so a late
joiner drops deltas at or below it (the Clone pattern).

An order the exchange (or the connector, checking the exchange's filters
before sending) refuses fails with RPC code ``rejected`` and ``detail``
``{"code", "msg", "status", "endpoint", "connector"}``: the exchange's own
error code and text (``status`` 0: refused before sending, with the code the
exchange gives that refusal); ``PROVIDER_ORDER_UPDATE`` carries it as REJECTED.

``status`` (``barfinex status``) adds ``health``: per connector market the
stream counters (messages, reconnects, silences, malformed frames by stream,
handler errors) and per symbol the book's state and sync counters (gaps,
resyncs, snapshots).
"""
from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from barfinex.bus import BadRequest, Refused, Rejected
from barfinex.connectors import create_connector
from barfinex.connectors.base.errors import ExchangeError, OrderStatusUnknownError
from barfinex.model import MarketType, Order, OrderStatus, OrderUpdate, Timeframe, market_topic
from barfinex.model.codec import from_dict, to_builtins
from barfinex.runtime import Actor

from .feed import SymbolFeed

# An order whose fate the exchange did not tell: ask again this many times,
# waiting 0.2 s, 0.4 s, ... between (about 6 s in all).
UNKNOWN_ATTEMPTS = 5
UNKNOWN_FIRST_DELAY_S = 0.2
ORDER_DOES_NOT_EXIST = -2013
DUPLICATE_ORDER = (-2010, -4116)     # spot "Duplicate order sent.", futures "ClientOrderId is duplicated."

_MARKETS = {"spot": MarketType.SPOT, "usdm": MarketType.USDM, "futures": MarketType.USDM,
            "coinm": MarketType.COINM}


class _ConnectorConfig(msgspec.Struct, forbid_unknown_fields=True):
    options: dict[str, Any] = msgspec.field(default_factory=dict)
    symbols: dict[str, list[str]] = msgspec.field(default_factory=dict)


class _ProviderConfig(msgspec.Struct, forbid_unknown_fields=True):
    connectors: dict[str, _ConnectorConfig] = msgspec.field(default_factory=dict)
    candles: list[str] = msgspec.field(default_factory=lambda: ["1s", "1m", "5m", "15m", "1h"])
    ready_timeout_s: float = 30.0


class Provider(Actor):
    KIND = "PROVIDER"

    async def on_start(self) -> None:
        cfg = self.load_config(_ProviderConfig)
        self.timeframes = [Timeframe.parse(t) for t in cfg.candles]
        self.cfg = cfg
        self.connectors: dict[str, Any] = {}
        self.feeds: dict[tuple[str, MarketType, str], SymbolFeed] = {}
        self.orders: dict[str, asyncio.Future] = {}    # client_order_id -> result
        self.counters = {"orders_unknown": 0, "orders_resent": 0}   # placements the exchange left unanswered
        self.account_up: set[tuple[str, MarketType]] = set()   # user data streams connected
        for name, ccfg in cfg.connectors.items():
            conn = create_connector(name, ccfg.options, on_connection=self._on_connection)
            self.connectors[name] = conn
            self.spawn(self._bring_up(name, conn, ccfg))
        for method, fn in (("book", self._rpc_book), ("candles", self._rpc_candles),
                           ("instruments", self._rpc_instruments), ("order.place", self._rpc_place),
                           ("order.cancel", self._rpc_cancel)):
            self.rpc.register(method, fn)

    async def on_stop(self) -> None:
        for feed in self.feeds.values():
            feed.stop()
        for conn in self.connectors.values():
            try:
                await conn.stop()
            except Exception:
                self.log.exception("stopping %s", conn.NAME)

    # ------------------------------------------------------------ connectors
    async def _bring_up(self, name: str, conn, ccfg: _ConnectorConfig) -> None:
        delay = 0.5
        while True:
            try:
                await conn.start()
                await conn.wait_ready(self.cfg.ready_timeout_s)
                break
            except Exception as exc:  # the exchange may be down: keep trying, never give up
                self.log.warning("%s not ready (%s); retrying in %.1fs", name, exc, delay)
                try:
                    await conn.stop()
                except Exception:
                    pass
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)
        for market_name, symbols in ccfg.symbols.items():
            market = _MARKETS.get(market_name)
            if market is None:
                self.log.error("%s: unknown market %r in config (use spot, usdm, coinm)", name, market_name)
                continue
            session = conn.session(market)
            instruments = {i.symbol: i for i in await session.market_data.instruments()}
            for symbol in symbols:
                ins = instruments.get(symbol)
                if ins is None:
                    self.log.error("%s %s: no instrument %s on the exchange; skipped", name, market_name, symbol)
                    continue
                feed = SymbolFeed(self, name, session, ins, self.timeframes)
                self.feeds[(name, market, symbol)] = feed
                feed.start()
            try:
                session.streams.subscribe_account(lambda ev, n=name: self._on_account(n, ev))
            except Exception as exc:  # no credentials: market data still flows, orders will be refused
                self.log.warning("%s %s: no account stream (%s); fills will not be reported", name,
                                 market_name, exc)
        self.log.info("%s ready: %s", name, ", ".join(f"{m.label}:{s}" for (n, m, s) in self.feeds if n == name))

    def _on_connection(self, event) -> None:
        if event.connection == "user":
            key = (event.connector, event.market)
            if event.kind in ("connected", "user_stream_renewed"):
                self.account_up.add(key)
            elif event.kind == "disconnected":
                self.account_up.discard(key)
        if event.kind in ("resubscribed", "silent", "disconnected"):
            self.log.warning("%s %s %s: %s", event.connector, event.market, event.kind, event.reason)
            for (name, market, symbol), feed in self.feeds.items():
                if name == event.connector and market == event.market and symbol in (event.symbols or ()):
                    feed.resync(f"stream {event.kind}")

    def _on_account(self, connector: str, event) -> None:
        from barfinex.model import AccountEvent, Fill, OrderUpdate, Position
        channel = {OrderUpdate: "PROVIDER_ORDER_UPDATE", Fill: "PROVIDER_ORDER_FILL",
                   AccountEvent: "PROVIDER_ACCOUNT_EVENT", Position: "PROVIDER_ACCOUNT_EVENT"}.get(type(event))
        if channel is None:
            return
        symbol = getattr(event, "symbol", "") or "account"
        self.publish(market_topic(channel, connector, "account", symbol), event)

    # ----------------------------------------------------------------- health
    def health(self) -> dict[str, Any]:
        streams: dict[str, dict] = {}
        for name, conn in self.connectors.items():
            for market in getattr(conn, "markets", ()):
                try:
                    s = conn.session(market).streams
                except Exception:       # not started yet (the exchange may be down)
                    continue
                h = s.health
                streams[f"{name}.{market.label}"] = {
                    "connected": bool(getattr(s, "connected", True)), "messages": h.messages,
                    "reconnects": h.reconnects, "silences": h.silences, "malformed": h.malformed_total,
                    "malformed_by_stream": dict(h.malformed), "handler_errors": sum(h.handler_errors.values()),
                    "last_error": h.last_error}
        books = {}
        for (name, market, symbol), feed in self.feeds.items():
            st = feed.sync.stats
            books[f"{name}.{market.label}.{symbol}"] = {
                "status": feed.sync.status.name, "gaps": st.gaps, "resyncs": st.resyncs,
                "snapshots": st.snapshots, "diffs_applied": st.diffs_applied, "rejected": st.rejected,
                "rejected_trades": feed.rejected_trades, "last_error": feed.sync.last_error}
        return {"streams": streams, "books": books, "orders": {"placement": dict(self.counters)}}

    # --------------------------------------------------------------- requests
    def _feed(self, params: dict) -> SymbolFeed:
        try:
            key = (params["connector"], _MARKETS[params["market"]], params["symbol"])
        except (KeyError, TypeError):
            raise BadRequest("give connector, market (spot|usdm|coinm) and symbol") from None
        feed = self.feeds.get(key)
        if feed is None:
            raise BadRequest(f"no feed for {params['connector']} {params['market']} {params['symbol']}; "
                             f"this provider has: {', '.join(f'{n} {m.label} {s}' for n, m, s in self.feeds)}")
        return feed

    def _rpc_book(self, params: dict) -> dict:
        return self._feed(params).book_snapshot(int(params.get("depth", 100)))

    def _rpc_candles(self, params: dict) -> dict:
        feed = self._feed(params)
        tf = Timeframe.parse(str(params.get("timeframe", "1m")))
        return feed.recent_candles(int(tf), int(params.get("limit", 100)))

    def _rpc_instruments(self, _params) -> list[dict]:
        return [to_builtins(f.instrument) for f in self.feeds.values()]

    async def _rpc_place(self, params: dict) -> dict:
        try:
            order = from_dict(Order, params)
        except ValueError as exc:
            raise BadRequest(f"bad order: {exc}") from None
        if not order.client_order_id:
            raise BadRequest("an order needs a client_order_id (its idempotency key)")
        known = self.orders.get(order.client_order_id)
        if known is not None:
            # A retry (even from a restarted client): the venue saw this order once.
            return await asyncio.shield(known)
        conn = self.connectors.get(order.connector)
        if conn is None:
            raise BadRequest(f"unknown connector {order.connector!r}")
        if not conn.ready:
            raise Refused(f"{order.connector} is not connected yet; the order was not sent")
        if (order.connector, order.market) not in self.account_up:
            # Never send an order whose fills we could not see.
            raise Refused(f"{order.connector} {order.market.label} user data stream is not "
                          f"connected (fills could not be reported); the order was not sent")
        fut = asyncio.get_running_loop().create_future()
        self.orders[order.client_order_id] = fut
        topic = market_topic("PROVIDER_ORDER_CREATE", order.connector, order.market.label, order.symbol)
        self.publish(topic, order)
        update_topic = market_topic("PROVIDER_ORDER_UPDATE", order.connector, order.market.label,
                                    order.symbol)
        try:
            try:
                update = await conn.session(order.market).orders.place(order)
            except OrderStatusUnknownError as unknown:
                update = await self._resolve_unknown(conn, order, unknown)
        except Exception as exc:
            if isinstance(exc, ExchangeError) and not isinstance(exc, OrderStatusUnknownError):
                exc = self._rejected(order, exc, update_topic)
            if isinstance(exc, OrderStatusUnknownError):
                # Still unknown: a retry with this id must ask the exchange again, not replay this answer.
                self.orders.pop(order.client_order_id, None)
            fut.set_exception(exc)
            fut.exception()  # retrieved: the caller gets it from the raise below
            raise exc from None
        self.publish(update_topic, update)
        result = to_builtins(update)
        fut.set_result(result)
        return result

    async def _resolve_unknown(self, conn, order: Order, unknown: OrderStatusUnknownError) -> OrderUpdate:
        """The exchange did not say whether it took the order (a timeout, a 5xx).
        Ask it by client order id; if it has no such order, send it again with
        the same id (the exchange refuses a duplicate). Never two orders."""
        orders = conn.session(order.market).orders
        self.counters["orders_unknown"] += 1
        self.log.warning("order %s: %s; asking the exchange by client order id", order.client_order_id, unknown)
        delay = UNKNOWN_FIRST_DELAY_S
        for _ in range(UNKNOWN_ATTEMPTS):
            await asyncio.sleep(delay)
            delay *= 2
            try:
                update = await orders.query(order.symbol, order.client_order_id)
                self.log.info("order %s was placed (%s)", order.client_order_id, update.status.name)
                return update
            except OrderStatusUnknownError:
                continue
            except ExchangeError as exc:
                if exc.code != ORDER_DOES_NOT_EXIST:
                    if exc.status == 0 or exc.status >= 500:
                        continue            # the exchange is still unsure or unreachable: ask again
                    raise
            try:
                self.counters["orders_resent"] += 1
                return await orders.place(order)
            except OrderStatusUnknownError:
                continue
            except ExchangeError as exc:
                if exc.code not in DUPLICATE_ORDER:
                    raise
                # the first one did land after all: the next query finds it
        raise unknown

    def _rejected(self, order: Order, exc: ExchangeError, topic: str) -> Rejected:
        """The refusal as the caller gets it: the exchange's own code and text
        in ``detail``; REJECTED on the bus for whoever saw ORDER_CREATE."""
        self.log.warning("order %s rejected: %s", order.client_order_id, exc)
        reason = f"{exc.code} {exc.message}" if exc.code is not None else exc.message
        self.publish(topic, OrderUpdate(order.client_order_id, "", order.connector, order.symbol,
                                        OrderStatus.REJECTED, 0, 0, order.price_prec, order.qty_prec, reason))
        return Rejected(str(exc), _exchange_error(exc, order.connector))

    async def _rpc_cancel(self, params: dict) -> dict:
        conn = self.connectors.get(params.get("connector", ""))
        if conn is None or "client_order_id" not in params:
            raise BadRequest("give connector, market, symbol and client_order_id")
        if not conn.ready:
            raise Refused(f"{conn.NAME} is not connected yet")
        try:
            update = await conn.session(_MARKETS[params["market"]]).orders.cancel(params["symbol"],
                                                                               params["client_order_id"])
        except ExchangeError as exc:
            if isinstance(exc, OrderStatusUnknownError):
                raise
            raise Rejected(str(exc), _exchange_error(exc, conn.NAME)) from None
        return to_builtins(update)


def _exchange_error(exc: ExchangeError, connector: str) -> dict:
    """The exchange's own error, as the RPC caller gets it in ``detail``."""
    return {"code": exc.code, "msg": exc.message, "status": exc.status, "endpoint": exc.endpoint,
            "connector": connector}

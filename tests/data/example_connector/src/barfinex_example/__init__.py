"""A third-party connector in one file: a scripted exchange that replays a fixed tape.

It shows the whole plugin contract: NAME and CATALOG, strict config, the
lifecycle, one MarketSession, subscriptions that return unsubscribe
callables, and an honest refusal of what it does not offer.
"""
from __future__ import annotations

import asyncio

from barfinex.connectors import (
    CatalogEntry, ConnectorConfigError, ConnectorError, Connector, MarketSession, StreamHealth,
)
from barfinex.model.enums import MarketType, Side, Timeframe
from barfinex.model.messages import Instrument, Trade

PRICE_PREC, QTY_PREC = 2, 3


class ExampleTimeframes:
    def to_exchange(self, timeframe, market):
        return Timeframe(timeframe).label

    def from_exchange(self, label):
        return Timeframe.parse(label)

    def supported(self, market):
        return (Timeframe.M1,)


class ExampleStreams:
    """Replays ``tape`` (price, qty, side) to trade subscribers, one entry per ``interval_s``."""

    def __init__(self, symbol: str, tape: list, interval_s: float) -> None:
        self.health = StreamHealth()
        self.symbol, self.tape, self.interval_s = symbol, tape, interval_s
        self.handlers: list = []
        self.task: asyncio.Task | None = None

    def subscribe_trades(self, symbol, handler, *, aggregated=False):
        if symbol != self.symbol:
            raise ConnectorConfigError(f"example: unknown symbol {symbol!r}")
        self.handlers.append(handler)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._play())
        return lambda: handler in self.handlers and self.handlers.remove(handler)

    async def _play(self) -> None:
        for trade_id, (price, qty, side) in enumerate(self.tape, 1):
            await asyncio.sleep(self.interval_s)
            msg = Trade("example", MarketType.SPOT, self.symbol, trade_id, price, qty,
                        PRICE_PREC, QTY_PREC, Side[side], 0)
            self.health.messages += 1
            for handler in list(self.handlers):
                handler(msg)

    def _not_offered(self, *args, **kwargs):
        raise ConnectorError("example: this stream is not offered (see CATALOG.features)")

    subscribe_book_diffs = subscribe_book_ticker = subscribe_candles = _not_offered
    subscribe_prices = subscribe_liquidations = subscribe_instruments = _not_offered
    subscribe_account = _not_offered


class ExampleMarketData:
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol

    async def instruments(self):
        return [Instrument("example", MarketType.SPOT, self.symbol, self.symbol[:-4], self.symbol[-4:],
                           PRICE_PREC, QTY_PREC, 1, 1, 1, 0)]

    async def depth_snapshot(self, symbol, limit=1000):
        raise ConnectorError("example: no order book")

    async def candles(self, symbol, timeframe, start_ns, end_ns=None):
        raise ConnectorError("example: no candle history")
        yield []    # an async generator, as the protocol requires

    async def prices(self):
        return []

    async def server_time_ns(self):
        import time
        return time.time_ns()


class _NoPrivateAPI:
    def __getattr__(self, name):
        raise ConnectorError("example: no account or order API")


class ExampleConnector(Connector):
    NAME = "example"
    CATALOG = CatalogEntry(name="example", display_name="Example Exchange", segment="other",
                           markets=(MarketType.SPOT,), features=frozenset({"trades", "instruments"}),
                           maturity="experimental")
    timeframes = ExampleTimeframes()

    def __init__(self, config=None, *, env=None, on_connection=None):
        super().__init__(config, env=env, on_connection=on_connection)
        config = dict(config or {})
        unknown = set(config) - {"symbol", "tape", "interval_s"}
        if unknown:
            raise ConnectorConfigError(f"example: unknown config keys {sorted(unknown)}")
        self.symbol = config.get("symbol", "DEMOUSDT")
        self.tape = config.get("tape", [])
        self.interval_s = float(config.get("interval_s", 0.01))
        self._session: MarketSession | None = None

    @property
    def markets(self):
        return (MarketType.SPOT,)

    def session(self, market):
        if self._session is None or market != MarketType.SPOT:
            raise ConnectorConfigError("example: start() first; spot only")
        return self._session

    async def start(self):
        streams = ExampleStreams(self.symbol, self.tape, self.interval_s)
        private = _NoPrivateAPI()
        self._session = MarketSession(MarketType.SPOT, streams, ExampleMarketData(self.symbol),
                                      private, private, private)
        self._ready.set()

    async def stop(self):
        if self._session is not None and self._session.streams.task is not None:
            self._session.streams.task.cancel()
        self._ready.clear()

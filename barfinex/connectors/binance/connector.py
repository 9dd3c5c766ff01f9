"""``BinanceConnector``: Binance spot and USD-M futures as one connector bundle."""
from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Callable, Mapping

from barfinex.model.enums import MarketType

from ..base.backoff import Backoff
from ..base.errors import ConnectorConfigError, ExchangeError
from ..base.protocols import (
    ERROR, ConnectionEvent, ConnectionState, Connector, MarketSession,
)
from ..catalog import CatalogEntry, CredentialField
from .adapters import BinanceAdapters
from .api import BinanceAccountAPI, BinanceMarketAPI, BinanceOrderAPI, InstrumentTable
from .config import PAPER_VENUE_API_KEY, PAPER_VENUE_API_SECRET, BinanceConfig
from .rest import BinanceRest
from .signing import Credentials
from .streams import BinanceStreams
from .timeframes import TIMEFRAMES

log = logging.getLogger("barfinex.connectors.binance")


class BinanceConnector(Connector):
    """Binance spot and USD-M futures: streams, market data, account and orders.

    Config keys and defaults: ``BinanceConfig``. Credentials come from the
    environment variables named by ``api_key_env``/``api_secret_env``; without
    them the public side works and private calls raise ``AuthError``.
    """

    NAME = "binance"
    CATALOG = CatalogEntry(
        name="binance", display_name="Binance", segment="crypto-cex",
        markets=(MarketType.SPOT, MarketType.USDM),
        credentials=(CredentialField("api_key", "API key", "BINANCE_API_KEY"),
                     CredentialField("api_secret", "API secret", "BINANCE_API_SECRET")),
        features=frozenset({"trades", "agg_trades", "book_diffs", "book_snapshot", "book_ticker",
                            "candles", "candle_history", "instruments", "prices", "mark_price",
                            "liquidations", "user_data", "account", "orders", "leverage", "testnet"}),
        maturity="beta", homepage="https://www.binance.com",
    )
    timeframes = TIMEFRAMES

    def __init__(self, config: Mapping[str, Any] | None = None, *,
                 env: Mapping[str, str] | None = None,
                 on_connection: Callable[[ConnectionEvent], Any] | None = None) -> None:
        super().__init__(config, env=env, on_connection=on_connection)
        self.config = BinanceConfig.from_mapping(config)
        env = os.environ if env is None else env
        self._credentials = Credentials.from_env(env, self.config.api_key_env, self.config.api_secret_env)
        if self._credentials is None and self.config.venue:
            self._credentials = Credentials(PAPER_VENUE_API_KEY, PAPER_VENUE_API_SECRET)
        self._sessions: dict[MarketType, MarketSession] = {}
        self._rest: dict[MarketType, BinanceRest] = {}
        self._tables: dict[MarketType, InstrumentTable] = {}
        self._tasks: list[asyncio.Task] = []

    def __repr__(self) -> str:
        markets = ",".join(m.name.lower() for m in self.markets)
        return f"BinanceConnector(markets={markets}, state={self.state.value}, credentials={self._credentials!r})"

    @property
    def markets(self) -> tuple[MarketType, ...]:
        return self.config.markets

    @property
    def has_credentials(self) -> bool:
        return self._credentials is not None

    def session(self, market: MarketType) -> MarketSession:
        try:
            return self._sessions[MarketType(market)]
        except KeyError:
            if MarketType(market) not in self.markets:
                raise ConnectorConfigError(f"binance: market {MarketType(market).name.lower()} is not "
                                           f"configured (markets: {[m.name.lower() for m in self.markets]})") from None
            raise ConnectorConfigError("binance: start() the connector before using a market") from None

    def rest(self, market: MarketType) -> BinanceRest:
        """The REST transport of ``market`` (limiter and time offset are readable there)."""
        return self._rest[MarketType(market)]

    def _build(self, market: MarketType) -> MarketSession:
        rest = BinanceRest(market, self.config, self._credentials)
        table = InstrumentTable()
        market_api = BinanceMarketAPI(rest, table)
        adapters = BinanceAdapters(market, table.precisions)
        streams = BinanceStreams(market, self.config, adapters, report=self._report, rest=rest,
                                 market_api=market_api)
        self._rest[market], self._tables[market] = rest, table
        return MarketSession(market, streams, market_api, BinanceAccountAPI(rest, table),
                             BinanceOrderAPI(rest, table), adapters)

    async def start(self) -> None:
        """Measure the clock offset and load instruments for every market; then ready.

        Raises the first ``ExchangeError`` if a market cannot be reached; the
        Provider decides whether to retry (it is its lifecycle).
        """
        if self.state not in (ConnectionState.INACTIVE, ConnectionState.ERROR):
            return
        self.state = ConnectionState.CONNECTING
        try:
            for market in self.markets:
                session = self._sessions.get(market) or self._build(market)
                self._sessions[market] = session
                await self._rest[market].sync_time()
                await session.market_data.instruments()
        except BaseException:
            self.state = ConnectionState.ERROR
            raise
        self._tasks.append(asyncio.get_running_loop().create_task(self._clock_sync(), name="binance-clock"))
        self.state = ConnectionState.ACTIVE
        self._ready.set()

    async def _clock_sync(self) -> None:
        """Keep the server-time offset fresh (signed requests fail outside recvWindow)."""
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s)
        while True:
            await asyncio.sleep(self.config.time_sync_interval_s)
            for market, rest in self._rest.items():
                try:
                    await rest.sync_time()
                    backoff.reset()
                except ExchangeError as exc:
                    self._report(ConnectionEvent(self.NAME, market, ERROR, "rest", (), (),
                                                 f"server time sync failed: {exc}", backoff.attempt,
                                                 time.time_ns()))
                    await asyncio.sleep(backoff.next_delay())

    async def stop(self) -> None:
        if self.state == ConnectionState.INACTIVE:
            return
        self.state = ConnectionState.STOPPING
        self._ready.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for market, session in self._sessions.items():
            await session.streams.close()
            await self._rest[market].close()
        self._sessions.clear()
        self._rest.clear()
        self.state = ConnectionState.INACTIVE

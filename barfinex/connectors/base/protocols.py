"""The connector plugin API: what every exchange connector provides the Provider.

A connector is one class (a ``Connector`` subclass) registered under the
entry-point group ``barfinex.connectors``. Per market it hands out a
``MarketSession`` bundling:

- ``streams``  (StreamManager): live data; every ``subscribe_*`` returns an
  unsubscribe callable and delivers normalised ``barfinex.model`` messages;
- ``market``   (MarketAPI): instruments, depth snapshots, candle history, prices;
- ``account``  (AccountAPI): balances, positions, leverage;
- ``orders``   (OrderAPI): place / cancel / query / open orders;
- ``adapters`` (Adapters): raw exchange payload -> normalised message.

and the connector itself owns the lifecycle (``start``/``stop``/``ready``),
the timeframe conversion (``timeframes``) and a ``CATALOG`` entry.

Everything is asyncio and runs on the Provider's event loop (uvloop). Handlers
are plain callables invoked on that loop, in arrival order; a handler that
raises is counted and logged and never stops the stream.
"""
from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import (
    Any, AsyncIterator, Callable, ClassVar, Mapping, Protocol, runtime_checkable,
)

import msgspec

from barfinex.model.enums import MarketType, Side, Timeframe
from barfinex.model.messages import (
    AccountEvent, BookDelta, Candle, Fill, Instrument, InstrumentPrice, Order,
    OrderUpdate, Position, TopOfBook, Trade,
)

from ..catalog import CatalogEntry
from .health import StreamHealth

Unsubscribe = Callable[[], None]
"""Calling it stops the subscription; calling it again does nothing."""


class ConnectionState(str, Enum):
    """Lifecycle of a connector (and of each of its markets)."""

    INACTIVE = "INACTIVE"
    CONNECTING = "CONNECTING"
    ACTIVE = "ACTIVE"
    RECONNECTING = "RECONNECTING"
    ERROR = "ERROR"
    STOPPING = "STOPPING"


# ConnectionEvent.kind values
CONNECTED = "connected"          # a stream connection is up (first time)
RESUBSCRIBED = "resubscribed"    # up again after a drop: resync books of `symbols`
DISCONNECTED = "disconnected"    # a stream connection dropped; reconnecting
SILENT = "silent"                # no message for silence_timeout_s; reconnecting
USER_STREAM_RENEWED = "user_stream_renewed"  # listen key expired/replaced: re-query orders
ERROR = "error"                  # something failed that the connector will retry


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    """Reported to the ``on_connection`` callback; the Provider publishes/acts on it.

    On ``RESUBSCRIBED`` (and ``DISCONNECTED``/``SILENT``) every depth stream in
    ``symbols`` has lost continuity: mark those books RESYNCING and restart
    their sync (``BookSync`` will ask for a snapshot once diffs flow again).
    """

    connector: str
    market: MarketType
    kind: str
    connection: str                 # which connection: "public-1", "user"
    symbols: tuple[str, ...]        # symbols with streams on this connection
    streams: tuple[str, ...]        # exchange stream names on this connection
    reason: str = ""
    attempt: int = 0                # reconnect attempt (0 for the first connect)
    ts_ns: int = 0                  # wall clock

    @staticmethod
    def now_ns() -> int:
        return time.time_ns()


class DepthDiff(msgspec.Struct, gc=False):
    """One depth-diff message, normalised, plus what the book sync needs.

    ``delta`` is what the bus carries: its levels are ``(price, size)`` int
    mantissas, parsed once by the adapter, and the order book applies those
    same ints (it never sees the exchange's strings again): pass
    ``sync_input()`` to ``BookSync.on_depth``. ``prev_update_id`` is Binance
    futures' ``pu`` (-1 on spot).
    """

    delta: BookDelta
    prev_update_id: int

    def sync_input(self) -> dict:
        """The depthUpdate shape ``barfinex.book.sync.BookSync.on_depth`` reads,
        with the delta's parsed levels as ``b``/``a``."""
        d = self.delta
        return {"s": d.symbol, "U": d.first_update_id, "u": d.last_update_id,
                "pu": self.prev_update_id, "b": d.bids, "a": d.asks}


class Liquidation(msgspec.Struct, gc=False):
    """A forced liquidation order reported by the exchange (Binance ``forceOrder``)."""

    connector: str
    market: MarketType
    symbol: str
    side: Side
    price: int
    avg_price: int
    qty: int
    filled_qty: int
    price_prec: int
    qty_prec: int
    status: str
    exch_ts_ns: int


UserEvent = OrderUpdate | Fill | AccountEvent | Position


@runtime_checkable
class StreamManager(Protocol):
    """Live streams of one market. Subscriptions survive reconnects."""

    health: StreamHealth

    def subscribe_trades(self, symbol: str, handler: Callable[[Trade], Any], *,
                         aggregated: bool = False) -> Unsubscribe: ...
    def subscribe_book_diffs(self, symbol: str, handler: Callable[[DepthDiff], Any]) -> Unsubscribe: ...
    def subscribe_book_ticker(self, symbol: str, handler: Callable[[TopOfBook], Any]) -> Unsubscribe: ...
    def subscribe_candles(self, symbol: str, timeframe: Timeframe,
                          handler: Callable[[Candle], Any]) -> Unsubscribe: ...
    def subscribe_prices(self, symbol: str, handler: Callable[[InstrumentPrice], Any]) -> Unsubscribe: ...
    def subscribe_liquidations(self, symbol: str, handler: Callable[[Liquidation], Any]) -> Unsubscribe: ...
    def subscribe_instruments(self, handler: Callable[[list[Instrument]], Any], *,
                              refresh_s: float = 3600.0) -> Unsubscribe: ...
    def subscribe_account(self, handler: Callable[[UserEvent], Any]) -> Unsubscribe: ...


@runtime_checkable
class MarketAPI(Protocol):
    """Public REST data of one market."""

    async def instruments(self) -> list[Instrument]: ...
    async def depth_snapshot(self, symbol: str, limit: int = 1000) -> dict: ...
    def candles(self, symbol: str, timeframe: Timeframe, start_ns: int,
                end_ns: int | None = None) -> AsyncIterator[list[Candle]]: ...
    async def prices(self) -> list[InstrumentPrice]: ...
    async def server_time_ns(self) -> int: ...


@runtime_checkable
class AccountAPI(Protocol):
    """Private account data of one market (needs credentials)."""

    async def balances(self) -> list[AccountEvent]: ...
    async def positions(self) -> list[Position]: ...
    async def set_leverage(self, symbol: str, leverage: int) -> int: ...


@runtime_checkable
class OrderAPI(Protocol):
    """Orders of one market (needs credentials). Client order ids are the idempotency keys."""

    async def place(self, order: Order) -> OrderUpdate: ...
    async def cancel(self, symbol: str, client_order_id: str) -> OrderUpdate: ...
    async def query(self, symbol: str, client_order_id: str) -> OrderUpdate: ...
    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]: ...


@runtime_checkable
class Adapters(Protocol):
    """Raw exchange payloads to normalised messages (no I/O)."""

    def normalise(self, stream: str, payload: bytes) -> Any: ...


@runtime_checkable
class TimeframeMap(Protocol):
    """Barfinex ``Timeframe`` <-> the exchange's interval labels."""

    def to_exchange(self, timeframe: Timeframe, market: MarketType) -> str: ...
    def from_exchange(self, label: str) -> Timeframe: ...
    def supported(self, market: MarketType) -> tuple[Timeframe, ...]: ...


@dataclass(frozen=True)
class MarketSession:
    """Everything a connector offers for one market."""

    market: MarketType
    streams: StreamManager
    market_data: MarketAPI
    account: AccountAPI
    orders: OrderAPI
    adapters: Adapters


class Connector(ABC):
    """Base class of every connector. Subclasses declare ``NAME`` and ``CATALOG``.

    Construct with the connector's config mapping (strictly validated: unknown
    keys are errors) and optionally ``env`` (where credentials are read from;
    ``os.environ`` by default) and ``on_connection`` (ConnectionEvent callback).
    """

    NAME: ClassVar[str]
    CATALOG: ClassVar[CatalogEntry]
    timeframes: TimeframeMap

    def __init__(self, config: Mapping[str, Any] | None = None, *,
                 env: Mapping[str, str] | None = None,
                 on_connection: Callable[[ConnectionEvent], Any] | None = None) -> None:
        self.on_connection = on_connection
        self._ready = asyncio.Event()
        self.state = ConnectionState.INACTIVE

    @property
    @abstractmethod
    def markets(self) -> tuple[MarketType, ...]:
        """The markets this instance was configured for."""

    @abstractmethod
    def session(self, market: MarketType) -> MarketSession:
        """The bundle for ``market``; ``ConnectorConfigError`` if not configured."""

    @abstractmethod
    async def start(self) -> None:
        """Connect, sync the clock, load instruments. Returns once ready, raises if it cannot be."""

    @abstractmethod
    async def stop(self) -> None:
        """Close every connection and background task. Idempotent."""

    @property
    def ready(self) -> bool:
        """True while the connector may be used for orders (connected, instruments loaded)."""
        return self._ready.is_set()

    async def wait_ready(self, timeout: float) -> None:
        """Wait until ``ready``; ``TimeoutError`` after ``timeout`` seconds."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    def _report(self, event: ConnectionEvent) -> None:
        if self.on_connection is not None:
            try:
                self.on_connection(event)
            except Exception:       # the callback is the Provider's; never let it kill a stream
                import logging
                logging.getLogger("barfinex.connectors").exception(
                    "%s: on_connection callback raised for %s", self.NAME, event.kind)

    async def __aenter__(self) -> "Connector":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

"""One typed struct per payload. MessagePack on the wire (msgspec, array-like:
fields by position, so a trade costs ~55 bytes and ~0.5 us to encode+decode).

Prices and sizes are int64 fixed point: ``value = mantissa / 10**prec`` with the
instrument's precision carried beside them. Timestamps are int64 nanoseconds.

Compatibility: a struct only ever gains fields at the end, with defaults, so an
older decoder reads a newer message; the header's version field guards the
frame layout itself.
"""
from __future__ import annotations

from typing import Any

import msgspec

from .enums import (
    ActorState, BookStatus, Direction, MarketType, OrderStatus, OrderType,
    RiskSeverity, Side, TimeInForce,
)

_BY_ID: dict[int, type["Message"]] = {}


class Message(msgspec.Struct, array_like=True, omit_defaults=False):
    """Base of every bus payload. Subclasses set TYPE_ID via ``register``."""

    TYPE_ID = 0


def register(type_id: int):
    def wrap(cls: type[Message]) -> type[Message]:
        if type_id in _BY_ID:
            raise ValueError(f"type id {type_id} used by {_BY_ID[type_id].__name__} and {cls.__name__}")
        cls.TYPE_ID = type_id
        _BY_ID[type_id] = cls
        return cls
    return wrap


def message_type(type_id: int) -> type[Message] | None:
    return _BY_ID.get(type_id)


def all_message_types() -> dict[int, type[Message]]:
    return dict(_BY_ID)


# ---------------------------------------------------------------- market data
@register(1)
class Trade(Message):
    connector: str
    market: MarketType
    symbol: str
    trade_id: int
    price: int            # fixed point, price_prec decimals
    qty: int              # fixed point, qty_prec decimals
    price_prec: int
    qty_prec: int
    taker_side: Side      # the aggressor
    exch_ts_ns: int


@register(2)
class BookLevel(Message):
    price: int
    qty: int              # 0 deletes the level


@register(3)
class BookDelta(Message):
    connector: str
    market: MarketType
    symbol: str
    first_update_id: int
    last_update_id: int
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    price_prec: int
    qty_prec: int
    exch_ts_ns: int


@register(4)
class TopOfBook(Message):
    connector: str
    market: MarketType
    symbol: str
    update_id: int
    bid_price: int
    bid_qty: int
    ask_price: int
    ask_qty: int
    price_prec: int
    qty_prec: int
    exch_ts_ns: int


@register(5)
class BookSnapshot(Message):
    connector: str
    market: MarketType
    symbol: str
    last_update_id: int
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    price_prec: int
    qty_prec: int
    bus_seq: int          # the MARKETDATA_ORDERBOOK sequence this snapshot includes


@register(6)
class BookState(Message):
    connector: str
    market: MarketType
    symbol: str
    status: BookStatus
    reason: str = ""


@register(7)
class Candle(Message):
    connector: str
    market: MarketType
    symbol: str
    timeframe_s: int
    open_ns: int
    close_ns: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int     # fixed point, price_prec + qty_prec decimals
    count: int
    taker_buy_volume: int
    taker_buy_quote_volume: int
    price_prec: int
    qty_prec: int
    closed: bool = True


@register(8)
class Instrument(Message):
    connector: str
    market: MarketType
    symbol: str
    base: str
    quote: str
    price_prec: int
    qty_prec: int
    tick_size: int        # fixed point, price_prec
    step_size: int        # fixed point, qty_prec
    min_qty: int
    min_notional: int
    status: str = "TRADING"


@register(9)
class InstrumentPrice(Message):
    connector: str
    market: MarketType
    symbol: str
    price: int
    price_prec: int
    mark_price: int = 0
    funding_rate_e8: int = 0


# --------------------------------------------------------------------- orders
@register(20)
class Order(Message):
    client_order_id: str  # idempotency key: a retried order is never placed twice
    connector: str
    market: MarketType
    symbol: str
    side: Side
    type: OrderType
    qty: int
    qty_prec: int
    price: int = 0
    stop_price: int = 0
    price_prec: int = 0
    tif: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    strategy: str = ""
    causation_id: bytes = b""


@register(21)
class OrderUpdate(Message):
    client_order_id: str
    exchange_order_id: str
    connector: str
    symbol: str
    status: OrderStatus
    filled_qty: int
    avg_price: int
    price_prec: int
    qty_prec: int
    reason: str = ""
    exch_ts_ns: int = 0


@register(22)
class Fill(Message):
    client_order_id: str
    exchange_order_id: str
    trade_id: int
    connector: str
    symbol: str
    side: Side
    price: int
    qty: int
    price_prec: int
    qty_prec: int
    fee: int
    fee_asset: str
    fee_prec: int
    is_maker: bool
    exch_ts_ns: int


@register(23)
class Position(Message):
    connector: str
    market: MarketType
    symbol: str
    direction: Direction
    qty: int
    entry_price: int
    price_prec: int
    qty_prec: int
    stop_price: int = 0
    stop_order_id: str = ""
    unrealized_pnl: float = 0.0
    strategy: str = ""


@register(24)
class AccountEvent(Message):
    connector: str
    kind: str             # balance, margin, listen-key expiry...
    asset: str
    free: float
    locked: float


# ------------------------------------------------------------------- decisions
@register(45)
class RuleTerm(Message):
    """One operand of a rule's condition as it was when the rule fired."""
    text: str             # as the author wrote it: "ema(close, 20)"
    value: float


@register(40)
class RuleHit(Message):
    rule: str
    direction: Direction
    weight: float
    value: float          # the first term's value (the left side of the first comparison)
    terms: list[RuleTerm] = []


@register(41)
class Signal(Message):
    signal_id: str
    strategy: str
    connector: str
    market: MarketType
    symbol: str
    timeframe_s: int
    direction: Direction
    score: float
    rules: list[RuleHit]
    price: float
    stop_price: float
    targets: list[float]
    bar_open_ns: int
    threshold: float = 0.0        # the score the strategy asks for
    max_score: float = 0.0        # the score if every rule of that direction fired
    trigger: str = "bar"          # what the evaluation ran on: bar, book, trade
    strategy_version: str = ""    # hash of the strategy file that produced it


@register(42)
class Decision(Message):
    signal_id: str
    approved: bool
    direction: Direction
    confidence: float
    regime: str
    reasons: list[str]
    stages_ns: list[int]  # time spent in each pipeline stage


@register(43)
class ExecutionIntent(Message):
    intent_id: str
    signal_id: str
    strategy: str
    connector: str
    market: MarketType
    symbol: str
    direction: Direction
    entry_price: float
    stop_price: float
    targets: list[float]
    confidence: float


@register(44)
class RiskEvent(Message):
    kind: str             # limit name, kill switch, gap...
    severity: RiskSeverity
    scope: str            # global, strategy:NAME, symbol:SYMBOL
    message: str
    value: float = 0.0
    limit: float = 0.0


# -------------------------------------------------------------------- runtime
@register(60)
class Heartbeat(Message):
    actor: str
    kind: str
    state: ActorState
    pid: int
    host: str
    started_ns: int       # wall clock, for display
    uptime_ns: int        # monotonic
    msgs_in: int
    msgs_out: int
    gaps: int
    bad_frames: int
    interval_ms: int


@register(61)
class BusGap(Message):
    """A subscriber saw a sequence jump: ``missing`` messages never arrived."""

    source: str
    topic: str
    expected_seq: int
    got_seq: int
    missing: int


@register(62)
class ActorStatus(Message):
    actor: str
    kind: str
    state: ActorState
    pid: int
    host: str
    uptime_s: float
    heartbeat_age_s: float  # -1 when unknown
    msgs_in: int
    msgs_out: int
    gaps: int
    bad_frames: int
    restarts: int = 0
    detail: str = ""
    # Actor-specific counters by section, e.g. the Provider's
    # {"streams": {"binance.usdm": {...}}, "books": {"binance.usdm.BTCUSDT": {...}}}.
    health: dict[str, Any] = msgspec.field(default_factory=dict)

"""Binance payloads -> normalised ``barfinex.model`` messages.

Hot streams (trade, aggTrade, depth, bookTicker) decode straight from the
combined-stream frame bytes into typed msgspec structs that declare only the
fields we read (msgspec skips the rest without building them); prices and
sizes become int64 fixed point at the instrument's precision with the
compiled ``parse_fixed``. A string with non-zero digits finer than the tick,
a missing field or a non-numeric price raises ``msgspec.ValidationError`` /
``ValueError``: the stream manager counts it against the stream, drops that
one message and carries on.

User-data events are rare, so they go through a plain dict decode.
"""
from __future__ import annotations

from typing import Any, Callable

import msgspec

from barfinex.model.enums import Direction, MarketType, OrderStatus, OrderType, Side, TimeInForce
from barfinex.model.messages import (
    AccountEvent, BookDelta, Candle, Fill, InstrumentPrice, OrderUpdate, Position, TopOfBook, Trade,
)

from ..base.protocols import DepthDiff, Liquidation
from .instruments import parse_fixed, parse_levels
from .timeframes import TIMEFRAMES

CONNECTOR = "binance"
MS = 1_000_000
FEE_PREC = 8          # Binance writes commissions with 8 decimals


# ------------------------------------------------------------- typed payloads
class TradeMsg(msgspec.Struct, gc=False):
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool


class AggTradeMsg(msgspec.Struct, gc=False):
    s: str
    a: int
    p: str
    q: str
    T: int
    m: bool


class DepthMsg(msgspec.Struct, gc=False):
    E: int
    s: str
    U: int
    u: int
    b: list[list[str]]
    a: list[list[str]]
    pu: int = -1          # USD-M only: the previous message's u


class BookTickerMsg(msgspec.Struct, gc=False):
    u: int
    s: str
    b: str
    B: str
    a: str
    A: str
    E: int = 0            # USD-M only; spot bookTicker carries no time


class KlineBody(msgspec.Struct, gc=False):
    t: int
    T: int
    i: str
    o: str
    c: str
    h: str
    l: str  # noqa: E741  (Binance's field name)
    v: str
    n: int
    x: bool
    q: str
    V: str
    Q: str


class KlineMsg(msgspec.Struct, gc=False):
    E: int
    s: str
    k: KlineBody


class MarkPriceMsg(msgspec.Struct, gc=False):
    E: int
    s: str
    p: str
    r: str = ""           # funding rate: empty for delivery contracts


class MiniTickerMsg(msgspec.Struct, gc=False):
    E: int
    s: str
    c: str


class ForceOrderBody(msgspec.Struct, gc=False):
    s: str
    S: str
    p: str
    ap: str
    q: str
    z: str
    X: str
    T: int


class ForceOrderMsg(msgspec.Struct, gc=False):
    E: int
    o: ForceOrderBody


def parse_rounded(text: str, prec: int) -> int:
    """``text`` at ``prec`` decimals, rounding half away from zero where it is finer.

    For values Binance computes rather than matches (mark price, average
    price, funding rate), which carry more decimals than the tick.
    """
    try:
        return parse_fixed(text, prec)
    except ValueError:
        pass
    neg = text.startswith("-")
    whole, _, frac = text.lstrip("+-").partition(".")
    if not (whole + frac).isdigit():
        raise ValueError(f"not a decimal: {text!r}")
    value = int((whole or "0") + frac[:prec].ljust(prec, "0"))
    if frac[prec:prec + 1] >= "5":
        value += 1
    return -value if neg else value


# ------------------------------------------------------------- normalisers
# Each takes the decoded payload, the market and the symbol's precisions.

def trade(d: TradeMsg, market: MarketType, pp: int, qp: int) -> Trade:
    return Trade(CONNECTOR, market, d.s, d.t, parse_fixed(d.p, pp), parse_fixed(d.q, qp), pp, qp,
                 Side.SELL if d.m else Side.BUY, d.T * MS)


def agg_trade(d: AggTradeMsg, market: MarketType, pp: int, qp: int) -> Trade:
    return Trade(CONNECTOR, market, d.s, d.a, parse_fixed(d.p, pp), parse_fixed(d.q, qp), pp, qp,
                 Side.SELL if d.m else Side.BUY, d.T * MS)


def depth(d: DepthMsg, market: MarketType, pp: int, qp: int) -> DepthDiff:
    # One compiled call per side: per-level Python calls were 3 of the 6 us.
    # The only parse of these levels: the book applies the same int tuples.
    bids = parse_levels(d.b, pp, qp)
    asks = parse_levels(d.a, pp, qp)
    return DepthDiff(BookDelta(CONNECTOR, market, d.s, d.U, d.u, bids, asks, pp, qp, d.E * MS), d.pu)


def book_ticker(d: BookTickerMsg, market: MarketType, pp: int, qp: int) -> TopOfBook:
    return TopOfBook(CONNECTOR, market, d.s, d.u, parse_fixed(d.b, pp), parse_fixed(d.B, qp),
                     parse_fixed(d.a, pp), parse_fixed(d.A, qp), pp, qp, d.E * MS)


def kline(d: KlineMsg, market: MarketType, pp: int, qp: int) -> Candle:
    k = d.k
    vp = pp + qp
    return Candle(CONNECTOR, market, d.s, int(TIMEFRAMES.from_exchange(k.i)), k.t * MS, k.T * MS,
                  parse_fixed(k.o, pp), parse_fixed(k.h, pp), parse_fixed(k.l, pp),
                  parse_fixed(k.c, pp), parse_fixed(k.v, qp), parse_rounded(k.q, vp), k.n,
                  parse_fixed(k.V, qp), parse_rounded(k.Q, vp), pp, qp, k.x)


def mark_price(d: MarkPriceMsg, market: MarketType, pp: int, qp: int) -> InstrumentPrice:
    mark = parse_rounded(d.p, pp)
    funding = parse_rounded(d.r, 8) if d.r else 0
    return InstrumentPrice(CONNECTOR, market, d.s, mark, pp, mark, funding)


def mini_ticker(d: MiniTickerMsg, market: MarketType, pp: int, qp: int) -> InstrumentPrice:
    return InstrumentPrice(CONNECTOR, market, d.s, parse_fixed(d.c, pp), pp)


def force_order(d: ForceOrderMsg, market: MarketType, pp: int, qp: int) -> Liquidation:
    o = d.o
    return Liquidation(CONNECTOR, market, o.s, Side[o.S], parse_rounded(o.p, pp),
                       parse_rounded(o.ap, pp), parse_fixed(o.q, qp), parse_fixed(o.z, qp),
                       pp, qp, o.X, o.T * MS)


class StreamKind(msgspec.Struct, frozen=True):
    """How one kind of stream is decoded and normalised."""

    name: str
    payload: type
    normalise: Callable[[Any, MarketType, int, int], Any]
    markets: tuple[MarketType, ...] = (MarketType.SPOT, MarketType.USDM)


_BOTH = (MarketType.SPOT, MarketType.USDM)
KINDS: dict[str, StreamKind] = {k.name: k for k in (
    StreamKind("trade", TradeMsg, trade),
    StreamKind("aggTrade", AggTradeMsg, agg_trade),
    StreamKind("depth", DepthMsg, depth),
    StreamKind("bookTicker", BookTickerMsg, book_ticker),
    StreamKind("kline", KlineMsg, kline),
    StreamKind("markPrice", MarkPriceMsg, mark_price, (MarketType.USDM,)),
    StreamKind("miniTicker", MiniTickerMsg, mini_ticker),
    StreamKind("forceOrder", ForceOrderMsg, force_order, (MarketType.USDM,)),
)}


def kind_of(stream: str) -> str:
    """'btcusdt@depth@100ms' -> 'depth', 'btcusdt@kline_1m' -> 'kline'."""
    _, _, rest = stream.partition("@")
    return rest.split("@", 1)[0].split("_", 1)[0]


def envelope_type(payload: type) -> type:
    """The combined-stream wrapper ``{"stream": ..., "data": payload}`` as a typed struct."""
    return msgspec.defstruct(f"Combined{payload.__name__}", [("stream", str), ("data", payload)],
                             gc=False)


class BinanceAdapters:
    """The ``Adapters`` of one Binance market: combined-stream frame bytes -> message.

    ``precisions`` maps symbol -> (price_prec, qty_prec) and is shared with
    (and refreshed by) the connector when instruments load.
    """

    def __init__(self, market: MarketType, precisions: dict[str, tuple[int, int]]) -> None:
        self.market = market
        self.precisions = precisions
        self._decoders = {name: msgspec.json.Decoder(envelope_type(k.payload)) for name, k in KINDS.items()}

    def decoder(self, kind: str) -> msgspec.json.Decoder:
        return self._decoders[kind]

    def normalise(self, stream: str, payload: bytes) -> Any:
        """Decode one combined-stream frame of ``stream``; raises on malformed input."""
        kind = KINDS.get(kind_of(stream))
        if kind is None or self.market not in kind.markets:
            raise ValueError(f"binance {self.market.name.lower()}: no adapter for stream {stream!r}")
        env = self._decoders[kind.name].decode(payload)
        symbol = stream.partition("@")[0].upper()
        pp, qp = self.precisions[symbol]
        return kind.normalise(env.data, self.market, pp, qp)


# ------------------------------------------------------------- user data
_STATUS = {
    "NEW": OrderStatus.NEW, "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED, "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.NEW, "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED, "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
    "NEW_INSURANCE": OrderStatus.NEW, "NEW_ADL": OrderStatus.NEW,
}
ORDER_TYPES = {OrderType.MARKET: "MARKET", OrderType.LIMIT: "LIMIT",
               OrderType.STOP_MARKET: "STOP_MARKET",
               OrderType.TAKE_PROFIT_MARKET: "TAKE_PROFIT_MARKET"}
TIME_IN_FORCE = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}


def order_status(text: str) -> OrderStatus:
    try:
        return _STATUS[text]
    except KeyError:
        raise ValueError(f"unknown Binance order status {text!r}") from None


def _avg_price(quote: str, qty: int, pp: int, qp: int) -> int:
    if qty <= 0 or not quote:
        return 0
    return parse_rounded(quote, pp + qp) // qty


def order_update_from_rest(body: dict[str, Any], pp: int, qp: int) -> OrderUpdate:
    """A REST order (new/cancel/query/openOrders item, spot or USD-M) -> OrderUpdate."""
    filled = parse_fixed(body["executedQty"], qp)
    if body.get("avgPrice"):                          # USD-M
        avg = parse_rounded(body["avgPrice"], pp)
    else:                                             # spot: Binance spells it "cummulative"
        avg = _avg_price(body.get("cummulativeQuoteQty", ""), filled, pp, qp)
    ts = body.get("updateTime") or body.get("transactTime") or body.get("time") or 0
    return OrderUpdate(body["clientOrderId"], str(body["orderId"]), CONNECTOR, body["symbol"],
                       order_status(body["status"]), filled, avg, pp, qp, "", int(ts) * MS)


def user_event(data: dict[str, Any], market: MarketType,
               precisions: dict[str, tuple[int, int]]) -> list[Any]:
    """One user-data-stream event -> normalised messages (possibly none).

    Spot: executionReport, outboundAccountPosition, balanceUpdate. USD-M:
    ORDER_TRADE_UPDATE, ACCOUNT_UPDATE, MARGIN_CALL. ``listenKeyExpired`` is
    handled by the stream manager before this is called.
    """
    event = data["e"]
    if event == "executionReport":
        return _execution(data, data, precisions, spot=True)
    if event == "ORDER_TRADE_UPDATE":
        return _execution(data["o"], data, precisions, spot=False)
    if event == "outboundAccountPosition":
        return [AccountEvent(CONNECTOR, "balance", b["a"], float(b["f"]), float(b["l"]))
                for b in data["B"]]
    if event == "balanceUpdate":
        return [AccountEvent(CONNECTOR, "balance_delta", data["a"], float(data["d"]), 0.0)]
    if event == "ACCOUNT_UPDATE":
        acct = data["a"]
        out: list[Any] = [AccountEvent(CONNECTOR, "wallet", b["a"], float(b["cw"]),
                                       float(b["wb"]) - float(b["cw"])) for b in acct.get("B", ())]
        for p in acct.get("P", ()):
            pp, qp = precisions[p["s"]]
            amount = parse_fixed(p["pa"], qp)
            direction = Direction.LONG if amount > 0 else Direction.SHORT if amount < 0 else Direction.FLAT
            out.append(Position(CONNECTOR, market, p["s"], direction, abs(amount),
                                parse_rounded(p["ep"], pp), pp, qp,
                                unrealized_pnl=float(p.get("up", 0) or 0)))
        return out
    if event == "MARGIN_CALL":
        return [AccountEvent(CONNECTOR, "margin_call", p.get("s", ""), float(p.get("up", 0) or 0),
                             float(p.get("mm", 0) or 0)) for p in data.get("p", ())]
    return []


def _execution(o: dict[str, Any], top: dict[str, Any],
               precisions: dict[str, tuple[int, int]], spot: bool) -> list[Any]:
    symbol = o["s"]
    pp, qp = precisions[symbol]
    status = order_status(o["X"])
    # A spot cancel reports the cancel request's own id in "c" and the order's in "C".
    client_id = o.get("C") if spot and status == OrderStatus.CANCELED and o.get("C") else o["c"]
    filled = parse_fixed(o["z"], qp)
    avg = _avg_price(o.get("Z", ""), filled, pp, qp) if spot else parse_rounded(o.get("ap", "0"), pp)
    ts = int(o.get("T") or top.get("E") or 0) * MS
    reason = o.get("r", "") if spot and o.get("r") not in (None, "NONE") else ""
    out: list[Any] = [OrderUpdate(client_id, str(o["i"]), CONNECTOR, symbol, status, filled, avg,
                                  pp, qp, reason, ts)]
    if o.get("x") == "TRADE":
        out.append(Fill(client_id, str(o["i"]), int(o["t"]), CONNECTOR, symbol, Side[o["S"]],
                        parse_fixed(o["L"], pp), parse_fixed(o["l"], qp), pp, qp,
                        parse_rounded(o.get("n") or "0", FEE_PREC), o.get("N") or "", FEE_PREC,
                        bool(o.get("m")), ts))
    return out

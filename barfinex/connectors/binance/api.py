"""Binance REST APIs of one market: market data, account, orders."""
from __future__ import annotations

from typing import Any, AsyncIterator

from barfinex.model.enums import Direction, MarketType, OrderType, Side, Timeframe
from barfinex.model.messages import (
    AccountEvent, Candle, Instrument, InstrumentPrice, Order, OrderUpdate, Position,
)

from ..base.errors import ConnectorConfigError, ExchangeError, OrderRejectedError
from .adapters import ORDER_TYPES, TIME_IN_FORCE, order_update_from_rest, parse_rounded
from .instruments import (
    check_order_size, format_fixed, instruments_from_exchange_info, parse_fixed, round_price,
    round_qty,
)
from .rest import BinanceRest, depth_weight, klines_weight
from .timeframes import TIMEFRAMES

CONNECTOR = "binance"
MS = 1_000_000
INVALID_SYMBOL = -1121      # Binance's code for it: the same whether we or the exchange refuse


class InstrumentTable:
    """The instruments of one market, shared by the APIs, adapters and streams."""

    def __init__(self) -> None:
        self.by_symbol: dict[str, Instrument] = {}
        self.precisions: dict[str, tuple[int, int]] = {}   # symbol -> (price_prec, qty_prec)
        self.errors: list[str] = []

    def update(self, instruments: list[Instrument]) -> None:
        for inst in instruments:
            self.by_symbol[inst.symbol] = inst
            self.precisions[inst.symbol] = (inst.price_prec, inst.qty_prec)

    def get(self, symbol: str, endpoint: str = "") -> Instrument:
        try:
            return self.by_symbol[symbol]
        except KeyError:
            raise ConnectorConfigError(f"binance: unknown symbol {symbol!r}"
                                       f"{' for ' + endpoint if endpoint else ''}") from None


class BinanceMarketAPI:
    """``MarketAPI``: instruments, depth snapshots, kline history, prices, server time."""

    def __init__(self, rest: BinanceRest, table: InstrumentTable) -> None:
        self.rest = rest
        self.market = rest.market
        self.table = table

    async def instruments(self) -> list[Instrument]:
        """Every symbol of exchangeInfo as an Instrument; also adopts the published weight limit."""
        body = await self.rest.request("GET", self.rest.paths.exchange_info,
                                       weight=20 if self.market == MarketType.SPOT else 1)
        for limit in body.get("rateLimits", ()):
            if limit.get("rateLimitType") == "REQUEST_WEIGHT" and limit.get("interval") == "MINUTE":
                self.rest.limiter.set_limit(int(limit["limit"]), 60.0 * int(limit.get("intervalNum", 1)))
        errors: list[str] = []
        instruments = instruments_from_exchange_info(body, self.market, errors)
        self.table.errors = errors
        self.table.update(instruments)
        return instruments

    async def depth_snapshot(self, symbol: str, limit: int = 1000) -> dict:
        """The REST depth body ``{"lastUpdateId", "bids", "asks"}``, as ``BookSync.on_snapshot`` takes it."""
        body = await self.rest.request("GET", self.rest.paths.depth,
                                       {"symbol": symbol.upper(), "limit": limit},
                                       weight=depth_weight(self.market, limit))
        if not isinstance(body, dict) or "lastUpdateId" not in body:
            raise ExchangeError(f"binance {self.market.name.lower()}", f"GET {self.rest.paths.depth}",
                                200, None, "depth snapshot without lastUpdateId")
        return body

    async def candles(self, symbol: str, timeframe: Timeframe, start_ns: int,
                      end_ns: int | None = None) -> AsyncIterator[list[Candle]]:
        """Kline history from ``start_ns`` (to ``end_ns`` or now), one page per yield.

        Pages follow each other by open time (the next page starts one bar
        after the last bar received) until a short page or ``end_ns``. The
        bar still forming is marked ``closed=False``.
        """
        symbol = symbol.upper()
        inst = self.table.get(symbol, "klines")
        interval = TIMEFRAMES.to_exchange(timeframe, self.market)
        bar_ms = int(Timeframe(timeframe)) * 1000
        limit = self.rest.paths.kline_limit
        cursor = start_ns // MS
        end_ms = end_ns // MS if end_ns is not None else None
        while True:
            params: dict[str, Any] = {"symbol": symbol, "interval": interval, "startTime": cursor,
                                      "limit": limit}
            if end_ms is not None:
                params["endTime"] = end_ms
            rows = await self.rest.request("GET", self.rest.paths.klines, params,
                                           weight=klines_weight(self.market, limit))
            if not rows:
                return
            now_ms = self.rest.timestamp_ms()
            yield [self._candle(symbol, inst, int(timeframe), row, now_ms) for row in rows]
            cursor = int(rows[-1][0]) + bar_ms
            if len(rows) < limit or (end_ms is not None and cursor > end_ms):
                return

    def _candle(self, symbol: str, inst: Instrument, tf_s: int, row: list, now_ms: int) -> Candle:
        pp, qp = inst.price_prec, inst.qty_prec
        return Candle(CONNECTOR, self.market, symbol, tf_s, int(row[0]) * MS, int(row[6]) * MS,
                      parse_fixed(row[1], pp), parse_fixed(row[2], pp), parse_fixed(row[3], pp),
                      parse_fixed(row[4], pp), parse_fixed(row[5], qp), parse_rounded(row[7], pp + qp),
                      int(row[8]), parse_fixed(row[9], qp), parse_rounded(row[10], pp + qp), pp, qp,
                      int(row[6]) < now_ms)

    async def prices(self) -> list[InstrumentPrice]:
        """Last price of every known symbol."""
        rows = await self.rest.request("GET", self.rest.paths.ticker_price,
                                       weight=4 if self.market == MarketType.SPOT else 2)
        out = []
        for row in rows:
            inst = self.table.by_symbol.get(row.get("symbol", ""))
            if inst is not None:
                out.append(InstrumentPrice(CONNECTOR, self.market, inst.symbol,
                                           parse_rounded(row["price"], inst.price_prec), inst.price_prec))
        return out

    async def server_time_ns(self) -> int:
        body = await self.rest.request("GET", self.rest.paths.time, weight=1)
        return int(body["serverTime"]) * MS


class BinanceAccountAPI:
    """``AccountAPI``: balances, positions (USD-M), leverage (USD-M)."""

    def __init__(self, rest: BinanceRest, table: InstrumentTable) -> None:
        self.rest = rest
        self.market = rest.market
        self.table = table

    async def _account(self) -> dict:
        return await self.rest.request("GET", self.rest.paths.account, signed=True,
                                       weight=20 if self.market == MarketType.SPOT else 5)

    async def balances(self) -> list[AccountEvent]:
        body = await self._account()
        if self.market == MarketType.SPOT:
            return [AccountEvent(CONNECTOR, "balance", b["asset"], float(b["free"]), float(b["locked"]))
                    for b in body.get("balances", ()) if float(b["free"]) or float(b["locked"])]
        return [AccountEvent(CONNECTOR, "wallet", a["asset"], float(a["availableBalance"]),
                             float(a["walletBalance"]) - float(a["availableBalance"]))
                for a in body.get("assets", ()) if float(a.get("walletBalance", 0))]

    async def positions(self) -> list[Position]:
        """Open USD-M positions (spot holds balances, not positions: empty there)."""
        if self.market == MarketType.SPOT:
            return []
        rows = await self.rest.request("GET", self.rest.paths.position_risk, signed=True, weight=5)
        out = []
        for p in rows:
            inst = self.table.by_symbol.get(p.get("symbol", ""))
            if inst is None:
                continue
            amount = parse_fixed(p["positionAmt"], inst.qty_prec)
            if amount == 0:
                continue
            out.append(Position(CONNECTOR, self.market, inst.symbol,
                                Direction.LONG if amount > 0 else Direction.SHORT, abs(amount),
                                parse_rounded(p["entryPrice"], inst.price_prec), inst.price_prec,
                                inst.qty_prec, unrealized_pnl=float(p.get("unRealizedProfit", 0) or 0)))
        return out

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        """Set initial leverage (USD-M); returns what the exchange applied."""
        if self.market == MarketType.SPOT:
            raise ConnectorConfigError("binance spot has no leverage")
        if not isinstance(leverage, int) or not 1 <= leverage <= 125:
            raise ConnectorConfigError(f"binance leverage must be an int within 1..125, got {leverage!r}")
        body = await self.rest.request("POST", self.rest.paths.leverage,
                                       {"symbol": symbol.upper(), "leverage": leverage},
                                       signed=True, weight=1)
        return int(body["leverage"])


class BinanceOrderAPI:
    """``OrderAPI``: place, cancel, query, list open orders. Client order ids are idempotency keys."""

    def __init__(self, rest: BinanceRest, table: InstrumentTable) -> None:
        self.rest = rest
        self.market = rest.market
        self.table = table

    def order_params(self, order: Order) -> dict[str, Any]:
        """The exchange parameters of ``order``, rounded to the instrument's tick and step.

        Raises ``OrderRejectedError`` for what Binance would refuse anyway
        (below the minimum quantity or notional, a stop type on spot) without
        spending a request.
        """
        endpoint = f"POST {self.rest.paths.order}"
        inst = self.table.by_symbol.get(order.symbol)
        if inst is None:
            raise OrderRejectedError(CONNECTOR, endpoint, 0, INVALID_SYMBOL,
                                     f"Invalid symbol: {order.symbol!r} is not in binance "
                                     f"{self.market.name.lower()} exchangeInfo")
        qty = round_qty(inst, order.qty, order.qty_prec)
        params: dict[str, Any] = {"symbol": inst.symbol, "side": Side(order.side).name,
                                  "type": ORDER_TYPES[OrderType(order.type)]}
        price = 0
        if order.type == OrderType.LIMIT:
            if order.price <= 0:
                raise OrderRejectedError(CONNECTOR, endpoint, 0, None, f"{inst.symbol}: a LIMIT order needs a price")
            price = round_price(inst, order.price, order.price_prec, order.side)
            params["timeInForce"] = TIME_IN_FORCE[order.tif]
        check_order_size(inst, qty, price, endpoint=endpoint)
        params["quantity"] = format_fixed(qty, inst.qty_prec)
        if price:
            params["price"] = format_fixed(price, inst.price_prec)
        if order.type in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET):
            if self.market == MarketType.SPOT:
                raise OrderRejectedError(CONNECTOR, endpoint, 0, None,
                                         f"{inst.symbol}: {OrderType(order.type).name} is a USD-M order type")
            if order.stop_price <= 0:
                raise OrderRejectedError(CONNECTOR, endpoint, 0, None,
                                         f"{inst.symbol}: {OrderType(order.type).name} needs a stop price")
            # A stop triggers on a cross: round it so it never fires before the author's level.
            stop_side = Side.SELL if order.side == Side.BUY else Side.BUY
            if order.type == OrderType.TAKE_PROFIT_MARKET:
                stop_side = order.side
            params["stopPrice"] = format_fixed(
                round_price(inst, order.stop_price, order.price_prec, stop_side), inst.price_prec)
        if order.reduce_only:
            if self.market == MarketType.SPOT:
                raise OrderRejectedError(CONNECTOR, endpoint, 0, None, "reduce-only is a USD-M option")
            params["reduceOnly"] = True
        params["newClientOrderId"] = order.client_order_id
        if self.market == MarketType.SPOT:
            params["newOrderRespType"] = "RESULT"
        return params

    async def place(self, order: Order) -> OrderUpdate:
        """Send ``order``; its ``client_order_id`` goes as ``newClientOrderId``.

        ``OrderStatusUnknownError`` (no answer / 5xx) means it may have been
        placed: ``query`` it by the same client order id before any retry.
        """
        params = self.order_params(order)
        body = await self.rest.request("POST", self.rest.paths.order, params, signed=True,
                                       weight=1, places_order=True)
        inst = self.table.get(order.symbol)
        return order_update_from_rest(body, inst.price_prec, inst.qty_prec)

    async def cancel(self, symbol: str, client_order_id: str) -> OrderUpdate:
        inst = self.table.get(symbol.upper(), "cancel")
        body = await self.rest.request("DELETE", self.rest.paths.order,
                                       {"symbol": inst.symbol, "origClientOrderId": client_order_id},
                                       signed=True, weight=1)
        return order_update_from_rest(body, inst.price_prec, inst.qty_prec)

    async def query(self, symbol: str, client_order_id: str) -> OrderUpdate:
        inst = self.table.get(symbol.upper(), "query")
        body = await self.rest.request("GET", self.rest.paths.order,
                                       {"symbol": inst.symbol, "origClientOrderId": client_order_id},
                                       signed=True, weight=4 if self.market == MarketType.SPOT else 1)
        return order_update_from_rest(body, inst.price_prec, inst.qty_prec)

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        spot = self.market == MarketType.SPOT
        params = {"symbol": symbol.upper()} if symbol else None
        weight = (6 if spot else 1) if symbol else (80 if spot else 40)
        rows = await self.rest.request("GET", self.rest.paths.open_orders, params, signed=True, weight=weight)
        out = []
        for row in rows:
            inst = self.table.by_symbol.get(row.get("symbol", ""))
            if inst is not None:
                out.append(order_update_from_rest(row, inst.price_prec, inst.qty_prec))
        return out

"""The paper exchange: orders matched against the replayed book, balances, positions.

Semantics (what a strategy should expect from the venue):

- Market orders, and limit orders that cross on arrival, take liquidity: they
  walk the venue's replayed book level by level (one fill, one TRADE event,
  per level) and pay the taker fee. The replayed book is the recording: paper
  fills do not remove liquidity from it (the recorded market never saw them).
- A resting limit order fills as maker at its own price when the replay
  crosses it: a recorded trade prints through it (buy: trade price below the
  order's, up to the trade's size) or the replayed book crosses it (buy: best
  ask at or below the order's price, up to the size offered there).
- Stop orders (USD-M STOP_MARKET / TAKE_PROFIT_MARKET, spot STOP_LOSS /
  TAKE_PROFIT) trigger on the last replayed trade price (Binance's
  CONTRACT_PRICE working type) and then execute as market orders. One that
  would trigger at once is refused as Binance refuses it.
- GTC rests, IOC expires what it could not fill at once, FOK fills entirely at
  once or expires untouched; spot LIMIT_MAKER / USD-M GTX refuse to take.
- newClientOrderId must be unique among open orders (Binance's rule): a retry
  of an order that is still open is refused with Binance's duplicate error, so
  it is never placed twice.
- Spot: balances per asset with free/locked; buy commission is taken in the
  base asset, sell commission in the quote asset. USD-M: one-way mode
  (positionSide BOTH), cross margin in the quote asset, leverage per symbol
  (default 20), realized PnL and fees booked to the wallet, unrealized PnL
  from the mark price (the book's mid).
- Exchange times (transactTime, event ``E``/``T``) are the replay clock: the
  event time of the last replayed message of that market.

Amounts are exact integers: prices in ticks, sizes in steps, balances in
units of 1e-8.
"""
from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

from barfinex.model.enums import MarketType

from . import errors as E
from .feed import Feed, SymbolState
from .instruments import Instrument

log = logging.getLogger("barfinex.venue.exchange")

E8 = 10 ** 8
CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
SPOT_TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS", "TAKE_PROFIT")
USDM_TYPES = ("LIMIT", "MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET")
STOP_TYPES = ("STOP_LOSS", "TAKE_PROFIT", "STOP_MARKET", "TAKE_PROFIT_MARKET")
OPEN = ("NEW", "PARTIALLY_FILLED")


@dataclass
class ExchangeConfig:
    """Paper-exchange settings; the defaults are Binance's regular-tier fees."""

    spot_maker_fee: str = "0.001"
    spot_taker_fee: str = "0.001"
    usdm_maker_fee: str = "0.0002"
    usdm_taker_fee: str = "0.0005"
    spot_balances: dict = field(default_factory=lambda: {"USDT": "10000", "BTC": "1"})
    usdm_balance: str = "10000"        # wallet balance in each USD-M margin asset
    default_leverage: int = 20
    latency_ms: float = 0.0            # delay before an order/cancel reaches the engine


def _to_e8(text: str) -> int:
    return int(Fraction(text) * E8)


def _fmt_e8(v: int) -> str:
    sign = "-" if v < 0 else ""
    v = abs(v)
    return f"{sign}{v // E8}.{v % E8:08d}"


@dataclass
class Order:
    market: MarketType
    symbol: str
    order_id: int
    client_id: str
    side: str
    type: str
    tif: str
    qty: int                  # steps
    price: int = 0            # ticks (0: none)
    stop: int = 0             # ticks (0: none)
    reduce_only: bool = False
    close_position: bool = False
    status: str = "NEW"
    executed: int = 0         # steps
    cum_quote: int = 0        # ticks * steps
    time_ms: int = 0
    update_ms: int = 0
    working_ms: int = 0
    triggered: bool = False
    locked_e8: int = 0        # spot: balance still locked for this order
    fills: list = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def remaining(self) -> int:
        return self.qty - self.executed

    @property
    def buy(self) -> bool:
        return self.side == "BUY"


@dataclass
class Position:
    amt: int = 0              # steps, signed
    cost: int = 0             # ticks*steps of the open amount (entry notional)
    leverage: int = 20
    update_ms: int = 0


class PaperExchange:
    """Orders, fills, balances and positions of one account per market."""

    def __init__(self, feeds: list[Feed], config: ExchangeConfig | None = None,
                 emit: Callable[[MarketType, dict], None] | None = None) -> None:
        self.config = config or ExchangeConfig()
        self.feeds = {f.market: f for f in feeds}
        self.emit = emit or (lambda market, event: None)
        self.orders: dict[MarketType, dict[int, Order]] = {m: {} for m in MarketType}
        self.by_client: dict[MarketType, dict[str, Order]] = {m: {} for m in MarketType}
        self.open_by_symbol: dict[tuple, dict[int, Order]] = {}
        self._next_order = {m: 1_000_000 * int(m) + 1 for m in MarketType}
        self._next_trade = 1
        self.balances: dict[str, list[int]] = {a: [_to_e8(v), 0] for a, v in self.config.spot_balances.items()}
        self.wallet: dict[str, int] = {}
        self.positions: dict[str, Position] = {}
        self.leverage: dict[str, int] = {}
        self.fees = {
            MarketType.SPOT: (Fraction(self.config.spot_maker_fee), Fraction(self.config.spot_taker_fee)),
            MarketType.USDM: (Fraction(self.config.usdm_maker_fee), Fraction(self.config.usdm_taker_fee)),
        }
        usdm = self.feeds.get(MarketType.USDM)
        if usdm is not None:
            for s in usdm.symbols.values():
                self.wallet.setdefault(s.instrument.quote, _to_e8(self.config.usdm_balance))
        self.fills = 0

    # -- lookups --

    def symbol(self, market: MarketType, name) -> SymbolState:
        feed = self.feeds.get(market)
        sym = feed.get(name) if feed else None
        if sym is None:
            raise E.invalid_symbol()
        return sym

    def clock(self, market: MarketType) -> int:
        feed = self.feeds.get(market)
        return max((s.clock_ms for s in feed.symbols.values()), default=0) if feed else 0

    def find(self, market: MarketType, symbol: str, order_id, client_id) -> Order | None:
        if order_id is not None:
            o = self.orders[market].get(order_id)
        else:
            o = self.by_client[market].get(client_id)
        return o if o is not None and o.symbol == symbol else None

    def open_orders(self, market: MarketType, symbol: str | None) -> list[Order]:
        out = []
        for (m, s), orders in self.open_by_symbol.items():
            if m == market and (symbol is None or s == symbol):
                out.extend(orders.values())
        return sorted(out, key=lambda o: o.order_id)

    # -- placing --

    def place(self, market: MarketType, sym: SymbolState, *, side: str, type_: str, tif: str, qty: int,
              price: int, stop: int, client_id: str | None, reduce_only: bool = False,
              close_position: bool = False) -> Order:
        """Validate against balances/positions, accept, match. Raises BinanceError."""
        ins = sym.instrument
        futures = market != MarketType.SPOT
        if client_id is not None:
            prior = self.by_client[market].get(client_id)
            if prior is not None and prior.is_open:
                raise (E.BinanceError(-4116, "ClientOrderId is duplicated.") if futures
                       else E.BinanceError(-2010, "Duplicate order sent."))
        else:
            client_id = ("web_" if futures else "x-") + secrets.token_urlsafe(15)
        now = sym.clock_ms
        last = sym.last_price or sym.book.bbo()[0]
        if type_ in STOP_TYPES:
            if not last:
                raise E.BinanceError(-2010 if not futures else -2021, "No trade price yet to trigger on.")
            up = (side == "BUY") == (type_ in ("STOP_LOSS", "STOP_MARKET"))
            if (up and last >= stop) or (not up and last <= stop):
                raise (E.BinanceError(-2021, "Order would immediately trigger.") if futures
                       else E.BinanceError(-2010, "Stop price would trigger immediately."))
        if futures:
            pos = self.positions.setdefault(ins.symbol, Position(leverage=self._lev(ins.symbol)))
            if close_position:
                reduce_only = True
            if reduce_only and not close_position:
                if pos.amt == 0 or (pos.amt > 0) == (side == "BUY"):
                    raise E.BinanceError(-2022, "ReduceOnly Order is rejected.")
            if not reduce_only:
                ref = price or self._touch(sym, side) or last
                if ref * qty * 10 ** 0 < _notional_units(ins, ins.defaults.min_notional):
                    raise E.BinanceError(-4164, f"Order's notional must be no smaller than "
                                                f"{ins.defaults.min_notional} (unless you choose reduce only).")
                self._check_margin(ins, qty, ref)
        else:
            ref = price or self._touch(sym, side) or last
            if type_ != "MARKET" or ref:
                if ref * qty < _notional_units(ins, ins.defaults.min_notional):
                    raise E.filter_failure("NOTIONAL")
            self._check_spot_funds(ins, side, qty, price or self._walk_cost(sym, side, qty))
        order = Order(market, ins.symbol, self._next_order[market], client_id, side, type_, tif, qty,
                      price, stop, reduce_only, close_position, time_ms=now, update_ms=now)
        self._next_order[market] += 1
        self.orders[market][order.order_id] = order
        self.by_client[market][client_id] = order
        if type_ == "LIMIT_MAKER" or tif == "GTX":
            if self._crosses(sym, order):
                del self.orders[market][order.order_id]
                del self.by_client[market][client_id]
                raise (E.BinanceError(-5022, "Due to the order could not be executed as maker, the Post "
                                             "Only order will be rejected. The order will not be recorded "
                                             "in the order history") if futures
                       else E.BinanceError(-2010, "Order would immediately match and take."))
        # w ("on the book") as Binance shows it: a GTC limit that does not cross
        resting = type_ in ("LIMIT", "LIMIT_MAKER") and tif == "GTC" and not self._crosses(sym, order)
        self._report(order, sym, "NEW", working=resting)
        if type_ in STOP_TYPES:
            self._rest(order)
            return order
        self._execute(order, sym)
        return order

    def _lev(self, symbol: str) -> int:
        return self.leverage.get(symbol, self.config.default_leverage)

    def set_leverage(self, sym: SymbolState, leverage: int) -> dict:
        if not 1 <= leverage <= 125:
            raise E.BinanceError(-4028, f"Leverage {leverage} is not valid")
        self.leverage[sym.symbol] = leverage
        self.positions.setdefault(sym.symbol, Position()).leverage = leverage
        return {"leverage": leverage, "maxNotionalValue": "1000000", "symbol": sym.symbol}

    def _touch(self, sym: SymbolState, side: str) -> int:
        bid, _, ask, _ = sym.book.bbo()
        return ask if side == "BUY" else bid

    def _walk_cost(self, sym: SymbolState, side: str, qty: int) -> int:
        """Average price (ticks) a market order of ``qty`` would pay now (0: empty book)."""
        filled, cost = 0, 0
        for p, q in self._levels(sym, side):
            take = min(q, qty - filled)
            filled += take
            cost += take * p
            if filled == qty:
                break
        return -(-cost // filled) if filled else 0

    def _levels(self, sym: SymbolState, side: str):
        n = 50
        while True:
            bids, asks = sym.book.top(n)
            levels = asks if side == "BUY" else bids
            yield from levels[n - 50:]
            if len(levels) < n:
                return
            n += 50

    def _quote_e8(self, ins: Instrument, ticks_steps: int) -> int:
        d = ins.price_dec + ins.qty_dec
        return ticks_steps * 10 ** (8 - d) if d <= 8 else ticks_steps // 10 ** (d - 8)

    def _qty_e8(self, ins: Instrument, steps: int) -> int:
        return steps * 10 ** (8 - ins.qty_dec)

    def _check_spot_funds(self, ins: Instrument, side: str, qty: int, price: int) -> None:
        if side == "BUY":
            need, asset = self._quote_e8(ins, qty * price), ins.quote
        else:
            need, asset = self._qty_e8(ins, qty), ins.base
        if self.balances.get(asset, [0, 0])[0] < need:
            raise E.BinanceError(-2010, "Account has insufficient balance for requested action.")

    def _check_margin(self, ins: Instrument, qty: int, price: int) -> None:
        need = self._quote_e8(ins, qty * price) // self._lev(ins.symbol)
        if need > self._available(ins.quote):
            raise E.BinanceError(-2019, "Margin is insufficient.")

    def _crosses(self, sym: SymbolState, order: Order) -> bool:
        touch = self._touch(sym, order.side)
        return bool(touch) and (touch <= order.price if order.buy else touch >= order.price)

    # -- matching --

    def _execute(self, order: Order, sym: SymbolState) -> None:
        """Take what the book offers now; then rest, expire or finish."""
        limit = order.price if order.type in ("LIMIT", "LIMIT_MAKER") else 0
        if order.tif == "FOK" and limit:
            avail = sum(q for p, q in self._levels(sym, order.side)
                        if (p <= limit if order.buy else p >= limit))
            if avail < order.remaining:
                self._finish(order, sym, "EXPIRED")
                return
        for p, q in self._levels(sym, order.side):
            if limit and (p > limit if order.buy else p < limit):
                break
            take = min(q, self._fillable(order))
            if take <= 0:
                break
            self._fill(order, sym, p, take, maker=False)
            if not order.is_open:
                return
        if order.type == "MARKET" or order.tif in ("IOC", "FOK"):
            self._finish(order, sym, "EXPIRED")
        else:
            self._rest(order)
            self._lock(order, sym)

    def _fillable(self, order: Order) -> int:
        """Remaining size, clamped for reduce-only orders to the position."""
        if not order.reduce_only:
            return order.remaining
        pos = self.positions.get(order.symbol)
        if pos is None or pos.amt == 0 or (pos.amt > 0) == order.buy:
            return 0
        return min(order.remaining, abs(pos.amt)) if not order.close_position else abs(pos.amt)

    def _rest(self, order: Order) -> None:
        order.working_ms = order.update_ms
        self.open_by_symbol.setdefault((order.market, order.symbol), {})[order.order_id] = order

    def _lock(self, order: Order, sym: SymbolState) -> None:
        if order.market != MarketType.SPOT:
            return
        ins = sym.instrument
        if order.buy:
            amount, asset = self._quote_e8(ins, order.remaining * order.price), ins.quote
        else:
            amount, asset = self._qty_e8(ins, order.remaining), ins.base
        bal = self.balances.setdefault(asset, [0, 0])
        amount = min(amount, bal[0])
        bal[0] -= amount
        bal[1] += amount
        order.locked_e8 = amount
        self._account_event(order.market, sym, [asset])

    def _unlock(self, order: Order, sym: SymbolState, fraction: Fraction | None = None) -> None:
        if order.market != MarketType.SPOT or not order.locked_e8:
            return
        ins = sym.instrument
        asset = ins.quote if order.buy else ins.base
        release = order.locked_e8 if fraction is None else min(order.locked_e8, int(order.locked_e8 * fraction))
        bal = self.balances.setdefault(asset, [0, 0])
        bal[1] -= release
        bal[0] += release
        order.locked_e8 -= release

    def _finish(self, order: Order, sym: SymbolState, status: str) -> None:
        self._unlock(order, sym)
        order.status = status
        order.update_ms = sym.clock_ms
        self.open_by_symbol.get((order.market, order.symbol), {}).pop(order.order_id, None)
        self._report(order, sym, status)

    def cancel(self, order: Order, sym: SymbolState) -> Order:
        if not order.is_open:
            raise E.BinanceError(-2011, "Unknown order sent.")
        self._finish(order, sym, "CANCELED")
        if order.market == MarketType.SPOT:
            self._account_event(order.market, sym, [sym.instrument.quote if order.buy else sym.instrument.base])
        return order

    def _fill(self, order: Order, sym: SymbolState, price: int, qty: int, maker: bool) -> None:
        ins = sym.instrument
        market = order.market
        before = order.remaining
        order.executed += qty
        order.cum_quote += price * qty
        order.update_ms = sym.clock_ms
        order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"
        rate = self.fees[market][0 if maker else 1]
        trade_id = self._next_trade
        self._next_trade += 1
        self.fills += 1
        quote_e8 = self._quote_e8(ins, price * qty)
        if market == MarketType.SPOT:
            if maker:
                self._unlock(order, sym, Fraction(qty, before))
            base = self.balances.setdefault(ins.base, [0, 0])
            quote = self.balances.setdefault(ins.quote, [0, 0])
            if order.buy:
                fee = int(self._qty_e8(ins, qty) * rate)
                quote[0] -= quote_e8
                base[0] += self._qty_e8(ins, qty) - fee
                fee_asset = ins.base
            else:
                fee = int(quote_e8 * rate)
                base[0] -= self._qty_e8(ins, qty)
                quote[0] += quote_e8 - fee
                fee_asset = ins.quote
            realized = 0
        else:
            fee = int(quote_e8 * rate)
            fee_asset = ins.quote
            realized = self._book_position(ins, order.buy, qty, price)
            self.wallet[ins.quote] = self.wallet.get(ins.quote, 0) + realized - fee
        order.fills.append({"price": ins.fmt_price(price), "qty": ins.fmt_qty(qty), "commission": _fmt_e8(fee),
                            "commissionAsset": fee_asset, "tradeId": trade_id})
        self._report(order, sym, "TRADE", last=(price, qty, fee, fee_asset, trade_id, maker, realized))
        if not order.is_open:
            self.open_by_symbol.get((market, order.symbol), {}).pop(order.order_id, None)
            self._unlock(order, sym)
        self._account_event(market, sym, [ins.base, ins.quote] if market == MarketType.SPOT else [ins.quote])

    def _book_position(self, ins: Instrument, buy: bool, qty: int, price: int) -> int:
        """Apply a futures fill to the position; returns realized PnL (e8)."""
        pos = self.positions.setdefault(ins.symbol, Position(leverage=self._lev(ins.symbol)))
        signed = qty if buy else -qty
        realized = 0
        if pos.amt == 0 or (pos.amt > 0) == buy:
            pos.cost += price * qty
        else:
            closing = min(qty, abs(pos.amt))
            released = pos.cost * closing // abs(pos.amt)
            exit_value = price * closing
            pnl = exit_value - released if pos.amt > 0 else released - exit_value
            realized = self._quote_e8(ins, pnl)
            pos.cost -= released
            if qty > closing:                 # flipped: the rest opens the other way
                pos.cost = price * (qty - closing)
        pos.amt += signed
        if pos.amt == 0:
            pos.cost = 0
        return realized

    # -- market events (from the feed) --

    def on_book(self, sym: SymbolState) -> None:
        orders = self.open_by_symbol.get((sym.instrument.market, sym.symbol))
        if not orders:
            return
        bid, _, ask, _ = sym.book.bbo()
        for order in list(orders.values()):
            if order.type in STOP_TYPES or not order.is_open:
                continue
            if order.buy and ask and ask <= order.price:
                avail = sum(q for p, q in self._levels(sym, "BUY") if p <= order.price)
            elif not order.buy and bid and bid >= order.price:
                avail = sum(q for p, q in self._levels(sym, "SELL") if p >= order.price)
            else:
                continue
            take = min(avail, self._fillable(order))
            if take > 0:
                self._fill(order, sym, order.price, take, maker=True)

    def on_trade(self, sym: SymbolState, price: int, qty: int, time_ms: int) -> None:
        orders = self.open_by_symbol.get((sym.instrument.market, sym.symbol))
        if not orders:
            return
        for order in list(orders.values()):
            if not order.is_open:
                continue
            if order.type in STOP_TYPES:
                up = order.buy == (order.type in ("STOP_LOSS", "STOP_MARKET"))
                if (up and price >= order.stop) or (not up and price <= order.stop):
                    orders.pop(order.order_id, None)
                    order.triggered = True
                    if order.close_position or order.reduce_only:
                        if self._fillable(order) == 0:
                            self._finish(order, sym, "EXPIRED")
                            continue
                    self._execute(order, sym)
                continue
            through = price < order.price if order.buy else price > order.price
            if through:
                take = min(qty, self._fillable(order))
                if take > 0:
                    self._fill(order, sym, order.price, take, maker=True)

    # -- accounts --

    def _available(self, asset: str) -> int:
        wallet = self.wallet.get(asset, 0)
        used, upnl = 0, 0
        for name, pos in self.positions.items():
            sym = self._usdm_symbol(name)
            if sym is None or sym.instrument.quote != asset or pos.amt == 0:
                continue
            mark = self._mark_ticks(sym)
            used += self._quote_e8(sym.instrument, abs(pos.amt) * mark) // max(pos.leverage, 1)
            upnl += self._upnl(sym, pos)
        return wallet + upnl - used

    def _usdm_symbol(self, name: str) -> SymbolState | None:
        feed = self.feeds.get(MarketType.USDM)
        return feed.get(name) if feed else None

    def _mark_ticks(self, sym: SymbolState) -> int:
        return sym.mark_ticks_e8() // 10 ** (8 - sym.instrument.price_dec) or sym.last_price

    def _upnl(self, sym: SymbolState, pos: Position) -> int:
        if pos.amt == 0:
            return 0
        value = abs(pos.amt) * self._mark_ticks(sym)
        return self._quote_e8(sym.instrument, value - pos.cost if pos.amt > 0 else pos.cost - value)

    def entry_price(self, sym: SymbolState, pos: Position) -> str:
        if pos.amt == 0:
            return "0.0"
        return _fmt_e8(pos.cost * 10 ** (8 - sym.instrument.price_dec) // abs(pos.amt))

    def spot_account(self) -> dict:
        maker, taker = self.fees[MarketType.SPOT]
        return {
            "makerCommission": int(maker * 10000), "takerCommission": int(taker * 10000),
            "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": f"{float(maker):.8f}", "taker": f"{float(taker):.8f}",
                                "buyer": "0.00000000", "seller": "0.00000000"},
            "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": self.clock(MarketType.SPOT), "accountType": "SPOT",
            "balances": [{"asset": a, "free": _fmt_e8(f), "locked": _fmt_e8(lk)}
                         for a, (f, lk) in sorted(self.balances.items())],
            "permissions": ["SPOT"], "uid": 1,
        }

    def usdm_positions(self) -> list[tuple[SymbolState, Position]]:
        feed = self.feeds.get(MarketType.USDM)
        if feed is None:
            return []
        return [(s, self.positions.setdefault(s.symbol, Position(leverage=self._lev(s.symbol))))
                for s in feed.symbols.values()]

    def usdm_account(self) -> dict:
        now = self.clock(MarketType.USDM)
        assets, positions = [], []
        total_wallet = total_upnl = total_im = 0
        for sym, pos in self.usdm_positions():
            upnl = self._upnl(sym, pos)
            notional = self._quote_e8(sym.instrument, pos.amt * self._mark_ticks(sym))
            im = abs(notional) // max(pos.leverage, 1)
            total_upnl += upnl
            total_im += im
            positions.append({
                "symbol": sym.symbol, "initialMargin": _fmt_e8(im), "maintMargin": _fmt_e8(abs(notional) // 250),
                "unrealizedProfit": _fmt_e8(upnl), "positionInitialMargin": _fmt_e8(im),
                "openOrderInitialMargin": "0", "leverage": str(pos.leverage), "isolated": False,
                "entryPrice": self.entry_price(sym, pos), "breakEvenPrice": self.entry_price(sym, pos),
                "maxNotional": "1000000", "bidNotional": "0", "askNotional": "0",
                "positionSide": "BOTH", "positionAmt": sym.instrument.fmt_qty(pos.amt),
                "notional": _fmt_e8(notional), "isolatedWallet": "0", "updateTime": pos.update_ms})
        for asset, wallet in sorted(self.wallet.items()):
            total_wallet += wallet
            avail = self._available(asset)
            assets.append({
                "asset": asset, "walletBalance": _fmt_e8(wallet), "unrealizedProfit": _fmt_e8(total_upnl),
                "marginBalance": _fmt_e8(wallet + total_upnl), "maintMargin": "0.00000000",
                "initialMargin": _fmt_e8(total_im), "positionInitialMargin": _fmt_e8(total_im),
                "openOrderInitialMargin": "0.00000000", "crossWalletBalance": _fmt_e8(wallet),
                "crossUnPnl": _fmt_e8(total_upnl), "availableBalance": _fmt_e8(avail),
                "maxWithdrawAmount": _fmt_e8(max(avail, 0)), "marginAvailable": True, "updateTime": now})
        avail_total = sum(self._available(a) for a in self.wallet)
        return {
            "feeTier": 0, "canTrade": True, "canDeposit": False, "canWithdraw": False,
            "updateTime": now, "multiAssetsMargin": False, "tradeGroupId": -1,
            "totalInitialMargin": _fmt_e8(total_im), "totalMaintMargin": "0.00000000",
            "totalWalletBalance": _fmt_e8(total_wallet), "totalUnrealizedProfit": _fmt_e8(total_upnl),
            "totalMarginBalance": _fmt_e8(total_wallet + total_upnl),
            "totalPositionInitialMargin": _fmt_e8(total_im), "totalOpenOrderInitialMargin": "0.00000000",
            "totalCrossWalletBalance": _fmt_e8(total_wallet), "totalCrossUnPnl": _fmt_e8(total_upnl),
            "availableBalance": _fmt_e8(avail_total), "maxWithdrawAmount": _fmt_e8(max(avail_total, 0)),
            "assets": assets, "positions": positions,
        }

    def position_risk(self, symbol: str | None) -> list[dict]:
        out = []
        for sym, pos in self.usdm_positions():
            if symbol is not None and sym.symbol != symbol:
                continue
            mark = sym.mark_ticks_e8()
            notional = self._quote_e8(sym.instrument, pos.amt * self._mark_ticks(sym))
            out.append({
                "symbol": sym.symbol, "positionAmt": sym.instrument.fmt_qty(pos.amt),
                "entryPrice": self.entry_price(sym, pos), "breakEvenPrice": self.entry_price(sym, pos),
                "markPrice": _fmt_e8(mark), "unRealizedProfit": _fmt_e8(self._upnl(sym, pos)),
                "liquidationPrice": "0", "leverage": str(pos.leverage), "maxNotionalValue": "1000000",
                "marginType": "cross", "isolatedMargin": "0.00000000", "isAutoAddMargin": "false",
                "positionSide": "BOTH", "notional": _fmt_e8(notional), "isolatedWallet": "0",
                "updateTime": pos.update_ms})
        return out

    # -- reporting (user data stream) --

    def _account_event(self, market: MarketType, sym: SymbolState, assets: list[str]) -> None:
        now = sym.clock_ms
        if market == MarketType.SPOT:
            self.emit(market, {"e": "outboundAccountPosition", "E": now, "u": now, "B": [
                {"a": a, "f": _fmt_e8(self.balances.get(a, [0, 0])[0]),
                 "l": _fmt_e8(self.balances.get(a, [0, 0])[1])} for a in dict.fromkeys(assets)]})
            return
        pos = self.positions.setdefault(sym.symbol, Position(leverage=self._lev(sym.symbol)))
        pos.update_ms = now
        asset = sym.instrument.quote
        self.emit(market, {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {
            "m": "ORDER",
            "B": [{"a": asset, "wb": _fmt_e8(self.wallet.get(asset, 0)),
                   "cw": _fmt_e8(self.wallet.get(asset, 0)), "bc": "0"}],
            "P": [{"s": sym.symbol, "pa": sym.instrument.fmt_qty(pos.amt), "ep": self.entry_price(sym, pos),
                   "bep": self.entry_price(sym, pos), "cr": "0", "up": _fmt_e8(self._upnl(sym, pos)),
                   "mt": "cross", "iw": "0", "ps": "BOTH"}]}})

    def _report(self, order: Order, sym: SymbolState, exec_type: str, last=None,
                working: bool | None = None) -> None:
        ins = sym.instrument
        now = sym.clock_ms
        lp, lq, fee, fee_asset, trade_id, maker, realized = last or (0, 0, 0, None, -1, False, 0)
        if working is None:
            working = order.is_open and order.type not in STOP_TYPES and \
                order.order_id in self.open_by_symbol.get((order.market, order.symbol), {})
        if order.market == MarketType.SPOT:
            self.emit(order.market, {
                "e": "executionReport", "E": now, "s": order.symbol, "c": order.client_id, "S": order.side,
                "o": order.type, "f": order.tif, "q": ins.fmt_qty(order.qty), "p": ins.fmt_price(order.price),
                "P": ins.fmt_price(order.stop), "F": ins.fmt_qty(0), "g": -1, "C": "", "x": exec_type,
                "X": order.status, "r": "NONE", "i": order.order_id, "l": ins.fmt_qty(lq),
                "z": ins.fmt_qty(order.executed), "L": ins.fmt_price(lp), "n": _fmt_e8(fee) if last else "0",
                "N": fee_asset, "T": now, "t": trade_id, "I": order.order_id, "w": working, "m": maker, "M": False, "O": order.time_ms,
                "Z": ins.fmt_quote(order.cum_quote, ins.price_dec + ins.qty_dec),
                "Y": ins.fmt_quote(lp * lq, ins.price_dec + ins.qty_dec), "Q": "0.00000000",
                "W": order.working_ms or now, "V": "NONE"})
            return
        self.emit(order.market, {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": {
            "s": order.symbol, "c": order.client_id, "S": order.side,
            "o": "MARKET" if order.triggered else order.type, "f": order.tif, "q": ins.fmt_qty(order.qty),
            "p": ins.fmt_price(order.price), "ap": self.avg_price(order, ins),
            "sp": ins.fmt_price(order.stop), "x": exec_type, "X": order.status, "i": order.order_id,
            "l": ins.fmt_qty(lq), "z": ins.fmt_qty(order.executed), "L": ins.fmt_price(lp),
            "N": fee_asset or ins.quote, "n": _fmt_e8(fee), "T": now, "t": max(trade_id, 0), "b": "0", "a": "0",
            "m": maker, "R": order.reduce_only, "wt": "CONTRACT_PRICE", "ot": order.type, "ps": "BOTH",
            "cp": order.close_position, "rp": _fmt_e8(realized), "pP": False, "si": 0, "ss": 0,
            "V": "NONE", "pm": "NONE", "gtd": 0}})

    @staticmethod
    def avg_price(order: Order, ins: Instrument) -> str:
        if not order.executed:
            return "0"
        return _fmt_e8(order.cum_quote * 10 ** (8 - ins.price_dec) // order.executed)


def _notional_units(ins: Instrument, text: str) -> int:
    """A notional in quote units as ticks*steps."""
    return int(Fraction(text) * 10 ** (ins.price_dec + ins.qty_dec))

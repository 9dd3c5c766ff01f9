"""Pure-Python twin of barfinex/_fast/candles.pyx: same API, same bars.

See the Cython module for the semantics (base period folded into coarser
bars, Binance kline conventions, gap filling, rejections).
"""
from __future__ import annotations

import math

import numpy as np

from barfinex.columns import trade_columns

from barfinex._py.fixedpoint import parse_fixed
from barfinex.model.enums import Timeframe

WEEK_ANCHOR = 4 * 86400 * 1_000_000_000   # Monday 1970-01-05 00:00 UTC
TIMEFRAMES = tuple(Timeframe)
REASONS = ("price", "qty", "symbol", "out_of_order")
DEFAULT_MAX_GAP_FILL = 100_000
_NO_TS = -(2 ** 63)

BAR_DTYPE = np.dtype([
    ("timeframe_s", "<i4"), ("closed", "<i4"), ("open_ns", "<i8"), ("close_ns", "<i8"),
    ("open", "<i8"), ("high", "<i8"), ("low", "<i8"), ("close", "<i8"),
    ("volume", "<i8"), ("quote_volume", "<i8"), ("count", "<i8"),
    ("taker_buy_volume", "<i8"), ("taker_buy_quote_volume", "<i8"), ("vwap", "<i8"),
])

# Bar as a list, indexed like BAR_DTYPE (closed and vwap are set on output).
TF, CLOSED, OPEN_NS, CLOSE_NS, O, H, L, C, V, QV, N, TBV, TBQV, VWAP = range(14)


class CandleError(ValueError):
    """A trade the aggregator refused; ``reason`` is one of REASONS."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def resolve_timeframes(timeframes):
    """Timeframes given as Timeframe, seconds or labels ("1m") to a sorted, unique
    tuple of Timeframe. ValueError names the valid choices."""
    if isinstance(timeframes, (str, int)):
        timeframes = (timeframes,)
    out = set()
    for tf in timeframes:
        if isinstance(tf, str):
            out.add(Timeframe.parse(tf))
        else:
            try:
                out.add(Timeframe(tf))
            except ValueError:
                raise ValueError(f"unknown timeframe {tf!r}; choose one of "
                                 f"{', '.join(t.label for t in Timeframe)}") from None
    if not out:
        raise ValueError("no timeframes given")
    return tuple(sorted(out))


def _period_start(ts: int, length: int) -> int:
    return ts - (ts - WEEK_ANCHOR) % length


def _vwap(quote: int, volume: int, fallback: int) -> int:
    if volume <= 0:
        return fallback
    q, r = divmod(quote, volume)
    return q + 1 if 2 * r >= volume else q


def _fold(into: list, part: list) -> None:
    if part[H] > into[H]:
        into[H] = part[H]
    if part[L] < into[L]:
        into[L] = part[L]
    into[C] = part[C]
    into[V] += part[V]
    into[QV] += part[QV]
    into[N] += part[N]
    into[TBV] += part[TBV]
    into[TBQV] += part[TBQV]


def _final(bar: list, closed: int) -> tuple:
    out = list(bar)
    out[CLOSED] = closed
    out[VWAP] = _vwap(bar[QV], bar[V], bar[C])
    return tuple(out)


class CandleAggregator:
    """Fold one symbol's trades into bars of several timeframes at once.

    ``CandleAggregator(timeframes=TIMEFRAMES, price_prec=2, qty_prec=3,
    symbol="", gap_fill=True, emit_updates=False, max_gap_fill=100_000)``

    Feed trades with ``update`` (one trade), ``update_text`` (decimal strings,
    symbol checked), or ``update_batch`` (numpy arrays); advance a quiet clock
    with ``flush(until_ns)``. Each returns how many bars it emitted (see
    ``pending`` for all not yet drained);
    ``drain()`` takes them as a BAR_DTYPE array in emission order (per
    timeframe chronological). ``snapshot()`` gives the bars in progress.
    """

    def __init__(self, timeframes=TIMEFRAMES, price_prec=2, qty_prec=3, symbol="",
                 gap_fill=True, emit_updates=False, max_gap_fill=DEFAULT_MAX_GAP_FILL):
        if not 0 <= price_prec <= 18 or not 0 <= qty_prec <= 18:
            raise ValueError("price_prec and qty_prec must be in 0..18")
        if max_gap_fill < 0:
            raise ValueError("max_gap_fill must be >= 0")
        self.timeframes = resolve_timeframes(timeframes)
        self.symbol = symbol
        self.price_prec = price_prec
        self.qty_prec = qty_prec
        self.gap_fill = bool(gap_fill)
        self.emit_updates = bool(emit_updates)
        self.max_gap_fill = max_gap_fill
        lengths = [int(t) for t in self.timeframes]
        base_s = math.gcd(*lengths)
        self._length = []
        self._emitted = []
        if base_s != lengths[0]:
            self._length.append(base_s * 1_000_000_000)   # internal base, never emitted
            self._emitted.append(False)
        for s in lengths:
            self._length.append(s * 1_000_000_000)
            self._emitted.append(True)
        k = len(self._length)
        self._open = [False] * k
        self._acc = [[0] * 14 for _ in range(k)]
        self._has_close = [False] * k
        self._last_close = [0] * k
        self._next = [0] * k
        self._min_ts = _NO_TS
        self._out: list[tuple] = []
        self._rejected = [0] * len(REASONS)
        self.accepted = 0
        self.unfilled_gaps = 0

    @property
    def rejections(self):
        """Rejected trades per reason: {"price", "qty", "symbol", "out_of_order"}."""
        return dict(zip(REASONS, self._rejected))

    @property
    def pending(self):
        """Bars emitted and not yet drained."""
        return len(self._out)

    def _emit(self, i):
        bar = self._acc[i]
        self._open[i] = False
        self._has_close[i] = True
        self._last_close[i] = bar[C]
        self._next[i] = bar[OPEN_NS] + self._length[i]
        if self._emitted[i]:
            self._out.append(_final(bar, 1))

    def _roll(self, i, target):
        length = self._length[i]
        if self._open[i]:
            if self._acc[i][OPEN_NS] >= target:
                return
            self._emit(i)
        if not self._has_close[i] or self._next[i] >= target:
            return
        if not (self.gap_fill and self._emitted[i]):
            self._next[i] = target
            return
        if (target - self._next[i]) // length > self.max_gap_fill:
            self.unfilled_gaps += 1
            self._next[i] = target
            return
        px = self._last_close[i]
        tf_s = length // 1_000_000_000
        start = self._next[i]
        while start < target:
            self._out.append((tf_s, 1, start, start + length - 1, px, px, px, px, 0, 0, 0, 0, 0, px))
            start += length
        self._next[i] = target

    def _close_base(self):
        base = self._acc[0]
        for i in range(1, len(self._length)):
            length = self._length[i]
            start = _period_start(base[OPEN_NS], length)
            self._roll(i, start)
            if self._open[i]:
                _fold(self._acc[i], base)
            else:
                bar = list(base)
                bar[OPEN_NS] = start
                bar[CLOSE_NS] = start + length - 1
                bar[TF] = length // 1_000_000_000
                self._acc[i] = bar
                self._open[i] = True
        self._emit(0)

    def _advance(self, until_ns):
        if self._open[0] and self._acc[0][OPEN_NS] + self._length[0] <= until_ns:
            self._close_base()
        for i, length in enumerate(self._length):
            self._roll(i, _period_start(until_ns, length))
        self._min_ts = max(self._min_ts, _period_start(until_ns, self._length[0]))

    def _apply(self, ts_ns, price, qty, is_buyer_maker) -> bool:
        if ts_ns < self._min_ts:
            self._rejected[3] += 1
            return False
        quote = price * qty
        b = self._acc[0]
        if self._open[0] and ts_ns < b[OPEN_NS] + self._length[0]:
            if price > b[H]:
                b[H] = price
            elif price < b[L]:
                b[L] = price
            b[C] = price
            b[V] += qty
            b[QV] += quote
            b[N] += 1
            if not is_buyer_maker:
                b[TBV] += qty
                b[TBQV] += quote
        else:
            self._advance(ts_ns)
            length = self._length[0]
            start = _period_start(ts_ns, length)
            taker_buy = not is_buyer_maker
            self._acc[0] = [length // 1_000_000_000, 0, start, start + length - 1,
                            price, price, price, price, qty, quote, 1,
                            qty if taker_buy else 0, quote if taker_buy else 0, price]
            self._open[0] = True
            self._min_ts = start
        self.accepted += 1
        return True

    def _reject(self, reason, message):
        self._rejected[reason] += 1
        raise CandleError(REASONS[reason], message)

    def update(self, ts_ns, price, qty, is_buyer_maker):
        """Apply one trade (fixed-point price and size, ts in ns). Returns the
        number of bars this call emitted. CandleError (counted) for a price
        or size not > 0, or a trade before the open base period."""
        if price <= 0:
            self._reject(0, f"price must be > 0, got {price}")
        if qty <= 0:
            self._reject(1, f"size must be > 0, got {qty}")
        before = len(self._out)
        if not self._apply(ts_ns, price, qty, is_buyer_maker):
            raise CandleError("out_of_order",
                              f"trade at {ts_ns} ns is before the open period starting {self._min_ts} ns")
        if self.emit_updates:
            self._append_snapshot()
        return len(self._out) - before

    def update_text(self, symbol, ts_ns, price, qty, is_buyer_maker):
        """Apply one trade as the exchange sent it: decimal strings (str or bytes)
        for price and size, parsed exactly. CandleError (counted) for another
        symbol, text that is not a decimal, values not > 0, or out of order."""
        if self.symbol and symbol != self.symbol:
            self._reject(2, f"trade for {symbol!r}, aggregator is for {self.symbol!r}")
        try:
            p = parse_fixed(price, self.price_prec)
        except ValueError:
            self._reject(0, f"price is not a decimal with at most {self.price_prec} places: {price!r}")
        try:
            q = parse_fixed(qty, self.qty_prec)
        except ValueError:
            self._reject(1, f"size is not a decimal with at most {self.qty_prec} places: {qty!r}")
        return self.update(ts_ns, p, q, is_buyer_maker)

    def update_batch(self, ts_ns, price, qty, is_buyer_maker):
        """Apply a batch of trades given as equal-length arrays (int64 ns, int64
        fixed-point price and size, bool buyer-is-maker). Bad rows are skipped
        and counted in ``rejections``; returns the number of bars emitted."""
        before = len(self._out)
        ts, px, qt, mk = trade_columns(ts_ns, price, qty, is_buyer_maker)
        for t, p, q, m in zip(ts.tolist(), px.tolist(), qt.tolist(), mk.tolist()):
            if p <= 0:
                self._rejected[0] += 1
            elif q <= 0:
                self._rejected[1] += 1
            else:
                self._apply(t, p, q, m)
        if self.emit_updates:
            self._append_snapshot()
        return len(self._out) - before

    def flush(self, until_ns):
        """Advance the clock to until_ns with no trades: close every bar that
        ends at or before it (gap-filling empty periods). Trades before the
        base period containing until_ns are rejected afterwards."""
        before = len(self._out)
        self._advance(until_ns)
        if self.emit_updates:
            self._append_snapshot()
        return len(self._out) - before

    def drain(self):
        """Take the emitted bars (BAR_DTYPE array, emission order) and clear the output."""
        out, self._out = self._out, []
        return np.array(out, dtype=BAR_DTYPE)

    def _snapshot_of(self, i):
        base = self._acc[0]
        if i == 0:
            return _final(base, 0) if self._open[0] else None
        length = self._length[i]
        start = _period_start(base[OPEN_NS], length) if self._open[0] else None
        if self._open[i]:
            bar = list(self._acc[i])
            if self._open[0] and start == bar[OPEN_NS]:
                _fold(bar, base)
        elif self._open[0]:
            bar = list(base)
            bar[OPEN_NS] = start
            bar[CLOSE_NS] = start + length - 1
            bar[TF] = length // 1_000_000_000
        else:
            return None
        return _final(bar, 0)

    def _snapshots(self):
        return [bar for i in range(len(self._length))
                if self._emitted[i] and (bar := self._snapshot_of(i)) is not None]

    def _append_snapshot(self):
        self._out.extend(self._snapshots())

    def snapshot(self):
        """The bars in progress (closed=0), one per timeframe that has one, ascending."""
        return np.array(self._snapshots(), dtype=BAR_DTYPE)


def aggregate(ts_ns, price, qty, is_buyer_maker, timeframes=TIMEFRAMES, *, price_prec=2,
              qty_prec=3, gap_fill=True, include_open=True):
    """Batch API: all bars of ``timeframes`` for arrays of trades, as a BAR_DTYPE
    array (closed bars, then with ``include_open`` the bars still in progress,
    closed=0). Select one timeframe with ``bars[bars["timeframe_s"] == 60]``."""
    agg = CandleAggregator(timeframes, price_prec, qty_prec, "", gap_fill, False)
    agg.update_batch(ts_ns, price, qty, is_buyer_maker)
    bars = agg.drain()
    if include_open:
        bars = np.concatenate([bars, agg.snapshot()])
    return bars

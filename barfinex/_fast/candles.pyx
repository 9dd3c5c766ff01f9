# cython: language_level=3
"""Trades to OHLCV candles of many timeframes at once, with Binance kline semantics.

How it stays cheap per trade: only the finest period (the *base*: the gcd of
the requested timeframes, 1 s when 1s is among them) is updated per trade.
When a base bar ends it is folded into every coarser bar, which is exact
because all timeframes are aligned multiples of the base (weeks start Monday
00:00 UTC, 4 days after the Thursday epoch; every shorter timeframe divides
4 days, so one anchor serves all). A trade therefore costs one bar update
however many timeframes are tracked.

Exchange semantics (Binance klines):

* A bar covers ``[open_ns, open_ns + length)``; ``close_ns`` is its last
  nanosecond, as Binance's ``close_time`` is the bar's last millisecond.
* ``taker_buy_*`` sum the trades whose buyer was the taker (``m == false``).
* A period with no trades: with ``gap_fill`` (the default, what the exchange
  publishes) a flat bar open=high=low=close=previous close, zero volume and
  count; without it, no bar. Nothing is filled before the first trade.
* A bar is emitted when it is closed: by a trade of a later period, or by
  ``flush(until_ns)`` so a quiet market still closes its bars.

Rejected input (counted per reason in ``rejections``, state left unchanged):
a price or size that is not a decimal or not > 0, a trade for another
symbol, and a trade timed before the open period of the finest timeframe
(its bar may already be published). The streaming calls raise CandleError
after counting; the batch call skips and counts the row.
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport INT64_MIN, int32_t, int64_t, uint8_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy

from barfinex._fast.fixedpoint cimport parse_fixed_c

import math

import numpy as np

from barfinex.columns import trade_columns

from barfinex.model.enums import Timeframe

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL

# Monday 1970-01-05 00:00 UTC: the anchor of weekly bars (the epoch was a Thursday).
cdef int64_t WEEK_ANCHOR_NS = 4 * 86400 * 1_000_000_000
WEEK_ANCHOR = WEEK_ANCHOR_NS

TIMEFRAMES = tuple(Timeframe)
REASONS = ("price", "qty", "symbol", "out_of_order")
DEFAULT_MAX_GAP_FILL = 100_000

BAR_DTYPE = np.dtype([
    ("timeframe_s", "<i4"), ("closed", "<i4"), ("open_ns", "<i8"), ("close_ns", "<i8"),
    ("open", "<i8"), ("high", "<i8"), ("low", "<i8"), ("close", "<i8"),
    ("volume", "<i8"), ("quote_volume", "<i8"), ("count", "<i8"),
    ("taker_buy_volume", "<i8"), ("taker_buy_quote_volume", "<i8"), ("vwap", "<i8"),
])
assert BAR_DTYPE.itemsize == sizeof(Bar)


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


@cython.cdivision(True)
cdef inline int64_t _period_start(int64_t ts, int64_t length) noexcept nogil:
    cdef int64_t r = (ts - WEEK_ANCHOR_NS) % length
    if r < 0:
        r += length
    return ts - r


@cython.cdivision(True)
cdef inline int64_t _vwap(int64_t quote, int64_t volume, int64_t fallback) noexcept nogil:
    # Round half up without forming 2*quote, which could overflow int64.
    cdef int64_t q, r
    if volume <= 0:
        return fallback
    q = quote // volume
    r = quote - q * volume
    if 2 * r >= volume:
        q += 1
    return q


cdef inline void _fold(Bar* into, const Bar* part) noexcept nogil:
    # part is later in time than everything already in into
    if part.high > into.high:
        into.high = part.high
    if part.low < into.low:
        into.low = part.low
    into.close = part.close
    into.volume += part.volume
    into.quote_volume += part.quote_volume
    into.count += part.count
    into.taker_buy_volume += part.taker_buy_volume
    into.taker_buy_quote_volume += part.taker_buy_quote_volume


cdef inline void _fold_trade(Bar* b, int64_t price, int64_t qty, bint is_buyer_maker) noexcept nogil:
    # one trade into the open base bar of its period (the streaming hot path)
    cdef int64_t quote = price * qty
    if price > b.high:
        b.high = price
    elif price < b.low:
        b.low = price
    b.close = price
    b.volume += qty
    b.quote_volume += quote
    b.count += 1
    if not is_buyer_maker:
        b.taker_buy_volume += qty
        b.taker_buy_quote_volume += quote


cdef class CandleAggregator:
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

    def __cinit__(self):
        self.out = NULL
        self.out_n = 0
        self.out_cap = 0

    def __init__(self, timeframes=TIMEFRAMES, int price_prec=2, int qty_prec=3, str symbol="",
                 bint gap_fill=True, bint emit_updates=False, int64_t max_gap_fill=DEFAULT_MAX_GAP_FILL):
        if not 0 <= price_prec <= 18 or not 0 <= qty_prec <= 18:
            raise ValueError("price_prec and qty_prec must be in 0..18")
        if max_gap_fill < 0:
            raise ValueError("max_gap_fill must be >= 0")
        tfs = resolve_timeframes(timeframes)
        self.timeframes = tfs
        self.symbol = symbol
        self.price_prec = price_prec
        self.qty_prec = qty_prec
        self.gap_fill = gap_fill
        self.emit_updates = emit_updates
        self.max_gap_fill = max_gap_fill
        base_s = math.gcd(*[int(t) for t in tfs])
        lengths = [int(t) for t in tfs]
        cdef int i = 0
        if base_s != lengths[0]:
            # none of the requested timeframes divides all others (e.g. 3m + 5m):
            # track their gcd as an internal base that is never emitted
            self.length_ns[0] = base_s * 1_000_000_000
            self.emitted[0] = False
            i = 1
        for s in lengths:
            self.length_ns[i] = s * 1_000_000_000
            self.emitted[i] = True
            i += 1
        self.nslots = i
        for i in range(self.nslots):
            self.is_open[i] = False
            self.has_close[i] = False
            self.last_close[i] = 0
            self.next_ns[i] = 0
        for i in range(N_REASONS_C):
            self.rejected_[i] = 0
        self.min_ts = INT64_MIN
        self.accepted = 0
        self.unfilled_gaps = 0

    def __dealloc__(self):
        free(self.out)

    @property
    def rejections(self):
        """Rejected trades per reason: {"price", "qty", "symbol", "out_of_order"}."""
        return {REASONS[i]: self.rejected_[i] for i in range(N_REASONS_C)}

    @property
    def pending(self):
        """Bars emitted and not yet drained."""
        return self.out_n

    # -- output buffer -------------------------------------------------------

    cdef Bar* _slot_out(self) except NULL:
        cdef Py_ssize_t cap
        cdef Bar* grown
        if self.out_n == self.out_cap:
            cap = self.out_cap * 2 if self.out_cap else 64
            grown = <Bar*>realloc(self.out, cap * sizeof(Bar))
            if grown == NULL:
                raise MemoryError("candle output buffer")
            self.out = grown
            self.out_cap = cap
        self.out_n += 1
        return &self.out[self.out_n - 1]

    cdef int _emit(self, int i) except -1:
        """Close slot i's bar: publish it if requested, remember its close."""
        cdef Bar* b = &self.acc[i]
        cdef Bar* o
        self.is_open[i] = False
        self.has_close[i] = True
        self.last_close[i] = b.close
        self.next_ns[i] = b.open_ns + self.length_ns[i]
        if self.emitted[i]:
            o = self._slot_out()
            o[0] = b[0]
            o.closed = 1
            o.vwap = _vwap(b.quote_volume, b.volume, b.close)
        return 0

    cdef int _roll(self, int i, int64_t target) except -1:
        """Bring slot i up to the period starting at target: close an older bar,
        then fill the empty periods before target."""
        cdef int64_t length = self.length_ns[i]
        cdef int64_t n, start
        cdef Bar* o
        if self.is_open[i]:
            if self.acc[i].open_ns >= target:
                return 0
            self._emit(i)
        if not self.has_close[i] or self.next_ns[i] >= target:
            return 0
        if not (self.gap_fill and self.emitted[i]):
            self.next_ns[i] = target
            return 0
        n = (target - self.next_ns[i]) // length
        if n > self.max_gap_fill:
            self.unfilled_gaps += 1
            self.next_ns[i] = target
            return 0
        start = self.next_ns[i]
        while start < target:
            o = self._slot_out()
            o.timeframe_s = <int32_t>(length // 1_000_000_000)
            o.closed = 1
            o.open_ns = start
            o.close_ns = start + length - 1
            o.open = o.high = o.low = o.close = o.vwap = self.last_close[i]
            o.volume = o.quote_volume = o.count = 0
            o.taker_buy_volume = o.taker_buy_quote_volume = 0
            start += length
        self.next_ns[i] = target
        return 0

    cdef int _close_base(self) except -1:
        """The base bar's period is over: fold it into every coarser bar, emit it."""
        cdef Bar* base = &self.acc[0]
        cdef int64_t start
        cdef int i
        for i in range(1, self.nslots):
            if self.is_open[i] and base.open_ns < self.acc[i].open_ns + self.length_ns[i]:
                # the common case: same coarse period, no division needed
                _fold(&self.acc[i], base)
                continue
            start = _period_start(base.open_ns, self.length_ns[i])
            self._roll(i, start)
            if self.is_open[i]:
                _fold(&self.acc[i], base)
            else:
                self.acc[i] = base[0]
                self.acc[i].open_ns = start
                self.acc[i].close_ns = start + self.length_ns[i] - 1
                self.acc[i].timeframe_s = <int32_t>(self.length_ns[i] // 1_000_000_000)
                self.is_open[i] = True
        self._emit(0)
        return 0

    cdef int advance_c(self, int64_t until_ns) except -1:
        """Close every bar that ends at or before until_ns, filling gaps."""
        cdef int i
        cdef int64_t base_start
        if self.is_open[0] and self.acc[0].open_ns + self.length_ns[0] <= until_ns:
            self._close_base()
        for i in range(self.nslots):
            # skip the division when nothing of slot i can end by until_ns
            if self.is_open[i]:
                if until_ns < self.acc[i].open_ns + self.length_ns[i]:
                    continue
            elif not self.has_close[i] or until_ns < self.next_ns[i] + self.length_ns[i]:
                continue
            self._roll(i, _period_start(until_ns, self.length_ns[i]))
        base_start = _period_start(until_ns, self.length_ns[0])
        if base_start > self.min_ts:
            self.min_ts = base_start
        return 0

    # -- trades --------------------------------------------------------------

    cdef int update_c(self, int64_t ts_ns, int64_t price, int64_t qty, bint is_buyer_maker) except -1:
        cdef Bar* b = &self.acc[0]
        cdef int64_t quote
        if ts_ns < self.min_ts:
            self.rejected_[REJECT_OUT_OF_ORDER_C] += 1
            return 1
        if self.is_open[0] and ts_ns < b.open_ns + self.length_ns[0]:
            _fold_trade(b, price, qty, is_buyer_maker)
        else:
            quote = price * qty
            self.advance_c(ts_ns)
            b.timeframe_s = <int32_t>(self.length_ns[0] // 1_000_000_000)
            b.closed = 0
            b.open_ns = _period_start(ts_ns, self.length_ns[0])
            b.close_ns = b.open_ns + self.length_ns[0] - 1
            b.open = b.high = b.low = b.close = b.vwap = price
            b.volume = qty
            b.quote_volume = quote
            b.count = 1
            b.taker_buy_volume = 0 if is_buyer_maker else qty
            b.taker_buy_quote_volume = 0 if is_buyer_maker else quote
            self.is_open[0] = True
            self.min_ts = b.open_ns
        self.accepted += 1
        return 0

    cdef int _after_call(self) except -1:
        if self.emit_updates:
            self._append_snapshot()
        return 0

    cdef int _reject(self, int reason, str message) except -1:
        self.rejected_[reason] += 1
        raise CandleError(REASONS[reason], message)

    cpdef int update(self, int64_t ts_ns, int64_t price, int64_t qty, bint is_buyer_maker) except -1:
        """Apply one trade (fixed-point price and size, ts in ns). Returns the
        number of bars this call emitted. CandleError (counted) for a price
        or size not > 0, or a trade before the open base period."""
        if price <= 0:
            self._reject(REJECT_PRICE_C, f"price must be > 0, got {price}")
        if qty <= 0:
            self._reject(REJECT_QTY_C, f"size must be > 0, got {qty}")
        cdef Py_ssize_t before = self.out_n
        if self.update_c(ts_ns, price, qty, is_buyer_maker):
            raise CandleError("out_of_order",
                              f"trade at {ts_ns} ns is before the open period starting {self.min_ts} ns")
        if self.emit_updates:
            self._append_snapshot()
        return <int>(self.out_n - before)

    cpdef int update_text(self, str symbol, int64_t ts_ns, object price, object qty,
                          bint is_buyer_maker) except -1:
        """Apply one trade as the exchange sent it: decimal strings (str or bytes)
        for price and size, parsed exactly. CandleError (counted) for another
        symbol, text that is not a decimal, values not > 0, or out of order."""
        cdef const char* s
        cdef Py_ssize_t n
        cdef int ok = 0
        cdef int64_t p = 0, q = 0
        if self.symbol and symbol != self.symbol:
            self._reject(REJECT_SYMBOL_C, f"trade for {symbol!r}, aggregator is for {self.symbol!r}")
        if isinstance(price, str):
            s = PyUnicode_AsUTF8AndSize(price, &n)
            p = parse_fixed_c(s, n, self.price_prec, &ok)
        elif isinstance(price, bytes):
            p = parse_fixed_c(PyBytes_AS_STRING(price), PyBytes_GET_SIZE(price), self.price_prec, &ok)
        if not ok:
            self._reject(REJECT_PRICE_C, f"price is not a decimal with at most "
                                         f"{self.price_prec} places: {price!r}")
        ok = 0
        if isinstance(qty, str):
            s = PyUnicode_AsUTF8AndSize(qty, &n)
            q = parse_fixed_c(s, n, self.qty_prec, &ok)
        elif isinstance(qty, bytes):
            q = parse_fixed_c(PyBytes_AS_STRING(qty), PyBytes_GET_SIZE(qty), self.qty_prec, &ok)
        if not ok:
            self._reject(REJECT_QTY_C, f"size is not a decimal with at most "
                                       f"{self.qty_prec} places: {qty!r}")
        return self.update(ts_ns, p, q, is_buyer_maker)

    cpdef int update_batch(self, object ts_ns, object price, object qty, object is_buyer_maker) except -1:
        """Apply a batch of trades given as equal-length arrays (int64 ns, int64
        fixed-point price and size, bool buyer-is-maker). Bad rows are skipped
        and counted in ``rejections``; returns the number of bars emitted."""
        cols = trade_columns(ts_ns, price, qty, is_buyer_maker)
        cdef const int64_t[::1] ts = cols[0]
        cdef const int64_t[::1] px = cols[1]
        cdef const int64_t[::1] qt = cols[2]
        cdef const uint8_t[::1] mk = cols[3].view(np.uint8)
        cdef Py_ssize_t n = ts.shape[0]
        cdef Py_ssize_t before = self.out_n
        self._apply_batch(&ts[0] if n else NULL, &px[0] if n else NULL,
                          &qt[0] if n else NULL, &mk[0] if n else NULL, n)
        if self.emit_updates:
            self._append_snapshot()
        return <int>(self.out_n - before)

    @cython.boundscheck(False)
    @cython.wraparound(False)
    cdef int _apply_batch(self, const int64_t* ts, const int64_t* px, const int64_t* qt,
                          const uint8_t* mk, Py_ssize_t n) except -1:
        # Measured loop (bench/bench_candles.py): the in-period case is inlined,
        # a period change goes through update_c.
        cdef Py_ssize_t k
        cdef Bar* b = &self.acc[0]
        cdef int64_t t, p, q, end = b.open_ns + self.length_ns[0] if self.is_open[0] else 0
        cdef bint inside
        for k in range(n):
            t = ts[k]
            p = px[k]
            q = qt[k]
            if p <= 0:
                self.rejected_[REJECT_PRICE_C] += 1
                continue
            if q <= 0:
                self.rejected_[REJECT_QTY_C] += 1
                continue
            if self.is_open[0] and self.min_ts <= t < end:
                _fold_trade(b, p, q, mk[k])
                self.accepted += 1
            else:
                self.update_c(t, p, q, mk[k])
                end = b.open_ns + self.length_ns[0]
        return 0

    cpdef int flush(self, int64_t until_ns) except -1:
        """Advance the clock to until_ns with no trades: close every bar that
        ends at or before it (gap-filling empty periods). Trades before the
        base period containing until_ns are rejected afterwards."""
        cdef Py_ssize_t before = self.out_n
        self.advance_c(until_ns)
        if self.emit_updates:
            self._append_snapshot()
        return <int>(self.out_n - before)

    # -- output ---------------------------------------------------------------

    cpdef object drain(self):
        """Take the emitted bars (BAR_DTYPE array, emission order) and clear the output."""
        cdef object arr = np.empty(self.out_n, dtype=BAR_DTYPE)
        cdef unsigned char[::1] raw
        if self.out_n:
            raw = arr.view(np.uint8)
            memcpy(&raw[0], self.out, self.out_n * sizeof(Bar))
        self.out_n = 0
        return arr

    cdef int _snapshot_into(self, int i, Bar* o) noexcept:
        """The in-progress bar of slot i, base bar folded in; 0 when there is none."""
        cdef Bar* base = &self.acc[0]
        cdef int64_t start
        if i == 0:
            if not self.is_open[0]:
                return 0
            o[0] = base[0]
        else:
            if self.is_open[0]:
                start = _period_start(base.open_ns, self.length_ns[i])
            if self.is_open[i]:
                o[0] = self.acc[i]
                if self.is_open[0] and start == o.open_ns:
                    _fold(o, base)
            elif self.is_open[0]:
                o[0] = base[0]
                o.open_ns = start
                o.close_ns = start + self.length_ns[i] - 1
                o.timeframe_s = <int32_t>(self.length_ns[i] // 1_000_000_000)
            else:
                return 0
        o.closed = 0
        o.vwap = _vwap(o.quote_volume, o.volume, o.close)
        return 1

    cdef int _append_snapshot(self) except -1:
        cdef Bar tmp
        cdef int i
        for i in range(self.nslots):
            if self.emitted[i] and self._snapshot_into(i, &tmp):
                self._slot_out()[0] = tmp
        return 0

    cpdef object snapshot(self):
        """The bars in progress (closed=0), one per timeframe that has one, ascending."""
        cdef Bar tmp
        cdef int i
        rows = []
        for i in range(self.nslots):
            if self.emitted[i] and self._snapshot_into(i, &tmp):
                rows.append((tmp.timeframe_s, 0, tmp.open_ns, tmp.close_ns, tmp.open, tmp.high,
                             tmp.low, tmp.close, tmp.volume, tmp.quote_volume, tmp.count,
                             tmp.taker_buy_volume, tmp.taker_buy_quote_volume, tmp.vwap))
        return np.array(rows, dtype=BAR_DTYPE)


def aggregate(ts_ns, price, qty, is_buyer_maker, timeframes=TIMEFRAMES, *, int price_prec=2,
              int qty_prec=3, bint gap_fill=True, bint include_open=True):
    """Batch API: all bars of ``timeframes`` for arrays of trades, as a BAR_DTYPE
    array (closed bars, then with ``include_open`` the bars still in progress,
    closed=0). Select one timeframe with ``bars[bars["timeframe_s"] == 60]``."""
    agg = CandleAggregator(timeframes, price_prec, qty_prec, "", gap_fill, False)
    agg.update_batch(ts_ns, price, qty, is_buyer_maker)
    bars = agg.drain()
    if include_open:
        bars = np.concatenate([bars, agg.snapshot()])
    return bars

# cython: language_level=3
"""Rolling order-flow features over several time windows at once.

Per window (e.g. 10 s and 180 s): taker buy and sell volume and notional,
delta and delta ratio, VWAP, first and last price, large trades by notional,
and absorption; across all time, the cumulative volume delta (``cvd``).

Definitions (taker side from Binance's ``m``: buyer is maker means the taker sold):

* ``delta = buy_volume - sell_volume``; ``delta_ratio = buy / (buy + sell)``
  (NaN for an empty window).
* A trade is *large* when ``price * qty >= large_notional`` (0 turns it off).
* ``absorption = delta / (1 + progress)`` where ``progress`` is how many
  ``tick`` steps the price moved from the window's first to its last trade
  *in the direction of the delta* (0 if it moved against it). It is in qty
  fixed-point units, signed like the delta. Heavy one-sided aggression that
  did not move the price (passive liquidity soaked it up) keeps
  ``|absorption|`` close to ``|delta|``; aggression that moved the price
  shrinks it toward 0.

Time resolution: trades fall into buckets of ``bucket_ms``; a window of W
seconds covers the current bucket and the W/bucket - 1 before it. Each
window keeps running sums of its closed buckets, adds a bucket when it
closes and subtracts it once when it leaves: O(1) amortised per trade and
per elapsed bucket, never a scan over the window's trades.

A trade timed before the current bucket is rejected and counted (it would
belong to buckets already summed); so are prices and sizes not > 0. The
streaming ``update`` raises FlowError after counting; ``update_batch`` skips
and counts the row.
"""
cimport cython
from libc.math cimport NAN
from libc.stdint cimport INT64_MIN, int64_t, uint8_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset

import numpy as np

from barfinex.columns import trade_columns

REASONS = ("price", "qty", "out_of_order")

FLOW_DTYPE = np.dtype([
    ("window_ns", "<i8"), ("buy_volume", "<i8"), ("sell_volume", "<i8"), ("delta", "<i8"),
    ("buy_quote", "<i8"), ("sell_quote", "<i8"), ("count", "<i8"), ("vwap", "<i8"),
    ("first_price", "<i8"), ("last_price", "<i8"),
    ("large_buy_count", "<i8"), ("large_sell_count", "<i8"),
    ("large_buy_volume", "<i8"), ("large_sell_volume", "<i8"),
    ("delta_ratio", "<f8"), ("absorption", "<f8"),
])
assert FLOW_DTYPE.itemsize == sizeof(FlowWindow)


class FlowError(ValueError):
    """A trade the order-flow tracker refused; ``reason`` is one of REASONS."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


@cython.cdivision(True)
cdef inline int64_t _floor_div(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


@cython.cdivision(True)
cdef inline int64_t _slot(int64_t bucket_id, int64_t n) noexcept nogil:
    cdef int64_t r = bucket_id % n
    return r + n if r < 0 else r


def _window_lengths(windows_s, int64_t bucket_ns):
    out = []
    for w in windows_s:
        ns = int(round(float(w) * 1e9))
        if ns <= 0 or ns % bucket_ns:
            raise ValueError(f"window {w!r} s must be a positive multiple of the "
                             f"{bucket_ns // 1_000_000} ms bucket")
        out.append(ns)
    if not out:
        raise ValueError("no windows given")
    if len(out) > MAX_WINDOWS_C:
        raise ValueError(f"at most {MAX_WINDOWS_C} windows")
    return tuple(out)


cdef class OrderFlow:
    """Rolling order-flow features for one symbol's trades.

    ``OrderFlow(windows_s=(10, 180), bucket_ms=100, large_notional=0, tick=1)``
    with ``large_notional`` in quote fixed point (price_prec + qty_prec
    decimals) and ``tick`` in price fixed point. Feed trades with ``update``
    or ``update_batch``; ``advance(now_ns)`` ages the windows on a quiet
    market; ``features()`` reads every window (FLOW_DTYPE, one row each).
    """

    def __cinit__(self):
        self.ring = NULL

    def __init__(self, windows_s=(10, 180), int64_t bucket_ms=100, int64_t large_notional=0,
                 int64_t tick=1):
        if bucket_ms <= 0:
            raise ValueError("bucket_ms must be > 0")
        if tick <= 0:
            raise ValueError("tick must be > 0")
        if large_notional < 0:
            raise ValueError("large_notional must be >= 0 (0 turns large trades off)")
        self.bucket_ns = bucket_ms * 1_000_000
        self.windows_ns = _window_lengths(windows_s, self.bucket_ns)
        self.large_notional = large_notional
        self.tick = tick
        self.nwin = len(self.windows_ns)
        cdef int w
        cdef int64_t longest = 0
        for w in range(self.nwin):
            self.span[w] = self.windows_ns[w] // self.bucket_ns
            longest = max(longest, self.span[w])
            self.tail[w] = 0
            memset(&self.sums[w], 0, sizeof(FlowSums))
        # one slot more than the longest window, so a bucket still counted is
        # never overwritten before it leaves
        self.ring_n = longest + 1
        free(self.ring)
        self.ring = <FlowSums*>calloc(self.ring_n, sizeof(FlowSums))
        if self.ring == NULL:
            raise MemoryError("order-flow ring")
        for w in range(self.ring_n):
            self.ring[w].id = INT64_MIN
        self.head = INT64_MIN
        self.head_start = self.head_end = 0
        self.head_bucket = NULL
        self.cvd = 0
        self.accepted = 0
        self.last_price = 0
        self.rejected_[0] = self.rejected_[1] = self.rejected_[2] = 0

    def __dealloc__(self):
        free(self.ring)

    @property
    def rejections(self):
        """Rejected trades per reason: {"price", "qty", "out_of_order"}."""
        return {REASONS[i]: self.rejected_[i] for i in range(3)}

    cdef void _bucket_sums(self, FlowSums* into, const FlowSums* b, int64_t sign) noexcept:
        into.buy_volume += sign * b.buy_volume
        into.sell_volume += sign * b.sell_volume
        into.buy_quote += sign * b.buy_quote
        into.sell_quote += sign * b.sell_quote
        into.count += sign * b.count
        into.large_buy_count += sign * b.large_buy_count
        into.large_sell_count += sign * b.large_sell_count
        into.large_buy_volume += sign * b.large_buy_volume
        into.large_sell_volume += sign * b.large_sell_volume

    cdef int _leave(self, int w, int64_t new_head) noexcept:
        """Subtract the buckets that fall out of window w when new_head opens."""
        cdef int64_t keep_from = new_head - self.span[w] + 1
        cdef int64_t t = self.tail[w]
        cdef FlowSums* s
        cdef int64_t k
        if keep_from - t > self.ring_n:
            # every bucket the window counted has left: no need to walk them
            memset(&self.sums[w], 0, sizeof(FlowSums))
            t = keep_from
        k = _slot(t, self.ring_n)
        while t < keep_from:
            s = &self.ring[k]
            if s.id == t and s.count:
                self._bucket_sums(&self.sums[w], s, -1)
            t += 1
            k += 1
            if k == self.ring_n:
                k = 0
        # skip closed empty buckets so tail names the window's first trade
        while t < new_head:
            s = &self.ring[k]
            if s.id == t and s.count:
                break
            t += 1
            k += 1
            if k == self.ring_n:
                k = 0
        self.tail[w] = t
        return 0

    cdef int _open_bucket(self, int64_t bucket_id) except -1:
        cdef FlowSums* old
        cdef FlowSums* s
        cdef int w
        if self.head != INT64_MIN:
            old = &self.ring[_slot(self.head, self.ring_n)]
            for w in range(self.nwin):
                if old.count:
                    self._bucket_sums(&self.sums[w], old, 1)
                self._leave(w, bucket_id)
        else:
            for w in range(self.nwin):
                self.tail[w] = bucket_id
        s = &self.ring[_slot(bucket_id, self.ring_n)]
        memset(s, 0, sizeof(FlowSums))
        s.id = bucket_id
        self.head = bucket_id
        self.head_start = bucket_id * self.bucket_ns
        self.head_end = self.head_start + self.bucket_ns
        self.head_bucket = s
        return 0

    cdef int update_c(self, int64_t ts_ns, int64_t price, int64_t qty, bint is_buyer_maker) except -1:
        cdef FlowSums* b
        cdef int64_t quote
        cdef bint large
        # head_start == head_end == 0 before the first trade, so this also opens the first bucket
        if not (self.head_start <= ts_ns < self.head_end):
            if self.head != INT64_MIN and ts_ns < self.head_start:
                self.rejected_[FLOW_REJECT_OUT_OF_ORDER_C] += 1
                return 1
            self._open_bucket(_floor_div(ts_ns, self.bucket_ns))
        b = self.head_bucket
        if b.count == 0:
            b.first_price = price
        quote = price * qty
        large = self.large_notional > 0 and quote >= self.large_notional
        b.count += 1
        if is_buyer_maker:
            b.sell_volume += qty
            b.sell_quote += quote
            self.cvd -= qty
            if large:
                b.large_sell_count += 1
                b.large_sell_volume += qty
        else:
            b.buy_volume += qty
            b.buy_quote += quote
            self.cvd += qty
            if large:
                b.large_buy_count += 1
                b.large_buy_volume += qty
        self.last_price = price
        self.accepted += 1
        return 0

    cdef int advance_c(self, int64_t now_ns) except -1:
        cdef int64_t bucket_id = _floor_div(now_ns, self.bucket_ns)
        if self.head != INT64_MIN and bucket_id > self.head:
            self._open_bucket(bucket_id)
        return 0

    cpdef int update(self, int64_t ts_ns, int64_t price, int64_t qty, bint is_buyer_maker) except -1:
        """Apply one trade (fixed-point price and size, ts in ns). FlowError
        (counted) for a price or size not > 0, or a trade before the current bucket."""
        if price <= 0:
            self.rejected_[FLOW_REJECT_PRICE_C] += 1
            raise FlowError("price", f"price must be > 0, got {price}")
        if qty <= 0:
            self.rejected_[FLOW_REJECT_QTY_C] += 1
            raise FlowError("qty", f"size must be > 0, got {qty}")
        if self.update_c(ts_ns, price, qty, is_buyer_maker):
            raise FlowError("out_of_order", f"trade at {ts_ns} ns is before the current "
                                            f"bucket starting {self.head * self.bucket_ns} ns")
        return 0

    @cython.boundscheck(False)
    @cython.wraparound(False)
    cpdef int update_batch(self, object ts_ns, object price, object qty, object is_buyer_maker) except -1:
        """Apply a batch of trades (equal-length arrays: int64 ns, int64 fixed-point
        price and size, bool buyer-is-maker). Bad rows are skipped and counted.
        Returns the number of rows applied."""
        cols = trade_columns(ts_ns, price, qty, is_buyer_maker)
        cdef const int64_t[::1] ts = cols[0]
        cdef const int64_t[::1] px = cols[1]
        cdef const int64_t[::1] qt = cols[2]
        cdef const uint8_t[::1] mk = cols[3].view(np.uint8)
        cdef Py_ssize_t n = ts.shape[0], k
        cdef int applied = 0
        for k in range(n):
            if px[k] <= 0:
                self.rejected_[FLOW_REJECT_PRICE_C] += 1
            elif qt[k] <= 0:
                self.rejected_[FLOW_REJECT_QTY_C] += 1
            elif self.update_c(ts[k], px[k], qt[k], mk[k]) == 0:
                applied += 1
        return applied

    cpdef int advance(self, int64_t now_ns) except -1:
        """Age the windows to now_ns with no trades (a quiet market). Later
        trades timed before now_ns's bucket are rejected."""
        return self.advance_c(now_ns)

    @cython.cdivision(True)
    cdef void window_c(self, int w, FlowWindow* out) noexcept:
        cdef FlowSums s = self.sums[w]
        cdef FlowSums* cur
        cdef FlowSums* first
        cdef int64_t volume, quote, q, r, progress
        memset(out, 0, sizeof(FlowWindow))
        out.window_ns = self.span[w] * self.bucket_ns
        out.delta_ratio = NAN
        if self.head == INT64_MIN:
            return
        cur = &self.ring[_slot(self.head, self.ring_n)]
        self._bucket_sums(&s, cur, 1)
        out.buy_volume = s.buy_volume
        out.sell_volume = s.sell_volume
        out.delta = s.buy_volume - s.sell_volume
        out.buy_quote = s.buy_quote
        out.sell_quote = s.sell_quote
        out.count = s.count
        out.large_buy_count = s.large_buy_count
        out.large_sell_count = s.large_sell_count
        out.large_buy_volume = s.large_buy_volume
        out.large_sell_volume = s.large_sell_volume
        if s.count == 0:
            return
        volume = s.buy_volume + s.sell_volume
        quote = s.buy_quote + s.sell_quote
        q = quote // volume
        r = quote - q * volume
        out.vwap = q + 1 if 2 * r >= volume else q
        out.delta_ratio = <double>s.buy_volume / <double>volume
        first = &self.ring[_slot(self.tail[w], self.ring_n)]
        out.first_price = first.first_price if self.tail[w] < self.head else cur.first_price
        out.last_price = self.last_price
        progress = out.last_price - out.first_price
        if out.delta < 0:
            progress = -progress
        if progress < 0 or out.delta == 0:
            progress = 0
        out.absorption = <double>out.delta / (1.0 + <double>progress / <double>self.tick)

    cpdef object features(self):
        """Every window's features now: a FLOW_DTYPE array, one row per window
        in the order given."""
        cdef object arr = np.empty(self.nwin, dtype=FLOW_DTYPE)
        cdef unsigned char[::1] raw = arr.view(np.uint8)
        cdef FlowWindow fw
        cdef int w
        for w in range(self.nwin):
            self.window_c(w, &fw)
            memcpy(&raw[w * sizeof(FlowWindow)], &fw, sizeof(FlowWindow))
        return arr

"""Pure-Python twin of barfinex/_fast/orderflow.pyx: same API, same features.

See the Cython module for the definitions (delta ratio, large trades,
absorption) and the bucketed windows.
"""
from __future__ import annotations

import math

import numpy as np

from barfinex.columns import trade_columns

REASONS = ("price", "qty", "out_of_order")
MAX_WINDOWS = 8
_NONE = -(2 ** 63)

FLOW_DTYPE = np.dtype([
    ("window_ns", "<i8"), ("buy_volume", "<i8"), ("sell_volume", "<i8"), ("delta", "<i8"),
    ("buy_quote", "<i8"), ("sell_quote", "<i8"), ("count", "<i8"), ("vwap", "<i8"),
    ("first_price", "<i8"), ("last_price", "<i8"),
    ("large_buy_count", "<i8"), ("large_sell_count", "<i8"),
    ("large_buy_volume", "<i8"), ("large_sell_volume", "<i8"),
    ("delta_ratio", "<f8"), ("absorption", "<f8"),
])

# Bucket / sums as a list: id, then the summed fields, then first_price.
ID, BUY_V, SELL_V, BUY_Q, SELL_Q, COUNT, LB_N, LS_N, LB_V, LS_V, FIRST = range(11)
_SUMMED = range(BUY_V, FIRST)


class FlowError(ValueError):
    """A trade the order-flow tracker refused; ``reason`` is one of REASONS."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def _window_lengths(windows_s, bucket_ns):
    out = []
    for w in windows_s:
        ns = int(round(float(w) * 1e9))
        if ns <= 0 or ns % bucket_ns:
            raise ValueError(f"window {w!r} s must be a positive multiple of the "
                             f"{bucket_ns // 1_000_000} ms bucket")
        out.append(ns)
    if not out:
        raise ValueError("no windows given")
    if len(out) > MAX_WINDOWS:
        raise ValueError(f"at most {MAX_WINDOWS} windows")
    return tuple(out)


def _empty(bucket_id=_NONE):
    return [bucket_id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]


class OrderFlow:
    """Rolling order-flow features for one symbol's trades.

    ``OrderFlow(windows_s=(10, 180), bucket_ms=100, large_notional=0, tick=1)``
    with ``large_notional`` in quote fixed point (price_prec + qty_prec
    decimals) and ``tick`` in price fixed point. Feed trades with ``update``
    or ``update_batch``; ``advance(now_ns)`` ages the windows on a quiet
    market; ``features()`` reads every window (FLOW_DTYPE, one row each).
    """

    def __init__(self, windows_s=(10, 180), bucket_ms=100, large_notional=0, tick=1):
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
        self._span = [w // self.bucket_ns for w in self.windows_ns]
        self._tail = [0] * len(self._span)
        self._sums = [_empty() for _ in self._span]
        self._ring_n = max(self._span) + 1
        self._ring = [_empty() for _ in range(self._ring_n)]
        self._head = _NONE
        self.cvd = 0
        self.accepted = 0
        self._last_price = 0
        self._rejected = [0, 0, 0]

    @property
    def rejections(self):
        """Rejected trades per reason: {"price", "qty", "out_of_order"}."""
        return dict(zip(REASONS, self._rejected))

    def _leave(self, w, new_head):
        keep_from = new_head - self._span[w] + 1
        t = self._tail[w]
        sums = self._sums[w]
        if keep_from - t > self._ring_n:
            self._sums[w] = _empty()
            t = keep_from
        else:
            while t < keep_from:
                s = self._ring[t % self._ring_n]
                if s[ID] == t and s[COUNT]:
                    for f in _SUMMED:
                        sums[f] -= s[f]
                t += 1
        while t < new_head:
            s = self._ring[t % self._ring_n]
            if s[ID] == t and s[COUNT]:
                break
            t += 1
        self._tail[w] = t

    def _open_bucket(self, bucket_id):
        if self._head != _NONE:
            old = self._ring[self._head % self._ring_n]
            for w in range(len(self._span)):
                if old[COUNT]:
                    sums = self._sums[w]
                    for f in _SUMMED:
                        sums[f] += old[f]
                self._leave(w, bucket_id)
        else:
            self._tail = [bucket_id] * len(self._span)
        self._ring[bucket_id % self._ring_n] = _empty(bucket_id)
        self._head = bucket_id

    def _apply(self, ts_ns, price, qty, is_buyer_maker):
        bucket_id = ts_ns // self.bucket_ns
        if bucket_id != self._head:
            if bucket_id < self._head:
                self._rejected[2] += 1
                return False
            self._open_bucket(bucket_id)
        b = self._ring[bucket_id % self._ring_n]
        if b[COUNT] == 0:
            b[FIRST] = price
        quote = price * qty
        large = self.large_notional > 0 and quote >= self.large_notional
        b[COUNT] += 1
        if is_buyer_maker:
            b[SELL_V] += qty
            b[SELL_Q] += quote
            self.cvd -= qty
            if large:
                b[LS_N] += 1
                b[LS_V] += qty
        else:
            b[BUY_V] += qty
            b[BUY_Q] += quote
            self.cvd += qty
            if large:
                b[LB_N] += 1
                b[LB_V] += qty
        self._last_price = price
        self.accepted += 1
        return True

    def update(self, ts_ns, price, qty, is_buyer_maker):
        """Apply one trade (fixed-point price and size, ts in ns). FlowError
        (counted) for a price or size not > 0, or a trade before the current bucket."""
        if price <= 0:
            self._rejected[0] += 1
            raise FlowError("price", f"price must be > 0, got {price}")
        if qty <= 0:
            self._rejected[1] += 1
            raise FlowError("qty", f"size must be > 0, got {qty}")
        if not self._apply(ts_ns, price, qty, is_buyer_maker):
            raise FlowError("out_of_order", f"trade at {ts_ns} ns is before the current "
                                            f"bucket starting {self._head * self.bucket_ns} ns")
        return 0

    def update_batch(self, ts_ns, price, qty, is_buyer_maker):
        """Apply a batch of trades (equal-length arrays: int64 ns, int64 fixed-point
        price and size, bool buyer-is-maker). Bad rows are skipped and counted.
        Returns the number of rows applied."""
        ts, px, qt, mk = trade_columns(ts_ns, price, qty, is_buyer_maker)
        applied = 0
        for t, p, q, m in zip(ts.tolist(), px.tolist(), qt.tolist(), mk.tolist()):
            if p <= 0:
                self._rejected[0] += 1
            elif q <= 0:
                self._rejected[1] += 1
            elif self._apply(t, p, q, m):
                applied += 1
        return applied

    def advance(self, now_ns):
        """Age the windows to now_ns with no trades (a quiet market). Later
        trades timed before now_ns's bucket are rejected."""
        bucket_id = now_ns // self.bucket_ns
        if self._head != _NONE and bucket_id > self._head:
            self._open_bucket(bucket_id)
        return 0

    def _window(self, w):
        window_ns = self._span[w] * self.bucket_ns
        if self._head == _NONE:
            return (window_ns,) + (0,) * 13 + (math.nan, 0.0)
        cur = self._ring[self._head % self._ring_n]
        s = [a + b for a, b in zip(self._sums[w], cur)]
        buy, sell, count = s[BUY_V], s[SELL_V], s[COUNT]
        delta = buy - sell
        vwap = first = last = 0
        ratio, absorption = math.nan, 0.0
        if count:
            volume, quote = buy + sell, s[BUY_Q] + s[SELL_Q]
            q, r = divmod(quote, volume)
            vwap = q + 1 if 2 * r >= volume else q
            ratio = buy / volume
            tail = self._tail[w]
            first = self._ring[tail % self._ring_n][FIRST] if tail < self._head else cur[FIRST]
            last = self._last_price
            progress = last - first
            if delta < 0:
                progress = -progress
            if progress < 0 or delta == 0:
                progress = 0
            absorption = delta / (1.0 + progress / self.tick)
        return (window_ns, buy, sell, delta, s[BUY_Q], s[SELL_Q], count, vwap, first, last,
                s[LB_N], s[LS_N], s[LB_V], s[LS_V], ratio, absorption)

    def features(self):
        """Every window's features now: a FLOW_DTYPE array, one row per window
        in the order given."""
        return np.array([self._window(w) for w in range(len(self._span))], dtype=FLOW_DTYPE)

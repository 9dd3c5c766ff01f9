"""The Detector's view of one symbol's book and trade flow, for book.* and flow.*.

The book is a clone of the Provider's (the ZeroMQ guide's Clone pattern): the
Detector subscribes to the book deltas first, asks the Provider's ROUTER for a
snapshot stamped with the bus sequence it includes, drops deltas at or below
that sequence, applies the rest, and starts over on any sequence gap. It is
used only while the Provider says the book is VALID and the clone is synced;
otherwise every book feature is NaN and rules reading them do not fire.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

from barfinex import backend
from barfinex.model import BookDelta, BookState, BookStatus, Side, Trade

_orderbook = backend.load("orderbook")
_orderflow = backend.load("orderflow")

MAX_BUFFERED = 20_000     # deltas kept while a snapshot is on its way


class BookMirror:
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.book = None
        self.price_scale = self.qty_scale = 1.0
        self.provider_status = BookStatus.SYNCING
        self.synced = False
        self.snapshot_seq = 0
        self.last_seq = 0
        self.buffer: deque = deque(maxlen=MAX_BUFFERED)
        self.resyncs = 0
        self.applied = 0
        self.rejected = 0
        self.needs_snapshot = True

    @property
    def valid(self) -> bool:
        return self.synced and self.provider_status == BookStatus.VALID

    def on_state(self, state: BookState) -> None:
        self.provider_status = state.status

    def on_event(self, seq: int, msg) -> None:
        """One event of the book topic (deltas and top-of-book share its sequence)."""
        if not self.synced:
            self.buffer.append((seq, msg))
            return
        if seq <= self.snapshot_seq:
            return
        if seq != self.last_seq + 1:
            self.resync(f"bus sequence jumped from {self.last_seq} to {seq}")
            self.buffer.append((seq, msg))
            return
        self.last_seq = seq
        if isinstance(msg, BookDelta):
            self._apply(msg)

    def _apply(self, d: BookDelta) -> None:
        try:
            self.book.apply_diff(d.bids, d.asks, d.last_update_id)     # int mantissas, as published
            self.applied += 1
        except (ValueError, _orderbook.BookError) as exc:
            self.rejected += 1
            self.resync(f"delta {d.last_update_id} rejected: {exc}")

    def resync(self, why: str) -> None:
        if self.synced:
            self.resyncs += 1
        self.synced = False
        self.needs_snapshot = True
        self.resync_reason = why

    def on_snapshot(self, snap: dict) -> None:
        """Apply a Provider ``book`` reply, then the buffered deltas after it."""
        pp, qp = int(snap["price_prec"]), int(snap["qty_prec"])
        if self.book is None or self.book.price_decimals != pp or self.book.size_decimals != qp:
            self.book = _orderbook.OrderBook(self.symbol, pp, qp, 1, 1)
            self.price_scale, self.qty_scale = 10.0 ** -pp, 10.0 ** -qp
        self.book.apply_snapshot(snap["bids"], snap["asks"], int(snap["last_update_id"]))
        self.provider_status = BookStatus[snap["status"]]
        self.snapshot_seq = self.last_seq = int(snap["bus_seq"])
        self.synced, self.needs_snapshot = True, False
        pending, self.buffer = list(self.buffer), deque(maxlen=MAX_BUFFERED)
        for seq, msg in pending:
            if self.synced:
                self.on_event(seq, msg)

    # ------------------------------------------------------------ features
    def feature(self, name: str, arg: float) -> float:
        if not self.valid:
            return math.nan
        book = self.book
        if name in ("book.imbalance", "book.bid_depth", "book.ask_depth"):
            bids, asks = book.top(int(arg))
            b = sum(q for _, q in bids) * self.qty_scale
            a = sum(q for _, q in asks) * self.qty_scale
            if name == "book.bid_depth":
                return b
            if name == "book.ask_depth":
                return a
            return b / a if a > 0 else math.nan
        bp, bq, ap, aq = book.bbo()
        if not bq or not aq:
            return math.nan
        bid, ask = bp * self.price_scale, ap * self.price_scale
        if name == "book.best_bid":
            return bid
        if name == "book.best_ask":
            return ask
        if name == "book.mid":
            return (bid + ask) / 2
        if name == "book.spread":
            return ask - bid
        if name == "book.spread_bps":
            return (ask - bid) / ((bid + ask) / 2) * 1e4
        if name == "book.microprice":
            return book.microprice()
        raise KeyError(name)

    def mid(self) -> float:
        return self.feature("book.mid", 0)


class FlowWindows:
    """Rolling order-flow windows of one symbol's trades (barfinex/_fast/orderflow)."""

    def __init__(self, windows_s: list[float], large_notional: float = 0.0, bucket_s: float = 0.1) -> None:
        self.windows = sorted(windows_s) or [10.0]
        self.bucket_ms = max(1, int(round(bucket_s * 1000)))
        self.large_notional = large_notional
        self.flow = None
        self.tick: int | None = None     # the instrument's price step (mantissa), from the Provider
        self.price_scale = self.qty_scale = 1.0
        self.rejected = 0
        self.before_instrument = 0       # trades seen before the tick was known (absorption needs it)

    def on_trade(self, t: Trade) -> None:
        if self.flow is None:
            if self.tick is None:
                self.before_instrument += 1
                return
            self.price_scale, self.qty_scale = 10.0 ** -t.price_prec, 10.0 ** -t.qty_prec
            notional = int(round(self.large_notional * 10 ** (t.price_prec + t.qty_prec)))
            self.flow = _orderflow.OrderFlow(tuple(self.windows), self.bucket_ms, notional, self.tick)
        try:
            self.flow.update(t.exch_ts_ns, t.price, t.qty, t.taker_side == Side.SELL)
        except _orderflow.FlowError:
            self.rejected += 1

    def features(self, now_ns: int) -> np.ndarray | None:
        if self.flow is None:
            return None
        self.flow.advance(now_ns)
        return self.flow.features()

    def feature(self, rows: np.ndarray | None, name: str, arg: float) -> float:
        if rows is None:
            return math.nan
        if name == "flow.cvd":
            return self.flow.cvd * self.qty_scale
        row = rows[self.windows.index(arg)]
        if row["count"] == 0 and name != "flow.trades":
            return math.nan
        if name == "flow.delta_ratio":
            return float(row["delta_ratio"])
        if name == "flow.absorption":
            return float(row["absorption"])
        if name == "flow.vwap":
            return row["vwap"] * self.price_scale
        if name == "flow.trades":
            return float(row["count"])
        if name == "flow.large_buys":
            return float(row["large_buy_count"])
        if name == "flow.large_sells":
            return float(row["large_sell_count"])
        field = {"flow.buy_volume": "buy_volume", "flow.sell_volume": "sell_volume", "flow.delta": "delta"}[name]
        return row[field] * self.qty_scale

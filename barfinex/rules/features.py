"""What a condition can read besides indicators: bar fields and live features.

Bar fields are the closed candle of a timeframe. Live features are read at
evaluation time from the Detector's own order book (``book.*``, only while the
Provider says the book is VALID; NaN otherwise, so rules using them do not
fire) and order-flow windows (``flow.*``).
"""
from __future__ import annotations

from dataclasses import dataclass

from barfinex.indicator_catalog import BAR_FIELDS  # noqa: F401  (one list: indicators and rules share it)

BAR_FIELD_DOCS = {
    "open": "first trade price of the bar", "high": "highest trade price", "low": "lowest trade price",
    "close": "last trade price", "volume": "base volume", "quote_volume": "quote volume (price x qty)",
    "trades": "number of trades", "taker_buy_volume": "base volume bought by takers",
    "vwap": "quote_volume / volume (close when the bar has no trades)",
}


@dataclass(frozen=True)
class LiveFeature:
    name: str            # language name, e.g. "book.imbalance"
    arg: str             # "" (no argument), "levels" (int) or "window" (duration)
    doc: str


LIVE_FEATURES = {f.name: f for f in (
    LiveFeature("book.imbalance", "levels", "bid quantity / ask quantity over the top n levels (> 1: bids heavier)"),
    LiveFeature("book.bid_depth", "levels", "bid quantity over the top n levels"),
    LiveFeature("book.ask_depth", "levels", "ask quantity over the top n levels"),
    LiveFeature("book.spread", "", "best ask - best bid"),
    LiveFeature("book.spread_bps", "", "spread / mid in basis points"),
    LiveFeature("book.mid", "", "(best bid + best ask) / 2"),
    LiveFeature("book.microprice", "", "size-weighted mid: (bid * ask_qty + ask * bid_qty) / (bid_qty + ask_qty)"),
    LiveFeature("book.best_bid", "", "best bid price"),
    LiveFeature("book.best_ask", "", "best ask price"),
    LiveFeature("flow.delta_ratio", "window", "taker-buy volume / total volume in the window (0..1)"),
    LiveFeature("flow.buy_volume", "window", "taker-buy base volume in the window"),
    LiveFeature("flow.sell_volume", "window", "taker-sell base volume in the window"),
    LiveFeature("flow.delta", "window", "buy volume - sell volume in the window"),
    LiveFeature("flow.vwap", "window", "volume-weighted price of the window's trades"),
    LiveFeature("flow.trades", "window", "trades in the window"),
    LiveFeature("flow.absorption", "window", "delta per tick moved in its direction (high: volume absorbed)"),
    LiveFeature("flow.large_buys", "window", "taker buys at or above inputs.flow.large_notional"),
    LiveFeature("flow.large_sells", "window", "taker sells at or above inputs.flow.large_notional"),
    LiveFeature("flow.cvd", "", "cumulative volume delta since the Detector started"),
)}

MAX_BOOK_LEVELS = 1000

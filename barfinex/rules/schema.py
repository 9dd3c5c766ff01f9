"""The strategy file: a strict YAML schema a trader can read.

::

    strategy: ema-trend                 # unique name; signals carry it
    description: Fast EMA crosses the slow one with volume behind it.
    inputs:
      connector: binance
      market: usdm                      # spot | usdm | coinm
      symbols: [BTCUSDT]
      timeframe: 5s                     # the bar every rule is evaluated on
      book: {depth: 20}                 # optional: levels book.* may read
      flow: {windows: [10s, 180s], large_notional: 50000}   # optional
    evaluate_on: [bar]                  # bar (default), book, trade
    indicators:                         # named expressions, reused by name
      fast: ema(close, 9)
      slow: ema(close, 21)
    rules:
      - id: golden_cross
        when: cross_above(fast, slow)
        direction: long                 # long | short
        weight: 2
    thresholds: {long: 2, short: 2}    # a signal needs this score
    cooldown: 30s                       # or "5 bars"
    stop: {atr: 1.5}                    # {percent: 0.5} | {atr: 1.5, period: 14}
    targets: [{r: 1.5}, {r: 3}]         # {r: ..} | {percent: ..} | {atr: ..}

Unknown keys are errors. Everything the YAML layer can check is checked here;
the compiler checks the conditions.
"""
from __future__ import annotations

from typing import Optional

import msgspec

from barfinex.config import Document


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pass


class BookInput(_Strict):
    depth: int = 0                 # 0: as deep as the rules ask


class FlowInput(_Strict):
    windows: list[str] = []        # more windows are added for what the rules ask
    large_notional: float = 0.0    # quote notional of a "large" trade; 0: off
    bucket: str = "100ms"          # time resolution of the windows


class Inputs(_Strict):
    market: str
    symbols: list[str]
    timeframe: str
    connector: str = "binance"
    book: Optional[BookInput] = None
    flow: Optional[FlowInput] = None


class Rule(_Strict):
    id: str
    when: str
    direction: str
    weight: float = 1.0
    description: str = ""


class Thresholds(_Strict):
    long: Optional[float] = None
    short: Optional[float] = None


class Stop(_Strict):
    percent: Optional[float] = None
    atr: Optional[float] = None
    period: int = 14


class Target(_Strict):
    r: Optional[float] = None
    percent: Optional[float] = None
    atr: Optional[float] = None


class StrategyFile(_Strict):
    strategy: str
    inputs: Inputs
    rules: list[Rule]
    thresholds: Thresholds
    description: str = ""
    enabled: bool = True
    evaluate_on: list[str] = msgspec.field(default_factory=lambda: ["bar"])
    indicators: dict[str, str] = {}
    cooldown: Optional[str] = None
    stop: Optional[Stop] = None
    targets: list[Target] = []


def read(doc: Document) -> StrategyFile:
    return doc.convert(StrategyFile)

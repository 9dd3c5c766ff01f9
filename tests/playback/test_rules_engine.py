"""Compiled strategies on a week of real Binance LINKUSDT 1m candles: every
rule fires on exactly the bars a hand-written pandas evaluation of the same
condition says (from textbook indicator definitions), in both backends; the
two backends emit identical signals; other timeframes wait for their bar."""
from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import pytest

from barfinex.rules import StrategyRuntime, load

from ..conftest import DATA
from . import textbook_indicators as textbook

pytestmark = pytest.mark.playback

STRATEGY = """\
strategy: playback
inputs: {market: usdm, symbols: [LINKUSDT], timeframe: 1m}
indicators:
  fast: sma(close, 5)
  slow: sma(close, 20)
rules:
  - {id: above_ema, when: "close > ema(close, 20)", direction: long}
  - {id: golden, when: "cross_above(fast, slow)", direction: long, weight: 2}
  - {id: oversold, when: "rsi(close, 14) < 30 and not (close > open)", direction: long}
  - {id: volume_spike, when: "volume > 2 * sma(volume, 20)", direction: short}
  - {id: stretched, when: "abs(close - ema(close, 20)) / atr(14) > 2 or close < lowest(low, 10)[1]", direction: short}
  - {id: band, when: "close > bollinger(close, 20, 2).upper", direction: short}
thresholds: {long: 3, short: 2}
cooldown: 5 bars
stop: {atr: 1.5}
targets: [{r: 2}]
"""


@pytest.fixture(scope="module")
def candles():
    return pd.read_csv(DATA / "isda" / "LINKUSDT-1m-2023-02-01_07.csv.gz")


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    p = tmp_path_factory.mktemp("rules") / "playback.yaml"
    p.write_text(STRATEGY)
    return load(p)


def drive(plan, df, backend):
    rt = StrategyRuntime(plan, "LINKUSDT", backend=backend)
    fired, signals = [], []
    rule_regs = [r.reg for r in plan.rules]
    for row in df.itertuples(index=False):
        signals += rt.on_bar(60, int(row.open_time) * 1_000_000, row.open, row.high, row.low, row.close,
                             row.volume, row.quote_volume, float(row.count), row.taker_buy_volume)
        fired.append([rt.machine.get(r) == 1.0 for r in rule_regs])
    return np.array(fired), signals, rt


def expected_firing(df) -> tuple[np.ndarray, np.ndarray]:
    """Firing per rule per bar, and the bars where the two averages of the
    cross are equal as decimals (a float rounding decides those: not compared)."""
    o, h, l, c, v = (df[k].to_numpy(float) for k in ("open", "high", "low", "close", "volume"))
    fast, slow = textbook.sma(c, 5), textbook.sma(c, 20)
    prev_fast, prev_slow = np.r_[np.nan, fast[:-1]], np.r_[np.nan, slow[:-1]]
    tie = np.abs(fast - slow) <= 1e-9 * np.abs(slow)
    tie |= np.r_[False, tie[:-1]]
    ema20 = textbook.ema(c, 20)
    with np.errstate(invalid="ignore"):
        cols = [
            c > ema20,
            (fast > slow) & (prev_fast <= prev_slow),
            (textbook.rsi(c, 14) < 30) & ~(c > o),
            v > 2 * textbook.sma(v, 20),
            (np.abs(c - ema20) / textbook.atr(h, l, c, 14) > 2) | (c < np.r_[np.nan, textbook.lowest(l, 10)[:-1]]),
            c > textbook.bollinger(c, 20, 2.0)[1],
        ]
    return np.column_stack(cols), tie


def test_every_rule_fires_exactly_where_the_textbook_says(plan, candles):
    want, tie = expected_firing(candles)
    assert tie.sum() < 0.01 * len(tie)        # a few dozen decimal ties in a week
    for backend in ("fast", "py"):
        got, _, rt = drive(plan, candles, backend)
        for j, rule in enumerate(plan.rules):
            differs = got[:, j] != want[:, j]
            if rule.id == "golden":
                differs &= ~tie
            diff = np.flatnonzero(differs)
            assert diff.size == 0, f"{backend} {rule.id}: differs on bars {diff[:10]}"
        assert rt.stats.bars == len(candles) and rt.stats.evaluations == len(candles)
    assert want.sum(axis=0).min() > 10          # every rule really fires on this week


def test_backends_emit_the_same_signals(plan, candles):
    _, fast, rt = drive(plan, candles, "fast")
    _, py, _ = drive(plan, candles, "py")
    assert len(fast) > 20 and rt.stats.cooldown > 0
    assert [(s.direction, s.bar_open_ns, [h.rule for h in s.rules], s.price, s.stop_price, s.targets)
            for s in fast] == [(s.direction, s.bar_open_ns, [h.rule for h in s.rules], s.price, s.stop_price,
                                s.targets) for s in py]
    s = fast[0]
    assert s.score >= s.threshold and s.max_score == (4 if s.direction.name == "LONG" else 3)
    risk = abs(s.price - s.stop_price)
    assert risk > 0 and math.isclose(abs(s.targets[0] - s.price), 2 * risk)
    hit = s.rules[0]
    assert hit.terms and hit.value == hit.terms[0].value
    # cooldown: no two signals closer than 5 bars
    gaps = np.diff([x.bar_open_ns for x in fast]) // 60_000_000_000
    assert gaps.min() >= 5


def test_another_timeframe_is_waited_for(tmp_path):
    p = tmp_path / "mtf.yaml"
    p.write_text(textwrap.dedent("""\
        strategy: mtf
        inputs: {market: usdm, symbols: [BTCUSDT], timeframe: 5s}
        rules:
          - {id: above_minute, when: "close > close@1m", direction: long}
        thresholds: {long: 1}
        """))
    rt = StrategyRuntime(load(p), "BTCUSDT", backend="py")
    t0 = 1_700_000_000 * 10 ** 9 // (60 * 10 ** 9) * 60 * 10 ** 9     # a minute boundary
    bar = lambda tf, start, close: rt.on_bar(tf, start, close, close, close, close, 1.0, close, 1.0, 0.5)
    # the first minute: 5s bars below nothing known yet -> no signal
    for i in range(11):
        assert bar(5, t0 + i * 5 * 10 ** 9, 100.0) == []
    # the 5s bar closing with the minute arrives first: evaluation waits for the 1m bar
    assert bar(5, t0 + 55 * 10 ** 9, 101.0) == [] and rt.pending is not None
    assert len(bar(60, t0, 100.5)) == 1        # 101 > 100.5 once the minute is in
    assert rt.pending is None and rt.stats.evaluations == 12
    # a companion that never comes: the next driving bar evaluates the pending one first
    assert bar(5, t0 + 115 * 10 ** 9, 99.0) == [] and rt.pending is not None
    assert len(bar(5, t0 + 120 * 10 ** 9, 102.0)) == 1 and rt.stats.evaluations == 14   # both evaluated
    # warm-up from history: indicators only, no evaluation
    assert rt.on_bar(5, t0 + 125 * 10 ** 9, *[200.0] * 4, 1.0, 200.0, 1.0, 0.5, evaluate=False) == []
    assert rt.stats.evaluations == 14 and rt.pending is None

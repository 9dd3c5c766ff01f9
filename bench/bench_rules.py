"""Rule evaluation per rule per bar (budget: under 1 µs), in the same run as
its peers:

* ``vm``: the compiled strategy in the Cython rule VM, one ``run_batch`` call
  over the bars: per bar, write the bar, update every indicator, run every
  rule program, sum the scores. What a backtest pays.
* ``runtime``: the same through ``StrategyRuntime.on_bar`` from a Python loop,
  one call per bar (what the live Detector pays per closed bar, signal
  building excluded unless a threshold passes).
* ``twin``: the pure-Python twin of the VM, ``run_batch``.
* ``handwritten``: an equivalent strategy written by hand in plain Python
  (incremental indicators in small classes, the conditions as Python
  expressions), one call per bar: the code a quant would otherwise write.

Input: the week of real LINKUSDT 1m candles in tests/data/isda (10,080 bars)
repeated BENCH_BARS_REPEAT times (default 5). Figures are per rule per bar:
a round divided by ``extra_info["rule_bars"]``."""
from __future__ import annotations

import math
import os
from collections import deque
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from barfinex.rules import StrategyRuntime
from barfinex.rules.compiler import compile_document
from barfinex.config import load_yaml

ROOT = Path(__file__).resolve().parents[1]
CANDLES = ROOT / "tests" / "data" / "isda" / "LINKUSDT-1m-2023-02-01_07.csv.gz"
REPEAT = int(os.environ.get("BENCH_BARS_REPEAT", "5"))

STRATEGY = """\
strategy: bench
inputs: {market: usdm, symbols: [LINKUSDT], timeframe: 1m}
indicators:
  fast: ema(close, 9)
  slow: ema(close, 21)
rules:
  - {id: above_ema, when: "close > ema(close, 20)", direction: long}
  - {id: golden, when: "cross_above(fast, slow)", direction: long, weight: 2}
  - {id: oversold, when: "rsi(close, 14) < 30", direction: long}
  - {id: volume, when: "volume > 2 * sma(volume, 20)", direction: long}
  - {id: below_band, when: "close < bollinger(close, 20, 2).lower", direction: long}
  - {id: death, when: "cross_below(fast, slow)", direction: short, weight: 2}
  - {id: overbought, when: "rsi(close, 14) > 70", direction: short}
  - {id: breakout, when: "close > highest(high, 20)[1]", direction: short}
thresholds: {long: 3, short: 3}
"""
N_RULES = 8

WEEK = pd.read_csv(CANDLES)


def _bars(quick: bool) -> np.ndarray:
    cols = ["open", "high", "low", "close", "volume", "quote_volume", "count", "taker_buy_volume"]
    week = WEEK[cols].to_numpy(np.float64)
    vwap = np.where(week[:, 4] > 0, week[:, 5] / np.where(week[:, 4] > 0, week[:, 4], 1), week[:, 3])
    week = np.column_stack([week, vwap])
    return week[:2000] if quick else np.tile(week, (REPEAT, 1))


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    p = tmp_path_factory.mktemp("bench") / "bench.yaml"
    p.write_text(STRATEGY)
    return compile_document(load_yaml(p))


def _report(benchmark, bars: int, label: str) -> None:
    benchmark.extra_info.update({"rule_bars": bars * N_RULES, "bars": bars, "rules": N_RULES, "what": label})


@pytest.mark.parametrize("backend", ["fast", "py"])
def test_vm_batch(benchmark, plan, quick, backend):
    bars = _bars(quick or backend == "py")
    if backend == "py":
        bars = bars[:2000]

    def run():
        rt = StrategyRuntime(plan, "LINKUSDT", backend=backend)
        return rt.machine.run_batch(rt.clock_of[60], bars)

    longs, shorts = benchmark.pedantic(run, rounds=1 if quick else 5, iterations=1)
    _report(benchmark, len(bars), f"{backend} VM run_batch")
    assert (longs >= 3).sum() > 0 and (shorts >= 2).sum() > 0


def test_runtime_on_bar(benchmark, plan, quick):
    bars = _bars(quick)[:10_080]
    rows = bars.tolist()

    def run():
        rt = StrategyRuntime(plan, "LINKUSDT", backend="fast")
        t0 = 1_675_209_600 * 10 ** 9
        for i, r in enumerate(rows):
            rt.on_bar(60, t0 + i * 60 * 10 ** 9, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7])
        return rt.stats

    stats = benchmark.pedantic(run, rounds=1 if quick else 5, iterations=1)
    _report(benchmark, len(rows), "StrategyRuntime.on_bar from Python")
    assert stats.evaluations == len(rows) and stats.signals > 0


# ------------------------------------------------------------------ hand-written peer
class _SMA:
    def __init__(self, n):
        self.n, self.q, self.s = n, deque(), 0.0

    def __call__(self, x):
        self.q.append(x)
        self.s += x
        if len(self.q) > self.n:
            self.s -= self.q.popleft()
        return self.s / self.n if len(self.q) == self.n else math.nan


class _EMA:
    def __init__(self, n):
        self.n, self.a, self.k, self.v = n, 2 / (n + 1), 0, 0.0

    def __call__(self, x):
        self.k += 1
        if self.k <= self.n:
            self.v += x
            if self.k < self.n:
                return math.nan
            self.v /= self.n
            return self.v
        self.v += self.a * (x - self.v)
        return self.v


class _RSI:
    def __init__(self, n):
        self.n, self.prev, self.k, self.g, self.l = n, None, 0, 0.0, 0.0

    def __call__(self, x):
        if self.prev is None:
            self.prev = x
            return math.nan
        d, self.prev = x - self.prev, x
        up, down = max(d, 0.0), max(-d, 0.0)
        self.k += 1
        if self.k <= self.n:
            self.g += up
            self.l += down
            if self.k < self.n:
                return math.nan
            self.g /= self.n
            self.l /= self.n
        else:
            self.g = (self.g * (self.n - 1) + up) / self.n
            self.l = (self.l * (self.n - 1) + down) / self.n
        return 100.0 if self.l == 0 else 100 - 100 / (1 + self.g / self.l)


class _Bollinger:
    def __init__(self, n, k):
        self.n, self.k, self.q = n, k, deque(maxlen=n)

    def __call__(self, x):
        self.q.append(x)
        if len(self.q) < self.n:
            return math.nan
        m = sum(self.q) / self.n
        sd = math.sqrt(sum((v - m) ** 2 for v in self.q) / self.n)
        return m - self.k * sd


class HandWritten:
    """The bench strategy written by hand: returns (long score, short score)."""

    def __init__(self):
        self.fast, self.slow, self.ema20 = _EMA(9), _EMA(21), _EMA(20)
        self.rsi, self.vol, self.band = _RSI(14), _SMA(20), _Bollinger(20, 2.0)
        self.highs = deque(maxlen=21)
        self.prev_fast = self.prev_slow = math.nan

    def __call__(self, o, h, l, c, v):
        fast, slow, ema20 = self.fast(c), self.slow(c), self.ema20(c)
        rsi, vol, lower = self.rsi(c), self.vol(v), self.band(c)
        self.highs.append(h)
        prior_high = max(list(self.highs)[:-1]) if len(self.highs) == 21 else math.nan
        longs = (c > ema20) + 2 * (fast > slow and self.prev_fast <= self.prev_slow) + (rsi < 30) + \
            (v > 2 * vol) + (c < lower)
        shorts = 2 * (fast < slow and self.prev_fast >= self.prev_slow) + (rsi > 70) + (c > prior_high)
        self.prev_fast, self.prev_slow = fast, slow
        return longs, shorts


def test_handwritten_python(benchmark, quick):
    rows = _bars(quick)[:10_080].tolist()

    def run():
        f = HandWritten()
        return sum(f(r[0], r[1], r[2], r[3], r[4])[0] >= 3 for r in rows)

    passed = benchmark.pedantic(run, rounds=1 if quick else 5, iterations=1)
    _report(benchmark, len(rows), "hand-written Python, one call per bar")
    assert passed > 0


def test_handwritten_agrees_with_the_vm(plan):
    """The peer computes the same scores (so the comparison is fair)."""
    bars = _bars(True)
    rt = StrategyRuntime(plan, "LINKUSDT", backend="fast")
    longs, shorts = rt.machine.run_batch(rt.clock_of[60], bars)
    f = HandWritten()
    hand = np.array([f(*r[:5]) for r in bars.tolist()], dtype=float)
    assert np.array_equal(hand[:, 0], longs) and np.array_equal(hand[:, 1], shorts)

"""Trades to candles: streaming (one trade per call) and batch, all 13
timeframes at once, beside the pure-Python twin and pandas resample in the
same run. Budget (ARCHITECTURE.md): under 100 ns/trade streaming; batch
faster than pandas resample. NautilusTrader's TimeBarAggregator is not
installed here, so it is not measured.

Trades are synthetic like the peer measurement (Exp(60 ms) arrivals, a
random-walk price), generated once and never mutated; each round builds a
fresh aggregator in ``setup``. ``BENCH_TRADES`` sets the stream length
(default 200,000; the plain-test run under --benchmark-disable stays quick).
"""
import os

import numpy as np
import pytest

from barfinex import backend

N = int(os.environ.get("BENCH_TRADES", "200000"))
PY_N = min(N, 50_000)            # the twin is ~10x slower: a shorter slice, per-trade figures
T0 = 1_723_161_240_000_000_000


def _trades(n):
    rng = np.random.default_rng(7)
    ts = (T0 + np.cumsum(rng.exponential(60e6, n))).astype(np.int64)
    px = (6_180_000 + np.cumsum(rng.integers(-3, 4, n))).astype(np.int64)
    qt = rng.integers(1, 2_000, n).astype(np.int64)
    mk = rng.random(n) < 0.5
    for a in (ts, px, qt, mk):
        a.setflags(write=False)   # rounds must never mutate their input
    return ts, px, qt, mk


TS, PX, QT, MK = _trades(N)
ROWS = list(zip(TS.tolist(), PX.tolist(), QT.tolist(), MK.tolist()))


def _stream(agg, rows):
    update = agg.update
    for t, p, q, m in rows:
        update(t, p, q, m)
    return agg


def _expected_1m():
    return backend.load("candles", "py").aggregate(TS[:PY_N], PX[:PY_N], QT[:PY_N], MK[:PY_N],
                                                   ("1m",), gap_fill=False)


@pytest.mark.parametrize("be", backend.BACKENDS)
def test_stream_all_timeframes(benchmark, be):
    mod = backend.load("candles", be)
    rows = ROWS if be == "fast" else ROWS[:PY_N]
    benchmark.extra_info.update(trades=len(rows), timeframes=13, api="update() per trade")
    agg = benchmark.pedantic(_stream, setup=lambda: ((mod.CandleAggregator(), rows), {}),
                             rounds=5 if be == "fast" else 3, iterations=1)
    assert agg.accepted == len(rows)
    got = agg.drain()
    minutes = np.concatenate([got[got["timeframe_s"] == 60],
                              agg.snapshot()[agg.snapshot()["timeframe_s"] == 60]])
    assert minutes["count"].sum() == len(rows)


@pytest.mark.parametrize("be", backend.BACKENDS)
def test_batch_all_timeframes(benchmark, be):
    mod = backend.load("candles", be)
    n = N if be == "fast" else PY_N
    benchmark.extra_info.update(trades=n, timeframes=13, api="update_batch() over numpy arrays")

    def run(agg):
        agg.update_batch(TS[:n], PX[:n], QT[:n], MK[:n])
        return agg

    agg = benchmark.pedantic(run, setup=lambda: ((mod.CandleAggregator(),), {}),
                             rounds=10 if be == "fast" else 3, iterations=1)
    assert agg.accepted == n


def test_batch_one_timeframe(benchmark):
    """The like-for-like peer of pandas resample: one timeframe (1m)."""
    mod = backend.load("candles", "fast")
    benchmark.extra_info.update(trades=N, timeframes=1, api="update_batch()")

    def run(agg):
        agg.update_batch(TS, PX, QT, MK)
        return agg

    agg = benchmark.pedantic(run, setup=lambda: ((mod.CandleAggregator(("1m",), gap_fill=False),), {}),
                             rounds=10, iterations=1)
    bars = agg.drain()[: len(_expected_1m()) - 1]
    want = _expected_1m()[:-1]
    assert np.array_equal(bars[["open", "high", "low", "close", "volume", "count"]],
                          want[["open", "high", "low", "close", "volume", "count"]])


def test_pandas_resample_one_timeframe(benchmark):
    """pandas on the same trades, one timeframe, the DatetimeIndex built outside
    the timing (as in the peer measurement); empty minutes dropped."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"price": PX, "qty": QT, "quote": PX * QT,
                          "taker_buy": np.where(MK, 0, QT)},
                         index=pd.to_datetime(TS, unit="ns", utc=True))
    benchmark.extra_info.update(trades=N, timeframes=1, api="DataFrame.resample('1min')")

    def run(df):
        r = df.resample("1min")
        out = pd.concat([r["price"].ohlc(), r["qty"].sum(), r["quote"].sum(),
                         r["price"].count(), r["taker_buy"].sum()], axis=1)
        return out.dropna()

    out = benchmark.pedantic(run, setup=lambda: ((frame,), {}), rounds=10, iterations=1)
    ours = backend.load("candles", "fast").aggregate(TS, PX, QT, MK, ("1m",), gap_fill=False)
    assert len(out) == len(ours)
    assert np.array_equal(out["high"].to_numpy().astype(np.int64), ours["high"])

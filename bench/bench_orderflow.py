"""Order-flow window update cost per trade: two windows (10 s, 180 s) with
large-trade tracking, streaming one trade per call and as a batch, beside
the pure-Python twin in the same run. Synthetic trades as in
bench_candles.py (Exp(60 ms) arrivals, so most trades open a new 100 ms
bucket: the expensive case). A fresh tracker is built each round."""
import os

import numpy as np
import pytest

from barfinex import backend

N = int(os.environ.get("BENCH_TRADES", "200000"))
PY_N = min(N, 50_000)
T0 = 1_723_161_240_000_000_000
rng = np.random.default_rng(7)
TS = (T0 + np.cumsum(rng.exponential(60e6, N))).astype(np.int64)
PX = (6_180_000 + np.cumsum(rng.integers(-3, 4, N))).astype(np.int64)
QT = rng.integers(1, 2_000, N).astype(np.int64)
MK = rng.random(N) < 0.5
for _a in (TS, PX, QT, MK):
    _a.setflags(write=False)
ROWS = list(zip(TS.tolist(), PX.tolist(), QT.tolist(), MK.tolist()))
LARGE = 6_180_000 * 1_500          # 92,700 USDT at price_prec 2 + qty_prec 3


def _new(mod):
    return mod.OrderFlow((10, 180), 100, LARGE, 10)


@pytest.mark.parametrize("be", backend.BACKENDS)
def test_flow_stream(benchmark, be):
    mod = backend.load("orderflow", be)
    rows = ROWS if be == "fast" else ROWS[:PY_N]
    benchmark.extra_info.update(trades=len(rows), windows=2, api="update() per trade")

    def run(flow):
        update = flow.update
        for t, p, q, m in rows:
            update(t, p, q, m)
        return flow

    flow = benchmark.pedantic(run, setup=lambda: ((_new(mod),), {}),
                              rounds=5 if be == "fast" else 3, iterations=1)
    assert flow.accepted == len(rows) and flow.features()["count"].min() > 0


@pytest.mark.parametrize("be", backend.BACKENDS)
def test_flow_batch(benchmark, be):
    mod = backend.load("orderflow", be)
    n = N if be == "fast" else PY_N
    benchmark.extra_info.update(trades=n, windows=2, api="update_batch()")
    flow = benchmark.pedantic(lambda f: (f.update_batch(TS[:n], PX[:n], QT[:n], MK[:n]), f)[1],
                              setup=lambda: ((_new(mod),), {}),
                              rounds=10 if be == "fast" else 3, iterations=1)
    assert flow.accepted == n

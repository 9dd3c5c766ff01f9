"""Order flow: rolling windows checked against a brute-force recomputation over
the raw trades, and the Cython tracker against its pure-Python twin."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from barfinex import backend

pytestmark = pytest.mark.parity

fast = backend.load("orderflow", "fast")
py = backend.load("orderflow", "py")

MS = 1_000_000
T0 = 1_723_161_240_000 * MS


def _reference(trades, now_ns, window_ns, bucket_ns, large, tick):
    """O(n) recomputation from the definitions in the module docstring."""
    head = now_ns // bucket_ns
    inside = [t for t in trades if t[0] // bucket_ns > head - window_ns // bucket_ns]
    buy = sum(q for _, p, q, m in inside if not m)
    sell = sum(q for _, p, q, m in inside if m)
    bq = sum(p * q for _, p, q, m in inside if not m)
    sq = sum(p * q for _, p, q, m in inside if m)
    big = [(p, q, m) for _, p, q, m in inside if large and p * q >= large]
    out = dict(buy_volume=buy, sell_volume=sell, delta=buy - sell, buy_quote=bq, sell_quote=sq,
               count=len(inside), large_buy_count=sum(1 for *_, m in big if not m),
               large_sell_count=sum(1 for *_, m in big if m),
               large_buy_volume=sum(q for _, q, m in big if not m),
               large_sell_volume=sum(q for _, q, m in big if m))
    if inside:
        vol, quote = buy + sell, bq + sq
        out["vwap"] = (2 * quote + vol) // (2 * vol)
        out["first_price"], out["last_price"] = inside[0][1], inside[-1][1]
        move = inside[-1][1] - inside[0][1]
        progress = max(0, move if buy - sell > 0 else -move) if buy != sell else 0
        out["absorption"] = (buy - sell) / (1 + progress / tick)
        out["delta_ratio"] = buy / vol
    return out


def _check(flow, trades, now_ns, windows_s, bucket_ms, large, tick):
    rows = flow.features()
    for row, w in zip(rows, windows_s):
        want = _reference(trades, now_ns, int(w * 1e9), bucket_ms * MS, large, tick)
        for key, value in want.items():
            got = row[key]
            if isinstance(value, float):
                assert math.isclose(got, value, rel_tol=1e-12), (w, key)
            else:
                assert got == value, (w, key, got, value)
        if not want["count"]:
            assert math.isnan(row["delta_ratio"]) and row["vwap"] == 0


def test_hand_computed_window(impl):
    flow = impl("orderflow").OrderFlow((10,), 100, large_notional=100_00 * 5_000, tick=10)
    flow.update(T0, 100_00, 1_000, False)           # buy 1.000 @ 100.00
    flow.update(T0 + 50 * MS, 100_10, 6_000, False)   # large buy (600.6 >= 500)
    flow.update(T0 + 2_000 * MS, 100_00, 2_000, True)  # sell
    row = flow.features()[0]
    assert (row["buy_volume"], row["sell_volume"], row["delta"], row["count"]) == (7_000, 2_000, 5_000, 3)
    assert row["delta_ratio"] == 7_000 / 9_000
    assert (row["large_buy_count"], row["large_buy_volume"], row["large_sell_count"]) == (1, 6_000, 0)
    assert (row["first_price"], row["last_price"]) == (100_00, 100_00)
    assert row["absorption"] == 5_000.0              # buyers led, price did not rise: all absorbed
    assert flow.cvd == 5_000
    flow.advance(T0 + 10_000 * MS)                    # the first bucket (T0) leaves the 10 s window
    row = flow.features()[0]
    assert (row["buy_volume"], row["count"], row["first_price"]) == (0, 1, 100_00)
    flow.advance(T0 + 60_000 * MS)
    row = flow.features()[0]
    assert row["count"] == 0 and math.isnan(row["delta_ratio"]) and flow.cvd == 5_000


def test_absorption_shrinks_when_the_price_follows(impl):
    flow = impl("orderflow").OrderFlow((10,), 100, tick=10)
    flow.update(T0, 100_00, 1_000, False)
    flow.update(T0 + MS * 500, 100_30, 1_000, False)  # +3 ticks in the buyers' direction
    assert flow.features()[0]["absorption"] == 2_000 / 4


@pytest.mark.parametrize("args, reason", [
    ((T0, 0, 10, False), "price"), ((T0, 100, -10, False), "qty"),
    ((T0 - 5_000 * MS, 100, 10, False), "out_of_order"),
])
def test_bad_trades_are_refused_counted_and_change_nothing(impl, args, reason):
    mod = impl("orderflow")
    flow = mod.OrderFlow((10, 180))
    flow.update(T0, 100, 10, False)
    before = flow.features().tobytes(), flow.cvd, flow.accepted
    with pytest.raises(mod.FlowError) as err:
        flow.update(*args)
    assert err.value.reason == reason and flow.rejections[reason] == 1
    assert (flow.features().tobytes(), flow.cvd, flow.accepted) == before


def test_bad_configuration(impl):
    mod = impl("orderflow")
    with pytest.raises(ValueError, match="multiple"):
        mod.OrderFlow((10.05,), 100)
    with pytest.raises(ValueError, match="at most"):
        mod.OrderFlow(tuple(range(1, 10)))


def test_long_random_stream_matches_the_brute_force(impl):
    rng = np.random.default_rng(11)
    n = 3_000
    ts = (T0 + np.cumsum(rng.exponential(40 * MS, n))).astype(np.int64)
    px = (6_000_000 + np.cumsum(rng.integers(-20, 21, n))).astype(np.int64)
    qt = rng.integers(1, 3_000, n).astype(np.int64)
    mk = rng.random(n) < 0.45
    windows, large = (1, 10, 30), 6_000_000 * 2_000
    flow = impl("orderflow").OrderFlow(windows, 100, large, 10)
    trades = list(zip(ts.tolist(), px.tolist(), qt.tolist(), mk.tolist()))
    for k, tr in enumerate(trades):
        flow.update(*tr)
        if k % 97 == 0:
            _check(flow, trades[:k + 1], tr[0], windows, 100, large, 10)
    batch = impl("orderflow").OrderFlow(windows, 100, large, 10)
    assert batch.update_batch(ts, px, qt, mk) == n
    assert batch.features().tobytes() == flow.features().tobytes() and batch.cvd == flow.cvd


@settings(max_examples=100, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from([0, 1, 40, 99, 100, 250, 1_000, 9_999, 20_000, -150]),
                                st.integers(-1, 500), st.integers(-1, 50), st.booleans()),
                      min_size=1, max_size=150),
       advance_every=st.integers(0, 30))
def test_twins_agree_and_match_the_brute_force(steps, advance_every):
    windows = (0.5, 2, 10)
    flows = [m.OrderFlow(windows, 100, 5_000, 3) for m in (fast, py)]
    applied, t, now = [], T0, T0   # now: the tracker's clock (last applied trade or advance)
    for k, (step_ms, price, qty, maker) in enumerate(steps):
        t += step_ms * MS
        outcome = []
        for flow, mod in zip(flows, (fast, py)):
            try:
                flow.update(t, price, qty, maker)
                outcome.append("ok")
            except mod.FlowError as exc:
                outcome.append(exc.reason)
        assert outcome[0] == outcome[1]
        if outcome[0] == "ok":
            applied.append((t, price, qty, maker))
            now = t
        if advance_every and k % advance_every == 0:
            t += 700 * MS
            now = max(now, t)
            for flow in flows:
                flow.advance(t)
    a, b = flows
    assert a.features().tobytes() == b.features().tobytes()
    assert (a.cvd, a.accepted, a.rejections) == (b.cvd, b.accepted, b.rejections)
    if applied:
        _check(a, applied, now, windows, 100, 5_000, 3)

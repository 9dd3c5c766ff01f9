"""Candles: Cython aggregator and its pure-Python twin agree, and both follow
the exchange's kline rules (aligned periods, weeks from Monday, gap bars,
taker-buy sums, rejections that leave the state untouched)."""
from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from barfinex import backend
from barfinex.model.enums import Timeframe

pytestmark = pytest.mark.parity

fast = backend.load("candles", "fast")
py = backend.load("candles", "py")

S = 1_000_000_000
T0 = 1_723_161_240 * S          # 2024-08-08 23:54:00 UTC


def _state(agg):
    return (agg.pending, agg.accepted, agg.snapshot().tobytes(), agg.rejections)


def _one(bars, tf):
    return bars[bars["timeframe_s"] == int(tf)]


def test_ohlcv_taker_and_vwap_of_one_bar(impl):
    agg = impl("candles").CandleAggregator(("1m",), 2, 3)
    agg.update(T0 + 1 * S, 100_00, 2_000, False)    # taker buy 2.000 @ 100.00
    agg.update(T0 + 2 * S, 103_00, 1_000, True)     # taker sell
    agg.update(T0 + 3 * S, 99_00, 1_000, False)
    assert agg.update(T0 + 61 * S, 101_00, 1_000, True) == 1
    bar = agg.drain()[0]
    assert (bar["open"], bar["high"], bar["low"], bar["close"]) == (100_00, 103_00, 99_00, 99_00)
    assert bar["volume"] == 4_000 and bar["count"] == 3
    assert bar["quote_volume"] == 100_00 * 2_000 + 103_00 * 1_000 + 99_00 * 1_000
    assert bar["taker_buy_volume"] == 3_000
    assert bar["taker_buy_quote_volume"] == 100_00 * 2_000 + 99_00 * 1_000
    assert bar["vwap"] == 100_50            # 402.00 / 4.000, rounded half up
    assert (bar["open_ns"], bar["close_ns"], bar["closed"]) == (T0, T0 + 60 * S - 1, 1)


def test_gap_bars_repeat_the_previous_close(impl):
    agg = impl("candles").CandleAggregator(("1m",))
    agg.update(T0 + 5 * S, 500, 1, False)
    agg.update(T0 + 3 * 60 * S, 510, 1, False)       # minutes +1 and +2 had no trades
    bars = agg.drain()
    assert list(bars["open_ns"]) == [T0, T0 + 60 * S, T0 + 120 * S]
    for gap in bars[1:]:
        assert (gap["open"], gap["high"], gap["low"], gap["close"], gap["vwap"]) == (500,) * 5
        assert gap["volume"] == gap["count"] == gap["quote_volume"] == 0


def test_no_gap_fill_leaves_holes(impl):
    agg = impl("candles").CandleAggregator(("1m",), gap_fill=False)
    agg.update(T0, 500, 1, False)
    agg.update(T0 + 180 * S, 510, 1, False)
    assert list(agg.drain()["open_ns"]) == [T0]


def test_flush_closes_bars_of_a_quiet_market(impl):
    agg = impl("candles").CandleAggregator(("1m", "5m"))
    agg.update(T0 + 61 * S, 500, 1, False)
    assert agg.flush(T0 + 119 * S) == 0               # 1m bar still running
    assert agg.flush(T0 + 120 * S) == 1
    assert agg.flush(T0 + 6 * 60 * S) == 5             # 4 gap minutes, and 23:55-00:00 ends
    bars = agg.drain()
    assert list(_one(bars, 60)["open_ns"]) == [T0 + 60 * S + k * 60 * S for k in range(5)]
    assert list(_one(bars, 300)["open_ns"]) == [T0 + 60 * S]   # 23:55-00:00 UTC
    with pytest.raises(impl("candles").CandleError, match="before the open period"):
        agg.update(T0 + 5 * 60 * S, 500, 1, False)    # that bar is already published


def test_weekly_bars_start_monday_utc(impl):
    agg = impl("candles").CandleAggregator(("1w", "1d"))
    thursday = int(datetime(2024, 8, 8, 12, tzinfo=timezone.utc).timestamp()) * S
    agg.update(thursday, 100, 1, False)
    agg.update(thursday + 7 * 86400 * S, 100, 1, False)
    week = _one(agg.drain(), 604800)[0]
    opened = datetime.fromtimestamp(int(week["open_ns"]) // S, tz=timezone.utc)
    assert opened == datetime(2024, 8, 5, tzinfo=timezone.utc) and opened.weekday() == 0
    assert week["close_ns"] - week["open_ns"] + 1 == 7 * 86400 * S


def test_internal_base_for_timeframes_that_do_not_divide(impl):
    # 3m and 5m: the aggregator tracks their gcd (1m) but emits only what was asked
    agg = impl("candles").CandleAggregator(("3m", "5m"))
    for k in range(16):
        agg.update(T0 + 6 * 60 * S + k * 60 * S, 100 + k, 1, False)
    agg.flush(T0 + 40 * 60 * S)
    bars = agg.drain()
    assert set(bars["timeframe_s"]) == {180, 300}
    assert _one(bars, 180)["count"].sum() == _one(bars, 300)["count"].sum() == 16


def _random_trades(rng, n, start=T0, mean_gap_ms=300):
    ts = start + np.cumsum(rng.exponential(mean_gap_ms * 1e6, n)).astype(np.int64)
    px = 6_000_000 + np.cumsum(rng.integers(-50, 51, n))
    qt = rng.integers(1, 5_000, n)
    mk = rng.random(n) < 0.5
    return ts.astype(np.int64), px.astype(np.int64), qt.astype(np.int64), mk


def test_coarse_bars_fold_the_fine_ones(impl):
    """Five 1m bars make the 5m bar; 60 1s bars make the 1m bar; all 13 at once."""
    mod = impl("candles")
    ts, px, qt, mk = _random_trades(np.random.default_rng(3), 4_000)
    agg = mod.CandleAggregator(mod.TIMEFRAMES, gap_fill=False)
    agg.update_batch(ts, px, qt, mk)
    agg.flush(int(ts[-1]) + 8 * 86400 * S)
    bars = agg.drain()
    for fine, coarse in ((1, 60), (60, 300), (300, 3600), (3600, 86400)):
        f, c = _one(bars, fine), _one(bars, coarse)
        group = (f["open_ns"] - (f["open_ns"] - mod.WEEK_ANCHOR) % (coarse * S))
        for bar in c:
            parts = f[group == bar["open_ns"]]
            assert parts["open"][0] == bar["open"] and parts["close"][-1] == bar["close"]
            assert parts["high"].max() == bar["high"] and parts["low"].min() == bar["low"]
            for col in ("volume", "quote_volume", "count", "taker_buy_volume", "taker_buy_quote_volume"):
                assert parts[col].sum() == bar[col], col
    for tf in mod.TIMEFRAMES:
        assert _one(bars, tf)["count"].sum() == len(ts), tf.label


def test_streaming_and_batch_agree(impl):
    mod = impl("candles")
    ts, px, qt, mk = _random_trades(np.random.default_rng(5), 3_000, mean_gap_ms=900)
    one = mod.CandleAggregator()
    for t, p, q, m in zip(ts.tolist(), px.tolist(), qt.tolist(), mk.tolist()):
        one.update(t, p, q, m)
    batch = mod.CandleAggregator()
    for lo in range(0, len(ts), 700):                  # batches cut at arbitrary points
        batch.update_batch(ts[lo:lo + 700], px[lo:lo + 700], qt[lo:lo + 700], mk[lo:lo + 700])
    whole = mod.aggregate(ts, px, qt, mk)
    a, b = one.drain(), batch.drain()
    assert len(a) > 1000 and np.array_equal(a, b)
    assert np.array_equal(np.concatenate([a, one.snapshot()]), whole)


def test_in_progress_updates(impl):
    agg = impl("candles").CandleAggregator(("1s", "1m"), emit_updates=True)
    agg.update(T0 + 100, 500, 2, False)
    agg.update(T0 + 2 * S, 505, 1, True)
    bars = agg.drain()
    # per call: the open bar of each timeframe; the second call first closes the
    # 1s bar of the first trade and gap-fills the empty second between them
    assert [(int(a), int(b)) for a, b in zip(bars["timeframe_s"], bars["closed"])] == [
        (1, 0), (60, 0), (1, 1), (1, 1), (1, 0), (60, 0)]
    last_minute = bars[-1]
    assert (last_minute["count"], last_minute["high"], last_minute["close"]) == (2, 505, 505)


@pytest.mark.parametrize("call, reason", [
    (lambda a: a.update_text("BTCUSDT", T0, "abc", "0.010", False), "price"),
    (lambda a: a.update_text("BTCUSDT", T0, "61800.305", "0.010", False), "price"),
    (lambda a: a.update_text("BTCUSDT", T0, "61800.30", "-0.010", False), "qty"),
    (lambda a: a.update_text("BTCUSDT", T0, "61800.30", None, False), "qty"),
    (lambda a: a.update_text("ETHUSDT", T0, "2600.00", "0.010", False), "symbol"),
    (lambda a: a.update(T0, 0, 10, False), "price"),
    (lambda a: a.update(T0, 6180030, -5, False), "qty"),
    (lambda a: a.update(T0 - 61 * S, 6180030, 5, False), "out_of_order"),
])
def test_bad_trades_are_refused_counted_and_change_nothing(impl, call, reason):
    mod = impl("candles")
    agg = mod.CandleAggregator(("1s", "1m"), 2, 3, "BTCUSDT")
    agg.update_text("BTCUSDT", T0 + 5 * S, "61800.30", "0.014", False)
    before = _state(agg)
    with pytest.raises(mod.CandleError) as err:
        call(agg)
    assert err.value.reason == reason
    after = _state(agg)
    assert after[:3] == before[:3]
    assert after[3][reason] == before[3][reason] + 1


def test_batch_skips_and_counts_bad_rows(impl):
    mod = impl("candles")
    agg = mod.CandleAggregator(("1m",))
    agg.update_batch([T0 + S, T0 + 2 * S, T0 + 3 * S, T0 - 90 * S, T0 + 4 * S],
                     [100, -1, 100, 100, 101], [1, 1, 0, 1, 2], [False] * 5)
    assert agg.accepted == 2
    assert agg.rejections == {"price": 1, "qty": 1, "symbol": 0, "out_of_order": 1}
    with pytest.raises(ValueError, match="differ in length"):
        agg.update_batch([T0], [1, 2], [1], [False])


def test_bad_configuration(impl):
    mod = impl("candles")
    with pytest.raises(ValueError, match="choose one of"):
        mod.CandleAggregator(("7m",))
    with pytest.raises(ValueError, match="choose one of"):
        mod.CandleAggregator((42,))
    assert mod.CandleAggregator(["1h", 60, Timeframe.M5]).timeframes == (
        Timeframe.M1, Timeframe.M5, Timeframe.H1)


def test_twins_share_the_bar_layout():
    assert fast.BAR_DTYPE == py.BAR_DTYPE and fast.REASONS == py.REASONS


trade_streams = st.lists(
    st.tuples(
        st.sampled_from([0, 0, 0, 1, 7, 300, 999, 1_000, 59_000, 61_000, 3_600_000, -800, -70_000]),
        st.integers(-3, 2_000), st.integers(-1, 1_000), st.booleans()),
    min_size=1, max_size=120)


@settings(max_examples=120, deadline=None)
@given(trades=trade_streams, gap_fill=st.booleans(), updates=st.booleans(),
       tfs=st.sampled_from([tuple(Timeframe), ("1s", "1m", "5m"), ("3m", "5m", "1h"), ("1w",)]),
       flush_every=st.integers(0, 40))
def test_twins_agree_on_random_streams(trades, gap_fill, updates, tfs, flush_every):
    """Steps in ms (0 = same ms, negative = out of order), prices and sizes that
    may be invalid, periodic flushes: every bar and every counter agree."""
    aggs = [m.CandleAggregator(tfs, 2, 3, "", gap_fill, updates) for m in (fast, py)]
    t = T0 + 30 * S
    for k, (step_ms, price, qty, maker) in enumerate(trades):
        t += step_ms * 1_000_000
        outcomes = []
        for agg, mod in zip(aggs, (fast, py)):
            try:
                outcomes.append(agg.update(t, price, qty, maker))
            except mod.CandleError as exc:
                outcomes.append(exc.reason)
        assert outcomes[0] == outcomes[1]
        if flush_every and k % flush_every == 0:
            assert aggs[0].flush(t + 2 * S) == aggs[1].flush(t + 2 * S)
            t += 2 * S
    a, b = aggs
    assert np.array_equal(a.drain(), b.drain())
    assert np.array_equal(a.snapshot(), b.snapshot())
    assert (a.rejections, a.accepted, a.unfilled_gaps) == (b.rejections, b.accepted, b.unfilled_gaps)


def test_long_gaps_are_not_filled_past_the_limit(impl):
    agg = impl("candles").CandleAggregator(("1s", "1h"), max_gap_fill=1_000)
    agg.update(T0, 100, 1, False)
    agg.update(T0 + 2 * 3600 * S, 101, 1, False)      # 7,199 empty seconds: too many to fill
    bars = agg.drain()
    assert len(_one(bars, 1)) == 1 and agg.unfilled_gaps == 1
    assert len(_one(bars, 3600)) == 2                  # the hour bars still fill (1 gap hour)

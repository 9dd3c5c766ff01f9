"""Trades to candles: streaming (one trade per call) and batch, all 13
timeframes at once, beside the pure-Python twin, pandas resample and
NautilusTrader's TimeBarAggregator in the same run. Budget (ARCHITECTURE.md):
under 100 ns/trade streaming; batch faster than pandas resample.

NautilusTrader (1.221.0, the peer ARCHITECTURE.md names) builds one timeframe
per aggregator, so it runs beside our streaming aggregator restricted to 1m
as well as the 13-timeframe one. It is in the ``bench`` extra, not ``test``
(it pins pandas<3 and uvloop==0.22.1); its row skips when it is absent:
pip install -e '.[test,bench]'.

Trades are synthetic like the peer measurement (Exp(60 ms) arrivals, a
random-walk price), generated once and never mutated; each round builds a
fresh aggregator in ``setup``. ``BENCH_TRADES`` sets the stream length
(default 200,000; the plain-test run under --benchmark-disable stays quick).
"""
import os
from functools import lru_cache

import numpy as np
import pytest

from barfinex import backend

N = int(os.environ.get("BENCH_TRADES", "200000"))
PY_N = min(N, 50_000)            # the twin is ~10x slower: a shorter slice, per-trade figures
T0 = 1_723_161_240_000_000_000
QUICK_NT_TRADES = 20_000         # CI: the Nautilus row checks its bars on a prefix
MINUTE_NS = 60_000_000_000
NT_REASON = ("NautilusTrader peer not installed: pip install -e '.[test,bench]' "
             "(nautilus_trader==1.221.0)")


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


def _closed_1m(n):
    """Our closed 1m bars for the first n trades (batch API, no gap filling)."""
    bars = backend.load("candles", "fast").aggregate(TS[:n], PX[:n], QT[:n], MK[:n], ("1m",),
                                                     gap_fill=False, include_open=False)
    assert (bars["closed"] == 1).all()
    return bars


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


def test_stream_one_timeframe(benchmark):
    """Our streaming door with only 1m: the like-for-like peer of Nautilus's
    one-timeframe TimeBarAggregator below (same trades, same Python loop)."""
    mod = backend.load("candles", "fast")
    benchmark.extra_info.update(trades=N, timeframes=1, api="update() per trade")
    agg = benchmark.pedantic(_stream, setup=lambda: ((mod.CandleAggregator(("1m",), gap_fill=False), ROWS), {}),
                             rounds=5, iterations=1)
    assert agg.accepted == N
    got = agg.drain()
    assert np.array_equal(got, _closed_1m(N))


# -- NautilusTrader TimeBarAggregator (optional peer: the `bench` extra) -----

@lru_cache(maxsize=None)
def _nautilus(n):
    """Instrument, bar type and the first n trades as TradeTicks (from_raw, the
    same int mantissas), cut per minute so the clock is advanced once per bar
    boundary, before the first trade past it (as the peer measurement did)."""
    pytest.importorskip("nautilus_trader", reason=NT_REASON)
    from decimal import Decimal

    from nautilus_trader.model.currencies import BTC, USDT
    from nautilus_trader.model.data import BarType, TradeTick
    from nautilus_trader.model.enums import AggressorSide
    from nautilus_trader.model.identifiers import InstrumentId, Symbol, TradeId
    from nautilus_trader.model.instruments import CryptoPerpetual
    from nautilus_trader.model.objects import FIXED_PRECISION, Price, Quantity

    # BTCUSDT-PERP as TestInstrumentProvider has it, but with the stream's
    # precisions: prices 2 places (the random walk moves by 0.01), sizes 3.
    instrument = CryptoPerpetual(
        instrument_id=InstrumentId.from_str("BTCUSDT-PERP.BINANCE"), raw_symbol=Symbol("BTCUSDT"),
        base_currency=BTC, quote_currency=USDT, settlement_currency=USDT, is_inverse=False,
        price_precision=2, price_increment=Price.from_str("0.01"),
        size_precision=3, size_increment=Quantity.from_str("0.001"),
        max_quantity=None, min_quantity=None, max_notional=None, min_notional=None,
        max_price=None, min_price=None, margin_init=Decimal("0.05"), margin_maint=Decimal("0.025"),
        maker_fee=Decimal("0.0002"), taker_fee=Decimal("0.00018"), ts_event=0, ts_init=0)
    bar_type = BarType.from_str("BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-INTERNAL")
    ps, qs = 10 ** (FIXED_PRECISION - 2), 10 ** (FIXED_PRECISION - 3)
    iid, from_raw = instrument.id, TradeTick.from_raw
    buyer, seller = AggressorSide.BUYER, AggressorSide.SELLER
    ticks = [from_raw(iid, p * ps, 2, q * qs, 3, seller if m else buyer, TradeId(str(i)), t, t)
             for i, (t, p, q, m) in enumerate(ROWS[:n])]
    starts = TS[:n] - (TS[:n] % MINUTE_NS)
    cuts = [0, *(np.flatnonzero(np.diff(starts)) + 1).tolist(), n]
    segments = tuple((int(starts[a]), ticks[a:b]) for a, b in zip(cuts[:-1], cuts[1:]))
    return instrument, bar_type, segments, (ps, qs)


def _nautilus_stream(agg, clock, segments, bars):
    handle, advance = agg.handle_trade_tick, clock.advance_time
    for start, ticks in segments:
        for event in advance(start):   # closes the previous minute's bar
            event.handle()
        for tick in ticks:
            handle(tick)
    return bars


def test_nautilus_time_bars_one_timeframe(benchmark, quick):
    """NautilusTrader's TimeBarAggregator.handle_trade_tick, 1m, prebuilt
    TradeTicks (built untimed), a TestClock advanced at each minute boundary;
    a fresh clock and aggregator each round. Its bars must equal ours."""
    n = min(N, QUICK_NT_TRADES) if quick else N
    instrument, bar_type, segments, (ps, qs) = _nautilus(n)
    from nautilus_trader.common.component import TestClock
    from nautilus_trader.data.aggregation import TimeBarAggregator

    benchmark.extra_info.update(trades=n, timeframes=1, api="TimeBarAggregator.handle_trade_tick()",
                                nautilus_trader=__import__("nautilus_trader").__version__)

    def setup():
        clock = TestClock()
        clock.set_time(segments[0][0])   # on the first minute's boundary: its bar is the first
        bars = []
        return (TimeBarAggregator(instrument, bar_type, bars.append, clock), clock, segments, bars), {}

    bars = benchmark.pedantic(_nautilus_stream, setup=setup, rounds=5, iterations=1)
    ours = _closed_1m(n)
    got = [(b.ts_event, b.open.raw, b.high.raw, b.low.raw, b.close.raw, b.volume.raw) for b in bars]
    want = [(close_ns + 1, o * ps, h * ps, lo * ps, c * ps, v * qs) for close_ns, o, h, lo, c, v
            in ours[["close_ns", "open", "high", "low", "close", "volume"]].tolist()]
    assert len(want) > 0
    assert got == want

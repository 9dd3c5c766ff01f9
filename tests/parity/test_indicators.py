"""Indicators: the Cython classes against their pure-Python twins (same floats
on generated series with NaN/inf bars, ties, constant runs, tiny windows, and
on real 1m candles), the step contract (skipped bars, warm-up, reset), the
documented edge conventions, and parameter validation."""
import functools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from barfinex import backend
from barfinex.indicator_catalog import CATALOG, build

from ..conftest import DATA

pytestmark = pytest.mark.parity

NAMES = sorted(CATALOG)
INF = math.inf
NAN = math.nan


@functools.cache
def _read_candles():
    return pd.read_csv(DATA / "isda" / "LINKUSDT-1m-2023-02-01_07.csv.gz")


def _candles():
    return _read_candles().copy()


def _inputs(spec, bars, x="close"):
    """The arrays an indicator takes: its series (fed ``x``) then its bar fields."""
    return [bars[x].to_numpy(np.float64) for _ in spec.series] + \
           [bars[f].to_numpy(np.float64) for f in spec.bar_inputs]


def _outputs(result):
    return np.atleast_2d(np.array(result, dtype=np.float64))


def _stack(updates, n_out):
    """update() results (floats or tuples), one per bar, as (n_out, bars)."""
    return np.array(updates, dtype=np.float64).reshape(len(updates), n_out).T


def _assert_twins(a, b):
    """Bit-identical today (same operations in the same order); 1e-12 leaves
    room for a compiler that fuses multiply-adds."""
    a, b = _outputs(a), _outputs(b)
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, equal_nan=True)


@st.composite
def _params(draw, spec):
    out = {}
    for p in spec.params:
        if p.kind is int:
            out[p.name] = draw(st.integers(int(p.min), int(p.min) + 5))
        else:
            out[p.name] = draw(st.floats(0.0, 4.0))
    if spec.name == "macd":
        out["slow"] = out["fast"] + draw(st.integers(1, 5))
    return out


# Few distinct values (ties, zero ranges, constant runs, zero volume), big and
# small levels, and non-finite bars the indicators must skip.
VALUES = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, 2.0, 3.0, -1.0, 0.5]),
    st.sampled_from([NAN, INF, -INF]),
    st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False),
    st.floats(59_990.0, 60_010.0),
)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_twins_agree_on_generated_series(name, data):
    spec = CATALOG[name]
    params = data.draw(_params(spec), label="params")
    row = st.tuples(*[VALUES] * spec.n_in)
    constant = st.tuples(row, st.integers(0, 40)).map(lambda r: [r[0]] * r[1])
    rows = data.draw(st.lists(row, max_size=60) | constant, label="rows")
    cols = [np.array(c, dtype=np.float64) for c in zip(*rows)] if rows else [np.empty(0)] * spec.n_in
    f, p = build(spec, params, "fast"), build(spec, params, "py")
    batch = f.run(*cols)
    _assert_twins(batch, p.run(*cols))
    finite = sum(all(math.isfinite(v) for v in r) for r in rows)
    assert f.count == p.count == finite
    # one bar at a time gives what the batch gave, and reset() starts over
    for be in backend.BACKENDS:
        ind = build(spec, params, be)
        _assert_twins(_stack([ind.update(*r) for r in rows], spec.n_out), batch)
    f.reset(), p.reset()
    assert f.count == p.count == 0
    _assert_twins(f.run(*cols), batch)
    _assert_twins(p.run(*cols), batch)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_skipped_bar_changes_nothing(name, data):
    """A bar with any non-finite input leaves the state alone: the outputs of the
    other bars are those of the stream without it, and it reads all NaN."""
    spec = CATALOG[name]
    params = data.draw(_params(spec), label="params")
    finite = st.floats(-100.0, 100.0, allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, 1.0])
    rows = data.draw(st.lists(st.tuples(*[finite] * spec.n_in), min_size=1, max_size=50), label="rows")
    holes = data.draw(st.lists(st.tuples(st.integers(0, len(rows)), st.integers(0, spec.n_in - 1),
                                         st.sampled_from([NAN, INF, -INF])), max_size=6), label="holes")
    dirty = [list(r) for r in rows]
    for at, col, bad in sorted(holes, reverse=True):
        row = [1.0] * spec.n_in
        row[col] = bad
        dirty.insert(at, row)
    skipped = [i for i, r in enumerate(dirty) if not all(math.isfinite(v) for v in r)]
    for be in backend.BACKENDS:
        clean = _outputs(build(spec, params, be).run(*map(np.array, zip(*rows))))
        ind = build(spec, params, be)
        got = _outputs(ind.run(*map(np.array, zip(*dirty))))
        assert ind.count == len(rows)
        assert np.isnan(got[:, skipped]).all()
        kept = [i for i in range(len(dirty)) if i not in skipped]
        np.testing.assert_array_equal(got[:, kept], clean)


@pytest.mark.parametrize("name", NAMES)
def test_twins_agree_on_real_candles_and_warm_up_as_the_catalog_says(name):
    spec = CATALOG[name]
    bars = _candles()
    cols = _inputs(spec, bars)
    for case, params in enumerate(({}, {p.name: int(p.min) for p in spec.params if p.kind is int})):
        if spec.name == "macd" and params:
            params = {"fast": 1, "slow": 2, "signal": 1}
        params = {p.name: 9 for p in spec.params if p.default is None} | params
        f, p = build(spec, params, "fast"), build(spec, params, "py")
        a, b = _outputs(f.run(*cols)), _outputs(p.run(*cols))
        _assert_twins(a, b)
        warm = spec.warmup(params)
        assert np.isnan(a[:, :warm - 1]).all(), params
        assert not np.isnan(a[:, warm - 1]).any(), params
        if case == 0:      # defaults: no zero-volume or flat 20-bar window in this week
            assert not np.isnan(a[:, warm - 1:]).any(), params
        assert f.count == p.count == len(bars)


@pytest.mark.parametrize("name", NAMES)
def test_update_runs_one_bar(impl, name):
    spec = CATALOG[name]
    cls = getattr(impl("indicators"), spec.cls_name)
    params = {p.name: 3 for p in spec.params if p.default is None}
    cols = _inputs(spec, _candles().iloc[:60])
    batch = _outputs(cls(**params).run(*cols))
    ind = cls(**params)
    for k in range(len(cols[0])):
        out = ind.update(*(c[k] for c in cols))
        if spec.n_out == 1:
            assert isinstance(out, float)
        else:
            assert isinstance(out, tuple) and len(out) == spec.n_out
        np.testing.assert_array_equal(np.atleast_1d(out), batch[:, k])
    with pytest.raises(TypeError, match=f"takes {spec.n_in} inputs"):
        ind.update(*([1.0] * (spec.n_in + 1)))
    with pytest.raises(TypeError, match=f"takes {spec.n_in} arrays"):
        ind.run(*([np.ones(3)] * (spec.n_in + 1)))
    if spec.n_in > 1:
        with pytest.raises(ValueError, match="differ in length"):
            ind.run(np.ones(3), *([np.ones(4)] * (spec.n_in - 1)))


def test_the_base_class_is_abstract(impl):
    with pytest.raises(TypeError, match="abstract"):
        impl("indicators").Indicator()


# -------------------------------------------------------------- edge conventions

def _last(ind, *cols):
    return _outputs(ind.run(*(np.asarray(c, dtype=np.float64) for c in cols)))[:, -1]


def test_flat_market_conventions(impl):
    m = impl("indicators")
    c = np.full(40, 7.25)
    zero = np.zeros(40)
    assert _last(m.SMA(5), c) == [7.25] and _last(m.EMA(5), c) == [7.25] and _last(m.WMA(5), c) == [7.25]
    assert _last(m.RSI(14), c) == [50.0]                     # no change at all: neutral
    assert _last(m.StDev(5), c) == [0.0]                      # exactly, not a rounding residue
    assert np.isnan(_last(m.ZScore(5), c)).all()              # sd 0
    assert list(_last(m.Bollinger(5), c)) == [7.25] * 3
    assert list(_last(m.ADX(5), c, c, c)) == [0.0, 0.0, 0.0]  # tr 0 -> di 0 -> dx 0
    assert _last(m.ATR(5), c, c, c) == [0.0]
    assert list(_last(m.Stochastic(5, 3, 3), c, c, c)) == [50.0, 50.0]   # zero range
    assert _last(m.CCI(5), c, c, c) == [0.0]                  # all typical prices equal
    assert _last(m.MFI(5), c, c, c, c) == [50.0]              # neither flow
    assert np.isnan(_last(m.VWAP(5), zero, zero)).all()       # no volume
    assert _last(m.ROC(3), c) == [0.0]
    assert np.isnan(_last(m.ROC(3), zero)).all()              # x[n] == 0
    assert _last(m.OBV(), c, np.ones(40)) == [0.0]


def test_one_sided_markets(impl):
    m = impl("indicators")
    up = np.arange(1.0, 41.0)
    assert _last(m.RSI(14), up) == [100.0]                     # no losses
    assert _last(m.RSI(14), up[::-1]) == [0.0]
    assert _last(m.MFI(5), up, up, up, np.ones(40)) == [100.0]  # no negative flow
    assert _last(m.MFI(5), up[::-1], up[::-1], up[::-1], np.ones(40)) == [0.0]
    assert list(_last(m.Stochastic(5, 1, 1), up + 1, up - 1, up + 1)) == [100.0, 100.0]
    assert _last(m.OBV(), up, np.full(40, 2.0)) == [78.0]      # +2 on each of the 39 rises


def test_decimal_ties_survive_float_rounding(impl):
    """Bars from the LINKUSDT fixture whose prices tie as decimals but not as
    floats: (6.959+6.949+6.954)/3 == 6.954 but 6.956+6.951+6.955 gives
    6.954000000000001; 6.949-6.947 == 6.945-6.943 == 0.002, in floats
    0.0019999999999997797 < 0.002000000000000668."""
    m = impl("indicators")
    assert (6.956 + 6.951 + 6.955) / 3 > (6.959 + 6.949 + 6.954) / 3
    assert 6.949 - 6.947 < 6.945 - 6.943
    assert m.MFI(1).run([6.959, 6.956], [6.949, 6.951], [6.954, 6.955], [10, 20])[1] == 50.0  # neither flow
    adx, plus_di, minus_di = m.ADX(1).run([6.947, 6.949], [6.945, 6.943], [6.946, 6.946])
    assert (plus_di[1], minus_di[1], adx[1]) == (0.0, 0.0, 0.0)                         # neither move
    assert m.CCI(3).run([6.959, 6.956, 6.959], [6.949, 6.951, 6.949], [6.954, 6.955, 6.954])[2] == 0.0


def test_vwap_after_a_volume_spike_reads_exactly_zero_volume_as_nan(impl):
    """The rolling sum of a window of zeros is exactly 0 after a large value left it."""
    m = impl("indicators")
    v = np.array([1e12, 3.0, 0.1] + [0.0] * 10)
    out = m.VWAP(4).run(v * 7.0, v)
    assert np.isnan(out[-1]) and out[3] == pytest.approx(7.0)


def test_hand_computed_values(impl):
    m = impl("indicators")
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    np.testing.assert_array_equal(m.SMA(3).run(x), [NAN, NAN, 2, 3, 4, 5])
    np.testing.assert_array_equal(m.WMA(3).run(x), [NAN, NAN, 14 / 6, 20 / 6, 26 / 6, 32 / 6])
    np.testing.assert_array_equal(m.EMA(3).run(x), [NAN, NAN, 2, 3, 4, 5])   # alpha 1/2 on a line
    np.testing.assert_array_equal(m.Highest(2).run(x[::-1]), [NAN, 6, 5, 4, 3, 2])
    np.testing.assert_array_equal(m.ROC(2).run(x), [NAN, NAN, 200, 100, 200 / 3, 50])
    np.testing.assert_allclose(m.StDev(2).run(x), [NAN, .5, .5, .5, .5, .5])
    # true range uses the previous close: a gap up counts
    np.testing.assert_array_equal(m.ATR(1).run([10, 13, 13], [9, 12, 12], [10, 12.5, 12.5]), [NAN, 3, 1])
    # RSI(2): changes +1, -2 -> averages 0.5, 1 -> 33.33; then +3 -> (0.5+3)/2, (1+0)/2
    np.testing.assert_allclose(m.RSI(2).run([1, 2, 0, 3]), [NAN, NAN, 100 / 3, 100 * 1.75 / 2.25])


def test_reset_forgets_everything(impl):
    m = impl("indicators")
    bars = _candles().iloc[:300]
    ind = m.MACD(3, 7, 4)
    first = ind.run(bars["close"])
    ind.reset()
    assert ind.count == 0
    again = ind.run(bars["close"])
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


# -------------------------------------------------------------- parameters

@pytest.mark.parametrize("name", NAMES)
def test_bad_parameters_are_refused_by_name_and_range(impl, name):
    spec = CATALOG[name]
    cls = getattr(impl("indicators"), spec.cls_name)
    good = {p.name: (p.default if p.default is not None else 5) for p in spec.params}
    for p in spec.params:
        lo = f"{p.min:g}"
        bad = [p.min - 1, "5", None] + ([2.5, True] if p.kind is int else [math.nan, math.inf])
        if p.max is not None:
            bad.append(p.max + 1)
        for value in bad:
            with pytest.raises(ValueError, match=rf"{name}: {p.name} must be .* in \[{lo}, "):
                cls(**(good | {p.name: value}))
    if not any(p.default is None for p in spec.params):
        ind = cls()
        for p in spec.params:
            assert getattr(ind, p.name) == p.default
    else:
        with pytest.raises(TypeError):
            cls()


def test_macd_needs_fast_below_slow(impl):
    with pytest.raises(ValueError, match=r"macd: fast \(26\) must be < slow \(12\)"):
        impl("indicators").MACD(26, 12)

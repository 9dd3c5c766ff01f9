"""Every indicator, both backends, on a week of real Binance LINKUSDT 1m candles
(tests/data/isda), against an independent textbook implementation
(textbook_indicators.py: pandas/numpy from the definitions), on every bar:
1e-9 relative, NaN on the same bars.

The dispersion indicators are also checked where naive running sums fail: the
same candles moved to a 60,000 price level, against numpy in long double."""
import numpy as np
import pandas as pd
import pytest

from barfinex.indicator_catalog import CATALOG, build

from ..conftest import DATA
from . import textbook_indicators as textbook

pytestmark = pytest.mark.playback

RTOL = 1e-9

CASES = [
    ("sma", {"n": 20}), ("sma", {"n": 1}), ("ema", {"n": 20}), ("ema", {"n": 200}),
    ("wma", {"n": 10}), ("rsi", {}), ("rsi", {"n": 2}), ("atr", {}), ("atr", {"n": 1}),
    ("adx", {}), ("adx", {"n": 5}), ("macd", {}), ("macd", {"fast": 5, "slow": 35, "signal": 5}),
    ("bollinger", {}), ("bollinger", {"n": 50, "k": 2.5}), ("donchian", {}), ("donchian", {"n": 3}),
    ("stoch", {}), ("stoch", {"n": 14, "smooth_k": 3, "d": 3}), ("cci", {}), ("cci", {"n": 5}),
    ("mfi", {}), ("mfi", {"n": 3}), ("obv", {}), ("vwap", {"n": 60}), ("vwap", {"n": 1}),
    ("zscore", {}), ("zscore", {"n": 240}), ("roc", {"n": 10}), ("roc", {"n": 1}),
    ("highest", {"n": 50}), ("lowest", {"n": 50}), ("stdev", {"n": 20}), ("stdev", {"n": 2}),
]


@pytest.fixture(scope="module")
def bars():
    df = pd.read_csv(DATA / "isda" / "LINKUSDT-1m-2023-02-01_07.csv.gz")
    assert len(df) == 10_080 and (np.diff(df["open_time"]) == 60_000).all()
    return df


def _columns(spec, bars, x):
    return [np.asarray(x, dtype=np.float64) for _ in spec.series] + \
           [bars[f].to_numpy(np.float64) for f in spec.bar_inputs]


def _check(got, want, label):
    got = np.atleast_2d(np.array(got, dtype=np.float64))
    want = np.atleast_2d(np.array(want, dtype=np.float64))
    assert got.shape == want.shape, label
    for j, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{label} output {j}: NaN bars")
        # relative to each value, with a floor relative to the output's scale for
        # values that cross zero (MACD histogram, z-score, ROC)
        scale = np.nanmax(np.abs(w)) if not np.isnan(w).all() else 1.0
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=RTOL * scale, equal_nan=True,
                                   err_msg=f"{label} output {j}")


@pytest.mark.parametrize("name, params", CASES, ids=[f"{n}-{'-'.join(map(str, p.values())) or 'defaults'}"
                                                       for n, p in CASES])
def test_matches_the_textbook_on_every_bar(impl, bars, name, params):
    spec = CATALOG[name]
    backend_name = "fast" if impl("indicators").__name__.startswith("barfinex._fast") else "py"
    cols = _columns(spec, bars, bars["close"])
    got = build(spec, params, backend_name).run(*cols)
    want = textbook.TEXTBOOK[name](*cols, **params)
    _check(got, want, f"{name}{params}")
    first = np.flatnonzero(~np.isnan(np.atleast_2d(np.array(got))).any(axis=0))[0]
    assert first + 1 == spec.warmup(params)


LEVELS = {
    "plus-60000": lambda close: close + 60_000.0,     # ~0.01 spread on a 60,000 level: 1e-13 relative variance
    "times-8600": lambda close: close * 8_600.0,      # a BTC-like level with LINK's relative moves
}


@pytest.mark.parametrize("level", sorted(LEVELS))
@pytest.mark.parametrize("name, params", [("stdev", {"n": 20}), ("stdev", {"n": 5}),
                                          ("bollinger", {"n": 20, "k": 2.0}), ("zscore", {"n": 20}),
                                          ("zscore", {"n": 100})])
def test_dispersion_survives_a_high_price_level(impl, bars, level, name, params):
    x = LEVELS[level](bars["close"].to_numpy(np.float64))
    ind = getattr(impl("indicators"), CATALOG[name].cls_name)(**params)
    got = ind.run(x)
    want = textbook.TEXTBOOK[name](x.astype(np.longdouble), **params)
    _check(got, np.array(want, dtype=np.float64), f"{name}{params} {level}")


def test_the_high_level_case_defeats_naive_running_sums(bars):
    """The check above has teeth: sum(x^2)/n - mean^2 on the same data is off
    by far more than 1e-9, where the indicators are not."""
    x = bars["close"].to_numpy(np.float64) + 60_000.0
    n = 20
    w = np.lib.stride_tricks.sliding_window_view(x, n)
    naive = np.sqrt(np.maximum((w * w).mean(axis=1) - w.mean(axis=1) ** 2, 0.0))
    exact = w.astype(np.longdouble).std(axis=1).astype(np.float64)
    assert np.nanmax(np.abs(naive - exact) / exact) > 1e-3

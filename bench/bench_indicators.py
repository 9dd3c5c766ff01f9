"""Indicator cost per bar, each indicator three ways in the same run:

* ``fast``: the Cython class's ``run()`` over the arrays, i.e. one cdef
  ``step_c`` call through the vtable per bar (what the rule VM does), plus
  the gather of the inputs;
* ``py``: the pure-Python twin's ``run()``;
* ``pandas``: the textbook implementation over the whole array at once
  (tests/playback/textbook_indicators.py: pandas/numpy, vectorised where the
  definition allows), the batch peer.

Input: the week of real LINKUSDT 1m candles in tests/data/isda (10,080 bars),
repeated BENCH_BARS_REPEAT times (default 10: 100,800 bars) for ``fast`` and
``pandas``; the twin runs one week. Default parameters (n = 20 where the
language has no default). A fresh indicator is built each round. Figures are
per bar: divide a round by ``extra_info["bars"]``.

Also ``update()`` one bar per call from a Python loop (SMA, MACD), to show the
Python call floor the VM does not pay."""
import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from barfinex import backend
from barfinex.indicator_catalog import CATALOG

ROOT = Path(__file__).resolve().parents[1]
CANDLES = ROOT / "tests" / "data" / "isda" / "LINKUSDT-1m-2023-02-01_07.csv.gz"
REPEAT = int(os.environ.get("BENCH_BARS_REPEAT", "10"))


def _textbook():
    path = ROOT / "tests" / "playback" / "textbook_indicators.py"
    spec = importlib.util.spec_from_file_location("bench_textbook_indicators", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TEXTBOOK


TEXTBOOK = _textbook()
WEEK = pd.read_csv(CANDLES)
FIELDS = {f: WEEK[f].to_numpy(np.float64) for f in ("high", "low", "close", "volume", "quote_volume")}
for _a in FIELDS.values():
    _a.setflags(write=False)
NAMES = sorted(CATALOG)


def _params(spec):
    return {p.name: 20 for p in spec.params if p.default is None}


def _columns(spec, bars):
    reps = -(-bars // len(WEEK))
    cols = [np.tile(FIELDS["close"], reps)[:bars] for _ in spec.series] + \
           [np.tile(FIELDS[f], reps)[:bars] for f in spec.bar_inputs]
    for c in cols:
        c.setflags(write=False)
    return cols


@pytest.mark.parametrize("impl", ["fast", "py", "pandas"])
@pytest.mark.parametrize("name", NAMES)
def test_indicator(benchmark, quick, name, impl):
    spec = CATALOG[name]
    params = _params(spec)
    if impl == "py":
        bars = 1_000 if quick else len(WEEK)
    else:
        bars = 1_000 if quick else len(WEEK) * REPEAT
    cols = _columns(spec, bars)
    benchmark.group = name
    benchmark.extra_info.update(bars=bars, indicator=name, impl=impl, params=params)
    if impl == "pandas":
        fn = TEXTBOOK[name]
        out = benchmark.pedantic(lambda: fn(*cols, **params), rounds=1 if quick else 5, iterations=1)
    else:
        cls = getattr(backend.load("indicators", impl), spec.cls_name)
        out = benchmark.pedantic(lambda ind: ind.run(*cols), setup=lambda: ((cls(**params),), {}),
                                 rounds=1 if quick else (7 if impl == "fast" else 3), iterations=1)
    out = np.atleast_2d(np.array(out))
    assert out.shape == (spec.n_out, bars) and not np.isnan(out[:, -1]).any()


@pytest.mark.parametrize("be", backend.BACKENDS)
@pytest.mark.parametrize("name", ["sma", "macd"])
def test_update_from_python(benchmark, quick, name, be):
    spec = CATALOG[name]
    cls = getattr(backend.load("indicators", be), spec.cls_name)
    bars = 1_000 if quick else len(WEEK)
    close = FIELDS["close"][:bars].tolist()
    benchmark.group = f"{name} update()"
    benchmark.extra_info.update(bars=bars, indicator=name, impl=be, api="update() per bar")

    def stream(ind):
        update = ind.update
        for x in close:
            update(x)
        return ind

    ind = benchmark.pedantic(stream, setup=lambda: ((cls(**_params(spec)),), {}),
                             rounds=1 if quick else 5, iterations=1)
    assert ind.count == bars

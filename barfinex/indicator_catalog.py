"""The technical indicators the rule language knows: names, inputs, parameters,
outputs and warm-up, for the rule compiler. Pure Python; no Cython here.

One :class:`IndicatorSpec` per language name in :data:`CATALOG`. A call in a
rule passes the ``series`` inputs as expressions, then the parameters, e.g.
``sma(close, 20)``, ``macd(close, 12, 26, 9)``, ``atr(14)``; the ``bar_inputs``
are bar fields the VM feeds implicitly after the series inputs. An indicator
object therefore takes ``n_in = len(series) + len(bar_inputs)`` inputs per bar,
in that order, and writes ``len(outputs)`` outputs; the first output is the
default one (``macd(close).signal`` picks another).

Both backends' constructors validate their parameters through this catalog
(:meth:`IndicatorSpec.resolve`), so the ranges below are the ones enforced.

Price ties (MFI's tp > tp[1], ADX's up > down, CCI's flat window) are taken
at 1e-12 relative to the price, so decimal-equal prices stay equal through
float rounding (see the .pyx docstring).

Warm-up: :meth:`IndicatorSpec.warmup` is the number of bars (with finite
inputs) an indicator must be fed for its outputs to be defined: the first
non-NaN output comes on that bar, i.e. once ``count == warmup``. All outputs
of one indicator start on the same bar (as TA-Lib does), so one number holds
for every output. An indicator fed another's output (``sma(rsi(close), 5)``)
is defined from bar ``warmup(inner) + warmup(outer) - 1``; a lag of k bars
adds k. Zero-denominator conventions are in each entry's doc and in
the docstring of barfinex/_fast/indicators.pyx.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Callable, Mapping

BAR_FIELDS = ("open", "high", "low", "close", "volume", "quote_volume", "trades",
              "taker_buy_volume", "vwap")
MAX_PERIOD = 100_000      # bars; a ring buffer of this many doubles is 800 KB


@dataclass(frozen=True)
class Param:
    """One parameter of an indicator: ``default`` None means required;
    ``min``/``max`` are inclusive (``max`` None: unbounded)."""
    name: str
    kind: type
    default: object | None
    min: float
    max: float | None
    doc: str

    def check(self, owner: str, value):
        """``value`` as ``kind``, or ValueError naming the parameter and its range."""
        hi = "inf" if self.max is None else f"{self.max:g}"
        if self.kind is int:
            what = f"an integer in [{self.min:g}, {hi}]"
            try:
                if isinstance(value, bool):
                    raise TypeError
                v = operator.index(value)
            except TypeError:
                raise ValueError(f"{owner}: {self.name} must be {what}, got {value!r}") from None
        else:
            what = f"a number in [{self.min:g}, {hi}]"
            try:
                if isinstance(value, (bool, str, bytes)):
                    raise TypeError
                v = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{owner}: {self.name} must be {what}, got {value!r}") from None
            if not math.isfinite(v):
                raise ValueError(f"{owner}: {self.name} must be {what}, got {value!r}")
        if v < self.min or (self.max is not None and v > self.max):
            raise ValueError(f"{owner}: {self.name} must be {what}, got {value!r}")
        return v


@dataclass(frozen=True)
class IndicatorSpec:
    """What the compiler needs to know about one indicator."""
    name: str                     # language name, lower case
    cls_name: str                 # class in barfinex._fast.indicators / barfinex._py.indicators
    series: tuple[str, ...]       # inputs the rule author passes as expressions
    bar_inputs: tuple[str, ...]   # implicit bar fields, fed after the series inputs
    params: tuple[Param, ...]
    outputs: tuple[str, ...]      # the first is the default output
    doc: str                      # the definition and warm-up, one line
    # resolved params -> warm-up bars (use warmup(), which resolves first)
    warmup_of: Callable[[dict], int] = field(repr=False, compare=False)
    # resolved params -> a problem between parameters (macd: fast < slow), or None
    cross_check: Callable[[dict], str | None] | None = field(repr=False, compare=False, default=None)

    @property
    def n_in(self) -> int:
        return len(self.series) + len(self.bar_inputs)

    @property
    def n_out(self) -> int:
        return len(self.outputs)

    def resolve(self, params: Mapping[str, object] | None = None) -> dict:
        """Parameters by name with defaults filled in, checked: ValueError for an
        unknown or missing name or a value out of range."""
        given = dict(params or {})
        known = {p.name for p in self.params}
        unknown = sorted(set(given) - known)
        if unknown:
            allowed = ", ".join(p.name for p in self.params) or "none"
            raise ValueError(f"{self.name}: unknown parameter {unknown[0]!r} (parameters: {allowed})")
        out = {}
        for p in self.params:
            if p.name in given:
                out[p.name] = p.check(self.name, given[p.name])
            elif p.default is None:
                raise ValueError(f"{self.name}: parameter {p.name} is required ({p.doc})")
            else:
                out[p.name] = p.default
        if self.cross_check is not None:
            problem = self.cross_check(out)
            if problem:
                raise ValueError(f"{self.name}: {problem}")
        return out

    def warmup(self, params: Mapping[str, object] | None = None) -> int:
        """Bars to feed until the outputs are defined: the first non-NaN output
        comes on this bar (``count == warmup``)."""
        return self.warmup_of(self.resolve(params))


def _n(default=None, lo=1, doc="window length in bars"):
    return Param("n", int, default, lo, MAX_PERIOD, doc)


def _spec(name, cls_name, series, bar_inputs, params, outputs, doc, warmup, cross_check=None):
    return IndicatorSpec(name, cls_name, tuple(series), tuple(bar_inputs), tuple(params),
                         tuple(outputs), doc, warmup, cross_check)


def _macd_check(p):
    if p["fast"] >= p["slow"]:
        return f"fast ({p['fast']}) must be < slow ({p['slow']})"
    return None


_HLC = ("high", "low", "close")

_SPECS = (
    _spec("sma", "SMA", ("x",), (), [_n()], ("value",),
          "simple moving average: mean of the last n values; first value on bar n",
          lambda p: p["n"]),
    _spec("ema", "EMA", ("x",), (), [_n()], ("value",),
          "exponential moving average, alpha = 2/(n+1), seeded with the SMA of the first n values "
          "on bar n, then ema = alpha*x + (1-alpha)*ema",
          lambda p: p["n"]),
    _spec("wma", "WMA", ("x",), (), [_n()], ("value",),
          "linearly weighted moving average, weights 1..n (newest n), divided by n(n+1)/2; "
          "first value on bar n",
          lambda p: p["n"]),
    _spec("rsi", "RSI", ("x",), (), [_n(14)], ("value",),
          "Wilder's RSI: gains/losses of x - x[1]; first averages = simple means of the first n "
          "changes (bar n+1), then avg = (avg*(n-1) + cur)/n; rsi = 100*g/(g+l); 100 if only "
          "gains, 50 if no change at all",
          lambda p: p["n"] + 1),
    _spec("atr", "ATR", (), _HLC, [_n(14)], ("value",),
          "Wilder's average true range: tr = max(high-low, |high-close[1]|, |low-close[1]|) from "
          "bar 2; first atr = mean of the first n tr (bar n+1), then (atr*(n-1) + tr)/n",
          lambda p: p["n"] + 1),
    _spec("adx", "ADX", (), _HLC, [_n(14)], ("adx", "plus_di", "minus_di"),
          "Wilder's ADX/DMI: +DM = up move if up > down move (a tie within 1e-12 of the price: "
          "neither) and > 0, -DM likewise; +DM/-DM and tr Wilder-smoothed like atr (bar n+1), di = 100*dm/tr, "
          "dx = 100*|+di - -di|/(+di + -di), adx = Wilder average of dx (first = mean of n dx); "
          "all outputs from bar 2n; di 0 if tr is 0, dx 0 if both di are 0",
          lambda p: 2 * p["n"]),
    _spec("macd", "MACD", ("x",),
          (), [Param("fast", int, 12, 1, MAX_PERIOD, "fast EMA length"),
               Param("slow", int, 26, 2, MAX_PERIOD, "slow EMA length (> fast)"),
               Param("signal", int, 9, 1, MAX_PERIOD, "signal EMA length")],
          ("macd", "signal", "hist"),
          "macd = ema(x, fast) - ema(x, slow) (SMA-seeded EMAs), signal = SMA-seeded ema(macd, "
          "signal), hist = macd - signal; all outputs from bar slow+signal-1",
          lambda p: p["slow"] + p["signal"] - 1, _macd_check),
    _spec("bollinger", "Bollinger", ("x",), (),
          [_n(20, 2), Param("k", float, 2.0, 0.0, None, "band width in standard deviations")],
          ("mid", "upper", "lower"),
          "Bollinger bands: mid = sma(x, n), upper/lower = mid +/- k * population stdev over n; "
          "from bar n",
          lambda p: p["n"]),
    _spec("donchian", "Donchian", (), ("high", "low"), [_n(20)], ("upper", "lower", "mid"),
          "Donchian channel: upper = highest high, lower = lowest low over the last n bars "
          "(current included), mid = (upper+lower)/2; from bar n",
          lambda p: p["n"]),
    _spec("stoch", "Stochastic", (), _HLC,
          [_n(14, doc="look-back of the high/low range"),
           Param("smooth_k", int, 1, 1, MAX_PERIOD, "SMA length applied to raw %K (1: fast, 3: slow)"),
           Param("d", int, 3, 1, MAX_PERIOD, "SMA length of %D")],
          ("k", "d"),
          "stochastic: raw %K = 100*(close - lowest low)/(highest high - lowest low) over n "
          "(50 if the range is 0), k = sma(raw, smooth_k), d = sma(k, d); from bar n+smooth_k+d-2",
          lambda p: p["n"] + p["smooth_k"] + p["d"] - 2),
    _spec("cci", "CCI", (), _HLC, [_n(20)], ("value",),
          "commodity channel index: tp = (high+low+close)/3, cci = (tp - sma(tp, n)) / "
          "(0.015 * mean |tp - sma|) over n; 0 if the n tp are all equal (within 1e-12 of the price); "
          "from bar n; O(n) a bar",
          lambda p: p["n"]),
    _spec("mfi", "MFI", (), _HLC + ("volume",), [_n(14)], ("value",),
          "money flow index: tp = (high+low+close)/3, flow = tp*volume, positive if tp > tp[1], "
          "negative if tp < tp[1] (a tie within 1e-12 of the price: neither); mfi = 100*pos/(pos+neg) over the last n flows (bar n+1); "
          "100 if no negative flow, 50 if neither",
          lambda p: p["n"] + 1),
    _spec("obv", "OBV", (), ("close", "volume"), [], ("value",),
          "on-balance volume: 0 on the first bar, then +volume if close > close[1], -volume if "
          "lower, unchanged if equal; from bar 1",
          lambda p: 1),
    _spec("vwap", "VWAP", (), ("quote_volume", "volume"), [_n()], ("value",),
          "rolling volume-weighted average price: sum(quote_volume)/sum(volume) over the last n "
          "bars; NaN if the window has no volume; from bar n",
          lambda p: p["n"]),
    _spec("zscore", "ZScore", ("x",), (), [_n(20, 2)], ("value",),
          "z-score: (x - sma(x, n)) / population stdev over n (current bar included); NaN if "
          "the stdev is 0; from bar n",
          lambda p: p["n"]),
    _spec("roc", "ROC", ("x",), (), [_n()], ("value",),
          "rate of change in percent: 100*(x/x[n] - 1); NaN if x[n] is 0; from bar n+1",
          lambda p: p["n"] + 1),
    _spec("highest", "Highest", ("x",), (), [_n()], ("value",),
          "highest x over the last n bars (current included); from bar n",
          lambda p: p["n"]),
    _spec("lowest", "Lowest", ("x",), (), [_n()], ("value",),
          "lowest x over the last n bars (current included); from bar n",
          lambda p: p["n"]),
    _spec("stdev", "StDev", ("x",), (), [_n(None, 2)], ("value",),
          "population standard deviation of the last n values; from bar n",
          lambda p: p["n"]),
)

CATALOG: dict[str, IndicatorSpec] = {s.name: s for s in _SPECS}
BY_CLASS: dict[str, IndicatorSpec] = {s.cls_name: s for s in _SPECS}


def build(spec: IndicatorSpec | str, params: Mapping[str, object] | None = None, backend: str | None = None):
    """A fresh indicator object for ``spec`` (or its language name) from the
    selected backend module (barfinex.backend.load("indicators"))."""
    from barfinex import backend as backends

    if isinstance(spec, str):
        try:
            spec = CATALOG[spec]
        except KeyError:
            raise ValueError(f"unknown indicator {spec!r} (known: {', '.join(sorted(CATALOG))})") from None
    resolved = spec.resolve(params)
    return getattr(backends.load("indicators", backend), spec.cls_name)(**resolved)


def check_params(cls_name: str, **given) -> dict:
    """The constructors' door: ``given`` checked against the catalog entry of
    class ``cls_name`` (ValueError naming the parameter and its range)."""
    return BY_CLASS[cls_name].resolve(given)

"""Textbook indicators computed over whole arrays with pandas/numpy, written
from the definitions (barfinex/indicator_catalog.py docs), never calling
barfinex. The independent reference for tests/playback/test_indicators_textbook.py
and the vectorised peer of bench/bench_indicators.py.

Where a definition compares prices (MFI's tp > tp[1], ADX's up > down, CCI's
all-equal window) the comparison is made on the decimal prices, as exact
integers of 1e-8 (Binance prices have at most 8 decimals), not on their float
images: two decimal-equal typical prices are equal here whatever the rounding.

Each function takes float arrays (float64, or longdouble for a more exact
reference) and returns an array, or a tuple in the catalog's output order,
NaN where the indicator is not defined yet. Multi-output indicators start all
outputs on the same bar (the catalog's convention).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view


def _nan_like(x):
    return np.full(len(x), np.nan, dtype=np.result_type(x, np.float64))


def _windows(x, n):
    """Row i is x[i:i+n]: the window ending on bar i+n-1."""
    return sliding_window_view(np.asarray(x), n)


def _place(values, start, length, dtype=np.float64):
    out = np.full(length, np.nan, dtype=dtype)
    out[start:start + len(values)] = values
    return out


def _seeded_average(x, n, alpha):
    """y = SMA of the first n values on value n, then y = alpha*x + (1-alpha)*y
    (pandas ewm with adjust=False does the recursion). NaN before."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < n:
        return np.full(len(x), np.nan)
    seeded = x[n - 1:].copy()
    seeded[0] = x[:n].mean()
    return _place(pd.Series(seeded).ewm(alpha=alpha, adjust=False).mean().to_numpy(), n - 1, len(x))


def _units(x):
    """Decimal prices (<= 8 decimals) as exact integers of 1e-8."""
    return np.rint(np.asarray(x, dtype=np.float64) * 1e8).astype(np.int64)


def _previous(x):
    """x shifted one bar later (NaN first)."""
    return np.concatenate([[np.nan], np.asarray(x, dtype=np.float64)[:-1]])


def sma(x, n):
    return pd.Series(x).rolling(n).mean().to_numpy()


def ema(x, n):
    return _seeded_average(x, n, 2.0 / (n + 1))


def wma(x, n):
    w = np.arange(1, n + 1, dtype=np.float64)
    return _place(_windows(x, n) @ w / w.sum(), n - 1, len(x))


def rsi(x, n=14):
    change = np.diff(np.asarray(x, dtype=np.float64))
    avg_gain = _seeded_average(np.where(change > 0, change, 0.0), n, 1.0 / n)
    avg_loss = _seeded_average(np.where(change < 0, -change, 0.0), n, 1.0 / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    value = np.where(avg_loss == 0, np.where(avg_gain == 0, 50.0, 100.0), value)
    value[np.isnan(avg_gain)] = np.nan
    return np.concatenate([[np.nan], value])


def true_range(high, low, close):
    """Defined from bar 2 (it needs the previous close); NaN on bar 1."""
    prev_close = _previous(close)
    return np.maximum.reduce([high - low, np.abs(high - prev_close), np.abs(low - prev_close)])


def atr(high, low, close, n=14):
    tr = true_range(high, low, close)
    return np.concatenate([[np.nan], _seeded_average(tr[1:], n, 1.0 / n)])


def adx(high, low, close, n=14):
    """Wilder's DMI as in his book: 14-period *sums* smoothed by
    S = S - S/n + today (first = plain sum), DI = 100*DM/TR, DX, then ADX =
    mean of the first n DX and (ADX*(n-1) + DX)/n after."""
    high, low = np.asarray(high, np.float64), np.asarray(low, np.float64)
    up = high[1:] - high[:-1]
    down = low[:-1] - low[1:]
    hu, lu = _units(high), _units(low)
    up_u, down_u = hu[1:] - hu[:-1], lu[:-1] - lu[1:]
    plus_dm = np.where((up_u > down_u) & (up_u > 0), up, 0.0)
    minus_dm = np.where((down_u > up_u) & (down_u > 0), down, 0.0)
    tr = true_range(high, low, close)[1:]

    def wilder_sum(v):
        # S = S - S/n + v is ewm(alpha=1/n) of n*v, started on the plain sum of the first n
        if len(v) < n:
            return np.full(len(v), np.nan)
        seeded = n * v[n - 1:]
        seeded[0] = v[:n].sum()
        return _place(pd.Series(seeded).ewm(alpha=1.0 / n, adjust=False).mean().to_numpy(), n - 1, len(v))

    tr_s, p_s, m_s = wilder_sum(tr), wilder_sum(plus_dm), wilder_sum(minus_dm)
    with np.errstate(divide="ignore", invalid="ignore"):
        plus_di = np.where(tr_s == 0, 0.0, 100.0 * p_s / tr_s)
        minus_di = np.where(tr_s == 0, 0.0, 100.0 * m_s / tr_s)
        dx = np.where(plus_di + minus_di == 0, 0.0, 100.0 * np.abs(plus_di - minus_di) / (plus_di + minus_di))
    dx[np.isnan(tr_s)] = np.nan
    adx_ = _place(_seeded_average(dx[n - 1:], n, 1.0 / n), n - 1, len(dx))
    ready = ~np.isnan(adx_)
    out = [np.concatenate([[np.nan], np.where(ready, v, np.nan)]) for v in (adx_, plus_di, minus_di)]
    return tuple(out)


def macd(x, fast=12, slow=26, signal=9):
    line = ema(x, fast) - ema(x, slow)
    sig = _place(_seeded_average(line[slow - 1:], signal, 2.0 / (signal + 1)), slow - 1, len(x))
    ready = ~np.isnan(sig)
    line = np.where(ready, line, np.nan)
    return line, sig, line - sig


def _mean_std(x, n):
    w = _windows(x, n)
    return (_place(w.mean(axis=1), n - 1, len(x), w.dtype),
            _place(w.std(axis=1), n - 1, len(x), w.dtype))     # ddof=0: population


def bollinger(x, n=20, k=2.0):
    mid, sd = _mean_std(x, n)
    return mid, mid + k * sd, mid - k * sd


def stdev(x, n):
    return _mean_std(x, n)[1]


def zscore(x, n=20):
    mid, sd = _mean_std(x, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd == 0, np.nan, (np.asarray(x) - mid) / sd)


def highest(x, n):
    return pd.Series(x).rolling(n).max().to_numpy()


def lowest(x, n):
    return pd.Series(x).rolling(n).min().to_numpy()


def donchian(high, low, n=20):
    upper, lower = highest(high, n), lowest(low, n)
    return upper, lower, (upper + lower) / 2


def stoch(high, low, close, n=14, smooth_k=1, d=3):
    hh, ll = highest(high, n), lowest(low, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(hh == ll, 50.0, 100.0 * (close - ll) / (hh - ll))
    raw[np.isnan(hh)] = np.nan
    k = pd.Series(raw).rolling(smooth_k).mean().to_numpy()
    d_ = pd.Series(k).rolling(d).mean().to_numpy()
    return np.where(np.isnan(d_), np.nan, k), d_


def cci(high, low, close, n=20):
    tp = (high + low + close) / 3
    w = _windows(tp, n)
    mean = w.mean(axis=1)
    mean_dev = np.abs(w - mean[:, None]).mean(axis=1)
    tp_u = _windows(_units(high) + _units(low) + _units(close), n)
    flat = tp_u.max(axis=1) == tp_u.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(flat, 0.0, (tp[n - 1:] - mean) / (0.015 * mean_dev))
    return _place(value, n - 1, len(tp))


def mfi(high, low, close, volume, n=14):
    tp = (high + low + close) / 3
    flow = tp * volume
    tp_u = _units(high) + _units(low) + _units(close)     # 3 * tp, exact
    pos = np.where(tp_u[1:] > tp_u[:-1], flow[1:], 0.0)
    neg = np.where(tp_u[1:] < tp_u[:-1], flow[1:], 0.0)
    p, q = _windows(pos, n).sum(axis=1), _windows(neg, n).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(q == 0, np.where(p == 0, 50.0, 100.0), 100.0 - 100.0 / (1.0 + p / q))
    return _place(value, n, len(tp))


def obv(close, volume):
    step = np.sign(np.diff(close)) * volume[1:]
    return np.concatenate([[0.0], np.cumsum(step)])


def vwap(quote_volume, volume, n):
    q, v = _windows(quote_volume, n).sum(axis=1), _windows(volume, n).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _place(np.where(v == 0, np.nan, q / v), n - 1, len(volume))


def roc(x, n):
    x = np.asarray(x, dtype=np.float64)
    before = np.concatenate([np.full(n, np.nan), x[:-n]])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(before == 0, np.nan, 100.0 * (x / before - 1.0))


# language name -> function; arguments: the catalog's series then bar inputs, then params by name
TEXTBOOK = {
    "sma": sma, "ema": ema, "wma": wma, "rsi": rsi, "atr": atr, "adx": adx, "macd": macd,
    "bollinger": bollinger, "donchian": donchian, "stoch": stoch, "cci": cci, "mfi": mfi,
    "obv": obv, "vwap": vwap, "zscore": zscore, "roc": roc, "highest": highest,
    "lowest": lowest, "stdev": stdev,
}

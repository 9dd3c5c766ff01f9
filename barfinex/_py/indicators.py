"""Pure-Python twin of barfinex/_fast/indicators.pyx: same classes, same
constructors, same ``update``/``run``/``reset``/``count``/``n_in``/``n_out``.

See the Cython module for the definitions, warm-ups and edge conventions. The
arithmetic here is the same operations in the same order (rolling sums
recomputed when their ring wraps, variances about an anchor), so both
backends give the same floats.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

from barfinex.indicator_catalog import check_params

NAN = math.nan
TIE_REL = 1e-12
_isfinite = math.isfinite


def _cmp(a, b, scale):
    """Sign of a - b, 0 when they differ by no more than TIE_REL * scale (a tie)."""
    d = a - b
    if abs(d) <= TIE_REL * scale:
        return 0
    return 1 if d > 0.0 else -1


class _Ring:
    """The last n values; buf[pos] is the oldest once full."""
    __slots__ = ("buf", "n", "pos", "size")

    def __init__(self, n):
        self.buf = [0.0] * n
        self.n = n
        self.clear()

    def clear(self):
        self.pos = 0
        self.size = 0

    def push(self, v):
        self.buf[self.pos] = v
        self.pos += 1
        if self.pos == self.n:
            self.pos = 0
        if self.size < self.n:
            self.size += 1


class _RollSum:
    """Rolling sum over n values, recomputed exactly when the ring wraps;
    exactly 0.0 when every value in the window is 0."""
    __slots__ = ("buf", "n", "pos", "size", "nonzero", "sum")

    def __init__(self, n):
        self.buf = [0.0] * n
        self.n = n
        self.clear()

    def clear(self):
        self.pos = 0
        self.size = 0
        self.nonzero = 0
        self.sum = 0.0

    def push(self, v):
        if self.size == self.n:
            old = self.buf[self.pos]
            self.sum += v - old
            self.nonzero += (v != 0.0) - (old != 0.0)
        else:
            self.sum += v
            self.nonzero += v != 0.0
            self.size += 1
        self.buf[self.pos] = v
        self.pos += 1
        if self.pos == self.n:
            self.pos = 0
            s = 0.0
            for b in self.buf:          # a loop, not sum(): same order and rounding as C
                s += b
            self.sum = s
        if self.nonzero == 0:
            self.sum = 0.0


class _RollVar:
    """Rolling mean and population variance with sums about an anchor."""
    __slots__ = ("buf", "n", "pos", "size", "same", "last", "anchor", "s1", "s2")

    def __init__(self, n):
        self.buf = [0.0] * n
        self.n = n
        self.clear()

    def clear(self):
        self.pos = 0
        self.size = 0
        self.same = 0
        self.last = 0.0
        self.anchor = 0.0
        self.s1 = 0.0
        self.s2 = 0.0

    def push(self, v):
        if self.size == 0:
            self.anchor = v
        d = v - self.anchor
        if self.size == self.n:
            od = self.buf[self.pos] - self.anchor
            self.s1 += d - od
            self.s2 += d * d - od * od
        else:
            self.s1 += d
            self.s2 += d * d
            self.size += 1
        if self.same > 0 and v == self.last:
            if self.same < self.n:
                self.same += 1
        else:
            self.same = 1
        self.last = v
        self.buf[self.pos] = v
        self.pos += 1
        if self.pos == self.n:
            self.pos = 0
            s1 = 0.0
            for b in self.buf:
                s1 += b
            a = s1 / self.n
            s1 = 0.0
            s2 = 0.0
            for b in self.buf:
                d = b - a
                s1 += d
                s2 += d * d
            self.anchor = a
            self.s1 = s1
            self.s2 = s2

    def mean(self):
        if self.same >= self.size:
            return self.last
        return self.anchor + self.s1 / self.size

    def var(self):
        if self.same >= self.size:
            return 0.0
        v = (self.s2 - self.s1 * (self.s1 / self.size)) / self.size
        return v if v > 0.0 else 0.0


class _MonoQ:
    """Monotonic deque of (value, bar number) for a rolling max or min."""
    __slots__ = ("q", "n", "is_max")

    def __init__(self, n, is_max):
        self.q = deque()
        self.n = n
        self.is_max = is_max

    def clear(self):
        self.q.clear()

    def push(self, v, t):
        q = self.q
        while q and q[0][1] <= t - self.n:
            q.popleft()
        if self.is_max:
            while q and q[-1][0] <= v:
                q.pop()
        else:
            while q and q[-1][0] >= v:
                q.pop()
        q.append((v, t))
        return q[0][0]


class _Smoother:
    """SMA-seeded exponential average: EMA (alpha 2/(n+1)) or Wilder's (1/n)."""
    __slots__ = ("n", "wilder", "alpha", "beta", "k", "sum", "value")

    def __init__(self, n, wilder):
        self.n = n
        self.wilder = wilder
        self.alpha = 2.0 / (n + 1.0)
        self.beta = 1.0 - self.alpha
        self.clear()

    def clear(self):
        self.k = 0
        self.sum = 0.0
        self.value = NAN

    def push(self, x):
        self.k += 1
        if self.k < self.n:
            self.sum += x
            return NAN
        if self.k == self.n:
            self.sum += x
            self.value = self.sum / self.n
        elif self.wilder:
            self.value = (self.value * (self.n - 1) + x) / self.n
        else:
            self.value = self.alpha * x + self.beta * self.value
        return self.value


def _true_range(h, l, prev_close):
    tr = h - l
    a = abs(h - prev_close)
    if a > tr:
        tr = a
    a = abs(l - prev_close)
    if a > tr:
        tr = a
    return tr


class Indicator:
    """Base of every indicator: ``n_in`` inputs and ``n_out`` outputs per bar,
    ``count`` bars with finite inputs seen. Subclasses implement ``_step``
    (finite inputs only) and ``_clear``."""

    n_in = 1
    n_out = 1

    def __init__(self):
        if type(self) is Indicator:
            raise TypeError("Indicator is abstract: build one of its subclasses (see indicator_catalog)")
        self.count = 0
        self._nans = NAN if self.n_out == 1 else (NAN,) * self.n_out

    def reset(self):
        """Forget every bar: back to the state right after construction."""
        self.count = 0
        self._clear()

    def update(self, *x):
        """Step one bar: ``n_in`` numbers in. Returns a float (one output) or a
        tuple of floats (NaN while warming up or when an input is not finite)."""
        if len(x) != self.n_in:
            raise TypeError(f"{type(self).__name__}.update() takes {self.n_in} inputs, got {len(x)}")
        x = [float(v) for v in x]
        for v in x:
            if not _isfinite(v):
                return self._nans
        self.count += 1
        return self._step(*x)

    def run(self, *arrays):
        """Step over ``n_in`` equal-length 1-D arrays (converted to float64),
        continuing from the current state (``reset()`` first for a fresh
        start). Returns an array (one output) or a tuple of arrays."""
        name = type(self).__name__
        if len(arrays) != self.n_in:
            raise TypeError(f"{name}.run() takes {self.n_in} arrays, got {len(arrays)}")
        cols = [np.ascontiguousarray(a, dtype=np.float64) for a in arrays]
        for c in cols:
            if c.ndim != 1:
                raise ValueError(f"{name}.run(): arrays must be 1-D, got shape {c.shape}")
            if c.shape[0] != cols[0].shape[0]:
                raise ValueError(f"{name}.run(): arrays differ in length ({cols[0].shape[0]} and {c.shape[0]})")
        update = self.update
        rows = [update(*xs) for xs in zip(*(c.tolist() for c in cols))]
        n = cols[0].shape[0]
        if self.n_out == 1:
            return np.array(rows, dtype=np.float64).reshape(n)
        out = np.array(rows, dtype=np.float64).reshape(n, self.n_out)
        return tuple(np.ascontiguousarray(out.T))

    def _step(self, *x):
        raise NotImplementedError

    def _clear(self):
        pass


# ---------------------------------------------------------------- moving averages

class SMA(Indicator):
    """Simple moving average of the last ``n`` values."""

    def __init__(self, n):
        self.n = check_params("SMA", n=n)["n"]
        self._win = _RollSum(self.n)
        super().__init__()

    def __repr__(self):
        return f"SMA(n={self.n})"

    def _step(self, v):
        w = self._win
        w.push(v)
        return w.sum / self.n if w.size == self.n else NAN

    def _clear(self):
        self._win.clear()


class EMA(Indicator):
    """Exponential moving average, alpha 2/(n+1), seeded with the SMA of the first n."""

    def __init__(self, n):
        self.n = check_params("EMA", n=n)["n"]
        self._ema = _Smoother(self.n, False)
        super().__init__()

    def __repr__(self):
        return f"EMA(n={self.n})"

    def _step(self, v):
        return self._ema.push(v)

    def _clear(self):
        self._ema.clear()


class WMA(Indicator):
    """Linearly weighted moving average, weights 1 (oldest) .. n (newest)."""

    def __init__(self, n):
        self.n = check_params("WMA", n=n)["n"]
        self._denom = self.n * (self.n + 1.0) / 2.0
        self._win = _Ring(self.n)
        self._sum = self._num = 0.0
        super().__init__()

    def __repr__(self):
        return f"WMA(n={self.n})"

    def _step(self, v):
        w, n = self._win, self.n
        if w.size == n:
            old = w.buf[w.pos]
            self._num += n * v - self._sum
            self._sum += v - old
        else:
            self._num += (w.size + 1) * v
            self._sum += v
        w.push(v)
        if w.pos == 0:
            s = 0.0
            num = 0.0
            for i, b in enumerate(w.buf):
                s += b
                num += (i + 1) * b
            self._sum = s
            self._num = num
        return self._num / self._denom if w.size == n else NAN

    def _clear(self):
        self._win.clear()
        self._sum = self._num = 0.0


# ---------------------------------------------------------------- Wilder

class RSI(Indicator):
    """Wilder's relative strength index."""

    def __init__(self, n=14):
        self.n = check_params("RSI", n=n)["n"]
        self._gain = _Smoother(self.n, True)
        self._loss = _Smoother(self.n, True)
        self._prev = 0.0
        super().__init__()

    def __repr__(self):
        return f"RSI(n={self.n})"

    def _step(self, v):
        if self.count == 1:
            self._prev = v
            return NAN
        ch = v - self._prev
        self._prev = v
        g = self._gain.push(ch if ch > 0.0 else 0.0)
        l = self._loss.push(-ch if ch < 0.0 else 0.0)
        if self._gain.k < self.n:
            return NAN
        if g + l == 0.0:
            return 50.0
        return 100.0 * g / (g + l)

    def _clear(self):
        self._gain.clear()
        self._loss.clear()


class ATR(Indicator):
    """Wilder's average true range. Inputs: high, low, close."""

    n_in = 3

    def __init__(self, n=14):
        self.n = check_params("ATR", n=n)["n"]
        self._tr = _Smoother(self.n, True)
        self._prev_close = 0.0
        super().__init__()

    def __repr__(self):
        return f"ATR(n={self.n})"

    def _step(self, h, l, c):
        if self.count == 1:
            self._prev_close = c
            return NAN
        tr = _true_range(h, l, self._prev_close)
        self._prev_close = c
        return self._tr.push(tr)

    def _clear(self):
        self._tr.clear()


class ADX(Indicator):
    """Wilder's average directional index with +DI and -DI. Inputs: high, low, close.
    Outputs: adx, plus_di, minus_di."""

    n_in = 3
    n_out = 3

    def __init__(self, n=14):
        self.n = check_params("ADX", n=n)["n"]
        self._tr, self._pdm, self._mdm, self._adx = (_Smoother(self.n, True) for _ in range(4))
        self._prev = (0.0, 0.0, 0.0)
        super().__init__()

    def __repr__(self):
        return f"ADX(n={self.n})"

    def _step(self, h, l, c):
        if self.count == 1:
            self._prev = (h, l, c)
            return self._nans
        ph, pl, pc = self._prev
        up = h - ph
        down = pl - l
        move = _cmp(up, down, abs(h) + abs(l))
        pdm = up if (move > 0 and up > 0.0) else 0.0
        mdm = down if (move < 0 and down > 0.0) else 0.0
        tr = _true_range(h, l, pc)
        self._prev = (h, l, c)
        tr = self._tr.push(tr)
        pdm = self._pdm.push(pdm)
        mdm = self._mdm.push(mdm)
        if self._tr.k < self.n:
            return self._nans
        if tr == 0.0:
            pdi = mdi = 0.0
        else:
            pdi = 100.0 * pdm / tr
            mdi = 100.0 * mdm / tr
        dx = 0.0 if pdi + mdi == 0.0 else 100.0 * abs(pdi - mdi) / (pdi + mdi)
        adx = self._adx.push(dx)
        if self._adx.k < self.n:
            return self._nans
        return (adx, pdi, mdi)

    def _clear(self):
        for s in (self._tr, self._pdm, self._mdm, self._adx):
            s.clear()


class MACD(Indicator):
    """Moving average convergence/divergence. Outputs: macd, signal, hist."""

    n_out = 3

    def __init__(self, fast=12, slow=26, signal=9):
        p = check_params("MACD", fast=fast, slow=slow, signal=signal)
        self.fast, self.slow, self.signal = p["fast"], p["slow"], p["signal"]
        self._fast = _Smoother(self.fast, False)
        self._slow = _Smoother(self.slow, False)
        self._signal = _Smoother(self.signal, False)
        super().__init__()

    def __repr__(self):
        return f"MACD(fast={self.fast}, slow={self.slow}, signal={self.signal})"

    def _step(self, v):
        f = self._fast.push(v)
        s = self._slow.push(v)
        if self._slow.k < self.slow:
            return self._nans
        m = f - s
        sig = self._signal.push(m)
        if self._signal.k < self.signal:
            return self._nans
        return (m, sig, m - sig)

    def _clear(self):
        for s in (self._fast, self._slow, self._signal):
            s.clear()


# ---------------------------------------------------------------- dispersion

class Bollinger(Indicator):
    """Bollinger bands: SMA(n) +/- k population standard deviations. Outputs: mid, upper, lower."""

    n_out = 3

    def __init__(self, n=20, k=2.0):
        p = check_params("Bollinger", n=n, k=k)
        self.n, self.k = p["n"], p["k"]
        self._win = _RollVar(self.n)
        super().__init__()

    def __repr__(self):
        return f"Bollinger(n={self.n}, k={self.k!r})"

    def _step(self, v):
        w = self._win
        w.push(v)
        if w.size < self.n:
            return self._nans
        mid = w.mean()
        band = self.k * math.sqrt(w.var())
        return (mid, mid + band, mid - band)

    def _clear(self):
        self._win.clear()


class ZScore(Indicator):
    """(x - SMA(n)) / population standard deviation over n; NaN when it is 0."""

    def __init__(self, n=20):
        self.n = check_params("ZScore", n=n)["n"]
        self._win = _RollVar(self.n)
        super().__init__()

    def __repr__(self):
        return f"ZScore(n={self.n})"

    def _step(self, v):
        w = self._win
        w.push(v)
        if w.size < self.n:
            return NAN
        sd = math.sqrt(w.var())
        if sd == 0.0:
            return NAN
        return ((v - w.anchor) - w.s1 / self.n) / sd

    def _clear(self):
        self._win.clear()


class StDev(Indicator):
    """Population standard deviation of the last n values."""

    def __init__(self, n):
        self.n = check_params("StDev", n=n)["n"]
        self._win = _RollVar(self.n)
        super().__init__()

    def __repr__(self):
        return f"StDev(n={self.n})"

    def _step(self, v):
        w = self._win
        w.push(v)
        return math.sqrt(w.var()) if w.size == self.n else NAN

    def _clear(self):
        self._win.clear()


# ---------------------------------------------------------------- ranges

class _Extreme(Indicator):
    """The highest (Highest) or lowest (Lowest) of the last n values."""

    _maximum = True

    def __init__(self, n):
        self.n = check_params(type(self).__name__, n=n)["n"]
        self._q = _MonoQ(self.n, self._maximum)
        super().__init__()

    def __repr__(self):
        return f"{type(self).__name__}(n={self.n})"

    def _step(self, v):
        v = self._q.push(v, self.count)
        return v if self.count >= self.n else NAN

    def _clear(self):
        self._q.clear()


class Highest(_Extreme):
    """Highest of the last n values."""


class Lowest(_Extreme):
    """Lowest of the last n values."""

    _maximum = False


class Donchian(Indicator):
    """Donchian channel over n bars. Inputs: high, low. Outputs: upper, lower, mid."""

    n_in = 2
    n_out = 3

    def __init__(self, n=20):
        self.n = check_params("Donchian", n=n)["n"]
        self._hi = _MonoQ(self.n, True)
        self._lo = _MonoQ(self.n, False)
        super().__init__()

    def __repr__(self):
        return f"Donchian(n={self.n})"

    def _step(self, h, l):
        hh = self._hi.push(h, self.count)
        ll = self._lo.push(l, self.count)
        if self.count < self.n:
            return self._nans
        return (hh, ll, (hh + ll) / 2.0)

    def _clear(self):
        self._hi.clear()
        self._lo.clear()


class Stochastic(Indicator):
    """Stochastic oscillator. Inputs: high, low, close. Outputs: k, d."""

    n_in = 3
    n_out = 2

    def __init__(self, n=14, smooth_k=1, d=3):
        p = check_params("Stochastic", n=n, smooth_k=smooth_k, d=d)
        self.n, self.smooth_k, self.d = p["n"], p["smooth_k"], p["d"]
        self._hi = _MonoQ(self.n, True)
        self._lo = _MonoQ(self.n, False)
        self._k = _RollSum(self.smooth_k)
        self._d = _RollSum(self.d)
        super().__init__()

    def __repr__(self):
        return f"Stochastic(n={self.n}, smooth_k={self.smooth_k}, d={self.d})"

    def _step(self, h, l, c):
        hh = self._hi.push(h, self.count)
        ll = self._lo.push(l, self.count)
        if self.count < self.n:
            return self._nans
        rng = hh - ll
        self._k.push(100.0 * (c - ll) / rng if rng != 0.0 else 50.0)
        if self._k.size < self.smooth_k:
            return self._nans
        k = self._k.sum / self.smooth_k
        self._d.push(k)
        if self._d.size < self.d:
            return self._nans
        return (k, self._d.sum / self.d)

    def _clear(self):
        for part in (self._hi, self._lo, self._k, self._d):
            part.clear()


# ---------------------------------------------------------------- price/volume

class CCI(Indicator):
    """Commodity channel index (constant 0.015, typical price). Inputs: high, low,
    close. O(n) per bar (mean absolute deviation about the current mean)."""

    n_in = 3

    def __init__(self, n=20):
        self.n = check_params("CCI", n=n)["n"]
        self._win = _Ring(self.n)
        self._same = 0
        super().__init__()

    def __repr__(self):
        return f"CCI(n={self.n})"

    def _step(self, h, l, c):
        w, n = self._win, self.n
        tp = (h + l + c) / 3.0
        last = w.buf[w.pos - 1]                         # pos - 1 == -1: the last slot
        if w.size > 0 and _cmp(tp, last, abs(tp) + abs(last)) == 0:
            if self._same < n:
                self._same += 1
        else:
            self._same = 1
        w.push(tp)
        if w.size < n:
            return NAN
        if self._same >= n:
            return 0.0
        s = 0.0
        for b in w.buf:
            s += b
        mean = s / n
        md = 0.0
        for b in w.buf:
            md += abs(b - mean)
        md = md / n
        return (tp - mean) / (0.015 * md)

    def _clear(self):
        self._win.clear()
        self._same = 0


class MFI(Indicator):
    """Money flow index. Inputs: high, low, close, volume."""

    n_in = 4

    def __init__(self, n=14):
        self.n = check_params("MFI", n=n)["n"]
        self._pos = _RollSum(self.n)
        self._neg = _RollSum(self.n)
        self._prev_tp = 0.0
        super().__init__()

    def __repr__(self):
        return f"MFI(n={self.n})"

    def _step(self, h, l, c, v):
        tp = (h + l + c) / 3.0
        if self.count == 1:
            self._prev_tp = tp
            return NAN
        flow = tp * v
        pos, neg = self._pos, self._neg
        move = _cmp(tp, self._prev_tp, abs(tp) + abs(self._prev_tp))
        if move > 0:
            pos.push(flow)
            neg.push(0.0)
        elif move < 0:
            pos.push(0.0)
            neg.push(flow)
        else:
            pos.push(0.0)
            neg.push(0.0)
        self._prev_tp = tp
        if pos.size < self.n:
            return NAN
        p, q = pos.sum, neg.sum
        if neg.nonzero == 0:
            return 50.0 if pos.nonzero == 0 else 100.0
        if p + q == 0.0:
            return NAN              # only with negative volumes
        return 100.0 * p / (p + q)

    def _clear(self):
        self._pos.clear()
        self._neg.clear()


class OBV(Indicator):
    """On-balance volume, 0 on the first bar. Inputs: close, volume."""

    n_in = 2

    def __init__(self):
        check_params("OBV")
        self._value = 0.0
        self._prev_close = 0.0
        super().__init__()

    def __repr__(self):
        return "OBV()"

    def _step(self, c, v):
        if self.count == 1:
            self._value = 0.0
        elif c > self._prev_close:
            self._value += v
        elif c < self._prev_close:
            self._value -= v
        self._prev_close = c
        return self._value

    def _clear(self):
        self._value = 0.0


class VWAP(Indicator):
    """Rolling VWAP over n bars: sum(quote_volume)/sum(volume). Inputs: quote_volume, volume."""

    n_in = 2

    def __init__(self, n):
        self.n = check_params("VWAP", n=n)["n"]
        self._quote = _RollSum(self.n)
        self._volume = _RollSum(self.n)
        super().__init__()

    def __repr__(self):
        return f"VWAP(n={self.n})"

    def _step(self, qv, v):
        self._quote.push(qv)
        self._volume.push(v)
        vol = self._volume
        if vol.size < self.n or vol.sum == 0.0:
            return NAN
        return self._quote.sum / vol.sum

    def _clear(self):
        self._quote.clear()
        self._volume.clear()


class ROC(Indicator):
    """Rate of change in percent over n bars: 100*(x/x[n] - 1)."""

    def __init__(self, n):
        self.n = check_params("ROC", n=n)["n"]
        self._win = _Ring(self.n)
        super().__init__()

    def __repr__(self):
        return f"ROC(n={self.n})"

    def _step(self, v):
        w = self._win
        if w.size == self.n:
            old = w.buf[w.pos]
            out = 100.0 * (v - old) / old if old != 0.0 else NAN
        else:
            out = NAN
        w.push(v)
        return out

    def _clear(self):
        self._win.clear()

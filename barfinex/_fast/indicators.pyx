# cython: language_level=3
# cython: cdivision=True
# cdivision: every division below is on doubles (IEEE results; each zero
# denominator that matters is tested first) or on non-negative ints.
"""Incremental technical indicators, stepped once per closed bar.

Each indicator is an :class:`Indicator` subclass; the rule VM drives a list of
them through the cdef vtable (``step_c``), Python drives them with
``update(*x)`` (one bar) or ``run(*arrays)`` (a batch, from the current state).
Inputs per bar are the series inputs then the bar fields listed in
barfinex/indicator_catalog.py, which also holds the parameter ranges the
constructors enforce and each warm-up. A bar with any input not finite
(NaN, +/-inf) is skipped: state unchanged, every output NaN, ``count`` not
moved. During warm-up every output is NaN; all outputs of one indicator start
on the same bar (``warmup`` bars with finite inputs).

Definitions (x: the series input; [k]: k bars back):

* ``SMA(n)``: mean of the last n x. Warm-up n.
* ``EMA(n)``: alpha = 2/(n+1); the SMA of the first n x on bar n, then
  ``ema = alpha*x + (1-alpha)*ema``. Warm-up n.
* ``WMA(n)``: sum of i*x over the window, weights i = 1 (oldest) .. n
  (newest), divided by n(n+1)/2. Warm-up n.
* ``RSI(n=14)``, Wilder: gain = max(x - x[1], 0), loss = max(x[1] - x, 0);
  first averages = simple means of the first n changes (bar n+1), then
  ``avg = (avg*(n-1) + cur)/n``; ``rsi = 100*g/(g+l)`` (= 100 - 100/(1+g/l)),
  100 with losses 0, **50 when both averages are 0** (no movement; TA-Lib
  says 0). Warm-up n+1.
* ``ATR(n=14)``, Wilder: tr = max(high-low, |high-close[1]|, |low-close[1]|),
  defined from bar 2 (it needs the previous close); first atr = mean of the
  first n tr (bar n+1), then Wilder smoothing as RSI. Warm-up n+1.
* ``ADX(n=14)``, Wilder's DMI: up = high-high[1], down = low[1]-low; +DM = up
  if up > down and up > 0 else 0, -DM likewise; tr, +DM, -DM Wilder-smoothed
  as ATR; +DI = 100*+DM/tr, -DI likewise (**0 if tr is 0**);
  dx = 100*|+DI - -DI|/(+DI + -DI) (**0 if both are 0**); adx = mean of the
  first n dx, then Wilder smoothing. Outputs (adx, plus_di, minus_di), all
  from bar 2n.
* ``MACD(fast=12, slow=26, signal=9)``: macd = EMA(fast) - EMA(slow) (both
  SMA-seeded as EMA, fast < slow), signal = EMA(signal) of macd seeded with
  the mean of the first ``signal`` macd values, hist = macd - signal. Outputs
  (macd, signal, hist), all from bar slow + signal - 1.
* ``Bollinger(n=20, k=2.0)``: mid = SMA(n), upper/lower = mid +/- k*sd with
  sd the population standard deviation of the window. Outputs
  (mid, upper, lower), from bar n.
* ``Donchian(n=20)``: upper = highest high, lower = lowest low of the last n
  bars (current included), mid = (upper+lower)/2. From bar n.
* ``Stochastic(n=14, smooth_k=1, d=3)``: raw %K = 100*(close - lowest low) /
  (highest high - lowest low) over the last n bars (**50 if the range is 0**);
  k = SMA(smooth_k) of raw %K (1: the fast stochastic, 3: the slow one);
  d = SMA(d) of k. Outputs (k, d), from bar n + smooth_k + d - 2.
* ``CCI(n=20)``: tp = (high+low+close)/3; cci = (tp - SMA(tp, n)) /
  (0.015 * mean |tp - SMA(tp, n)|) over the window; **0 when the n tp are
  all equal**. From bar n. O(n) per bar: the mean deviation is taken about
  the current mean, so the whole window is read (two passes, exact).
* ``MFI(n=14)``: tp as CCI, raw flow = tp*volume, positive when tp > tp[1],
  negative when tp < tp[1], neither when equal (defined from bar 2);
  mfi = 100*pos/(pos+neg) over the last n flows (= 100 - 100/(1+pos/neg)),
  **100 with no negative flow, 50 with neither**. From bar n+1.
* ``OBV()``: 0 on the first bar (TA-Lib starts at the first volume; only
  changes matter), then + volume when close > close[1], - volume when lower.
  From bar 1.
* ``VWAP(n)``: sum(quote_volume)/sum(volume) over the last n bars (exact bar
  notional); **NaN when the window has no volume**. From bar n.
* ``ZScore(n=20)``: (x - SMA(n)) / population sd over the window (current
  bar included); **NaN when sd is 0**. From bar n.
* ``ROC(n)``: 100*(x/x[n] - 1), computed as 100*(x - x[n])/x[n];
  **NaN when x[n] is 0**. From bar n+1.
* ``Highest(n)``, ``Lowest(n)``: max / min of the last n x (monotonic deque,
  O(1) amortised). From bar n.
* ``StDev(n)``: population standard deviation of the last n x. From bar n.

Ties: MFI's ``tp > tp[1]``, ADX's ``up > down`` and CCI's "all tp equal"
decide between whole amounts (a bar's entire money flow or directional move),
so they are taken at ``TIE_REL = 1e-12`` relative to the price: prices that
are equal as decimals stay equal after float rounding ((h+l+c)/3 of two
decimal-equal bars can differ by an ulp; in one week of LINKUSDT 1m that
flips 105 MFI flows and 136 ADX moves). No exchange tick is that small.

Numerics: rolling sums add the new value and subtract the leaving one, and
are recomputed exactly from the ring each time it wraps (every n steps, so
O(1) amortised): rounding never builds up beyond one window. Variances keep
their sums relative to an anchor (the window mean at the last recompute), so
60000-level prices with a spread of a few ticks keep their digits; an exactly
constant window has a variance of exactly 0. The pure-Python twin
(barfinex/_py/indicators.py) performs the same operations in the same order.
"""
cimport cython
from libc.math cimport NAN, fabs, sqrt
from libc.stdlib cimport free, malloc

import numpy as np

from barfinex.indicator_catalog import check_params


# ---------------------------------------------------------------- helpers

cdef double _TIE_REL = 1e-12
TIE_REL = _TIE_REL


cdef inline int _cmp(double a, double b, double scale) noexcept nogil:
    """Sign of a - b, 0 when they differ by no more than TIE_REL * scale (a tie)."""
    cdef double d = a - b
    if fabs(d) <= _TIE_REL * scale:
        return 0
    return 1 if d > 0.0 else -1


cdef inline bint _all_finite(const double* x, int n) noexcept nogil:
    cdef int i
    for i in range(n):
        if not (x[i] - x[i] == 0.0):     # NaN and +/-inf give NaN
            return False
    return True


cdef inline void _nan(double* y, int n) noexcept nogil:
    cdef int j
    for j in range(n):
        y[j] = NAN


cdef double* _doubles(int n) except NULL:
    cdef double* p = <double*>malloc(n * sizeof(double))
    if p == NULL:
        raise MemoryError("indicator window")
    return p


cdef int ring_init(Ring* r, int n) except -1:
    r.buf = _doubles(n)
    r.n = n
    ring_clear(r)
    return 0


cdef inline void ring_clear(Ring* r) noexcept nogil:
    r.pos = 0
    r.size = 0


cdef inline void ring_push(Ring* r, double v) noexcept nogil:
    r.buf[r.pos] = v
    r.pos += 1
    if r.pos == r.n:
        r.pos = 0
    if r.size < r.n:
        r.size += 1


cdef int rs_init(RollSum* r, int n) except -1:
    r.buf = _doubles(n)
    r.n = n
    rs_clear(r)
    return 0


cdef inline void rs_clear(RollSum* r) noexcept nogil:
    r.pos = 0
    r.size = 0
    r.nonzero = 0
    r.sum = 0.0


cdef inline void rs_push(RollSum* r, double v) noexcept nogil:
    cdef double old, s
    cdef int i
    if r.size == r.n:
        old = r.buf[r.pos]
        r.sum += v - old
        r.nonzero += (v != 0.0) - (old != 0.0)
    else:
        r.sum += v
        r.nonzero += (v != 0.0)
        r.size += 1
    r.buf[r.pos] = v
    r.pos += 1
    if r.pos == r.n:
        # wrapped: the window is full and buf[0..n) is oldest..newest; recompute
        r.pos = 0
        s = 0.0
        for i in range(r.n):
            s += r.buf[i]
        r.sum = s
    if r.nonzero == 0:
        r.sum = 0.0


cdef int rv_init(RollVar* r, int n) except -1:
    r.buf = _doubles(n)
    r.n = n
    rv_clear(r)
    return 0


cdef inline void rv_clear(RollVar* r) noexcept nogil:
    r.pos = 0
    r.size = 0
    r.same = 0
    r.last = 0.0
    r.anchor = 0.0
    r.s1 = 0.0
    r.s2 = 0.0


cdef inline void rv_push(RollVar* r, double v) noexcept nogil:
    cdef double d, od, a, s1, s2
    cdef int i
    if r.size == 0:
        r.anchor = v
    d = v - r.anchor
    if r.size == r.n:
        od = r.buf[r.pos] - r.anchor
        r.s1 += d - od
        r.s2 += d * d - od * od
    else:
        r.s1 += d
        r.s2 += d * d
        r.size += 1
    if r.same > 0 and v == r.last:
        if r.same < r.n:
            r.same += 1
    else:
        r.same = 1
    r.last = v
    r.buf[r.pos] = v
    r.pos += 1
    if r.pos == r.n:
        # wrapped: re-anchor on the window mean and recompute both sums exactly
        r.pos = 0
        s1 = 0.0
        for i in range(r.n):
            s1 += r.buf[i]
        a = s1 / r.n
        s1 = 0.0
        s2 = 0.0
        for i in range(r.n):
            d = r.buf[i] - a
            s1 += d
            s2 += d * d
        r.anchor = a
        r.s1 = s1
        r.s2 = s2


cdef inline double rv_mean(const RollVar* r) noexcept nogil:
    if r.same >= r.size:
        return r.last
    return r.anchor + r.s1 / r.size


cdef inline double rv_var(const RollVar* r) noexcept nogil:
    cdef double v
    if r.same >= r.size:
        return 0.0
    v = (r.s2 - r.s1 * (r.s1 / r.size)) / r.size
    return v if v > 0.0 else 0.0


cdef int mq_init(MonoQ* q, int n) except -1:
    q.val = _doubles(n)
    q.idx = <long long*>malloc(n * sizeof(long long))
    if q.idx == NULL:
        raise MemoryError("indicator window")
    q.cap = n
    mq_clear(q)
    return 0


cdef inline void mq_clear(MonoQ* q) noexcept nogil:
    q.head = 0
    q.len = 0


cdef inline double mq_push(MonoQ* q, double v, long long t, bint is_max) noexcept nogil:
    """Add bar t's value; return the max (or min) of bars t-cap+1 .. t."""
    cdef int b
    while q.len > 0 and q.idx[q.head] <= t - q.cap:
        q.head += 1
        if q.head == q.cap:
            q.head = 0
        q.len -= 1
    while q.len > 0:
        b = q.head + q.len - 1
        if b >= q.cap:
            b -= q.cap
        if (q.val[b] <= v) if is_max else (q.val[b] >= v):
            q.len -= 1
        else:
            break
    b = q.head + q.len
    if b >= q.cap:
        b -= q.cap
    q.val[b] = v
    q.idx[b] = t
    q.len += 1
    return q.val[q.head]


cdef inline void sm_init(Smoother* s, int n, bint wilder) noexcept nogil:
    s.n = n
    s.wilder = wilder
    s.alpha = 2.0 / (n + 1.0)
    s.beta = 1.0 - s.alpha
    sm_clear(s)


cdef inline void sm_clear(Smoother* s) noexcept nogil:
    s.k = 0
    s.sum = 0.0
    s.value = NAN


cdef inline double sm_push(Smoother* s, double x) noexcept nogil:
    """Feed x; the average, or NaN before the n-th value."""
    s.k += 1
    if s.k < s.n:
        s.sum += x
        return NAN
    if s.k == s.n:
        s.sum += x
        s.value = s.sum / s.n
    elif s.wilder:
        s.value = (s.value * (s.n - 1) + x) / s.n
    else:
        s.value = s.alpha * x + s.beta * s.value
    return s.value


# ---------------------------------------------------------------- base

cdef class Indicator:
    """Base of every indicator: ``n_in`` inputs and ``n_out`` outputs per bar,
    ``count`` bars with finite inputs seen. Subclasses implement ``step_c``
    and ``reset``; ``update`` and ``run`` are written once here over step_c."""

    def __cinit__(self, *args, **kwargs):
        if type(self) is Indicator:
            raise TypeError("Indicator is abstract: build one of its subclasses (see indicator_catalog)")
        self.n_in = 1
        self.n_out = 1
        self.count = 0

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        _nan(y, self.n_out)

    cpdef void reset(self) noexcept:
        """Forget every bar: back to the state right after construction."""
        self.count = 0

    def update(self, *x):
        """Step one bar: ``n_in`` numbers in. Returns a float (one output) or a
        tuple of floats (NaN while warming up or when an input is not finite)."""
        cdef double xb[IND_MAX_IN_C]
        cdef double yb[IND_MAX_OUT_C]
        cdef int i
        if len(x) != self.n_in:
            raise TypeError(f"{type(self).__name__}.update() takes {self.n_in} inputs, got {len(x)}")
        for i in range(self.n_in):
            xb[i] = x[i]
        self.step_c(xb, yb)
        if self.n_out == 1:
            return yb[0]
        return tuple([yb[i] for i in range(self.n_out)])

    @cython.boundscheck(False)
    @cython.wraparound(False)
    def run(self, *arrays):
        """Step over ``n_in`` equal-length 1-D arrays (converted to float64),
        continuing from the current state (``reset()`` first for a fresh
        start). Returns an array (one output) or a tuple of arrays."""
        cdef int i, n_in = self.n_in, n_out = self.n_out
        cdef Py_ssize_t k, n
        cdef const double* src[IND_MAX_IN_C]
        cdef double xb[IND_MAX_IN_C]
        cdef const double[::1] col
        cdef double[:, ::1] res
        cdef double* y
        if len(arrays) != n_in:
            raise TypeError(f"{type(self).__name__}.run() takes {n_in} arrays, got {len(arrays)}")
        cols = [np.ascontiguousarray(a, dtype=np.float64) for a in arrays]
        for c in cols:
            if c.ndim != 1:
                raise ValueError(f"{type(self).__name__}.run(): arrays must be 1-D, got shape {c.shape}")
            if c.shape[0] != cols[0].shape[0]:
                raise ValueError(f"{type(self).__name__}.run(): arrays differ in length "
                                 f"({cols[0].shape[0]} and {c.shape[0]})")
        n = cols[0].shape[0]
        out = np.empty((n, n_out), dtype=np.float64)
        if n:
            for i in range(n_in):
                col = cols[i]
                src[i] = &col[0]
            res = out
            y = &res[0, 0]
            with nogil:
                for k in range(n):
                    for i in range(n_in):
                        xb[i] = src[i][k]
                    self.step_c(xb, y + k * n_out)
        if n_out == 1:
            return out.reshape(n)
        return tuple(np.ascontiguousarray(out.T))


# ---------------------------------------------------------------- moving averages

cdef class SMA(Indicator):
    """Simple moving average of the last ``n`` values."""

    def __cinit__(self, n):
        self.n = check_params("SMA", n=n)["n"]
        rs_init(&self.win, self.n)

    def __dealloc__(self):
        free(self.win.buf)

    def __repr__(self):
        return f"SMA(n={self.n})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        if not _all_finite(x, 1):
            y[0] = NAN
            return
        self.count += 1
        rs_push(&self.win, x[0])
        y[0] = self.win.sum / self.n if self.win.size == self.n else NAN

    cpdef void reset(self) noexcept:
        self.count = 0
        rs_clear(&self.win)


cdef class EMA(Indicator):
    """Exponential moving average, alpha 2/(n+1), seeded with the SMA of the first n."""

    def __cinit__(self, n):
        self.n = check_params("EMA", n=n)["n"]
        sm_init(&self.ema, self.n, False)

    def __repr__(self):
        return f"EMA(n={self.n})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        if not _all_finite(x, 1):
            y[0] = NAN
            return
        self.count += 1
        y[0] = sm_push(&self.ema, x[0])

    cpdef void reset(self) noexcept:
        self.count = 0
        sm_clear(&self.ema)


cdef class WMA(Indicator):
    """Linearly weighted moving average, weights 1 (oldest) .. n (newest)."""

    def __cinit__(self, n):
        self.n = check_params("WMA", n=n)["n"]
        self.denom = self.n * (self.n + 1.0) / 2.0
        ring_init(&self.win, self.n)
        self.sum = self.num = 0.0

    def __dealloc__(self):
        free(self.win.buf)

    def __repr__(self):
        return f"WMA(n={self.n})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        cdef double v, old, s, w
        cdef int i
        if not _all_finite(x, 1):
            y[0] = NAN
            return
        self.count += 1
        v = x[0]
        if self.win.size == self.n:
            # every weight drops by one (the oldest to 0), the new value gets n
            old = self.win.buf[self.win.pos]
            self.num += self.n * v - self.sum
            self.sum += v - old
        else:
            self.num += (self.win.size + 1) * v
            self.sum += v
        ring_push(&self.win, v)
        if self.win.pos == 0:
            # wrapped: buf[0..n) is oldest..newest; recompute both sums exactly
            s = 0.0
            w = 0.0
            for i in range(self.n):
                s += self.win.buf[i]
                w += (i + 1) * self.win.buf[i]
            self.sum = s
            self.num = w
        y[0] = self.num / self.denom if self.win.size == self.n else NAN

    cpdef void reset(self) noexcept:
        self.count = 0
        ring_clear(&self.win)
        self.sum = self.num = 0.0


# ---------------------------------------------------------------- Wilder

cdef class RSI(Indicator):
    """Wilder's relative strength index."""

    def __cinit__(self, n=14):
        self.n = check_params("RSI", n=n)["n"]
        sm_init(&self.gain, self.n, True)
        sm_init(&self.loss, self.n, True)

    def __repr__(self):
        return f"RSI(n={self.n})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        cdef double v, ch, g, l
        if not _all_finite(x, 1):
            y[0] = NAN
            return
        self.count += 1
        v = x[0]
        if self.count == 1:
            self.prev = v
            y[0] = NAN
            return
        ch = v - self.prev
        self.prev = v
        g = sm_push(&self.gain, ch if ch > 0.0 else 0.0)
        l = sm_push(&self.loss, -ch if ch < 0.0 else 0.0)
        if self.gain.k < self.n:
            y[0] = NAN
        elif g + l == 0.0:
            y[0] = 50.0
        else:
            y[0] = 100.0 * g / (g + l)

    cpdef void reset(self) noexcept:
        self.count = 0
        sm_clear(&self.gain)
        sm_clear(&self.loss)


cdef inline double _true_range(double h, double l, double prev_close) noexcept nogil:
    cdef double tr = h - l, a
    a = fabs(h - prev_close)
    if a > tr:
        tr = a
    a = fabs(l - prev_close)
    if a > tr:
        tr = a
    return tr


cdef class ATR(Indicator):
    """Wilder's average true range. Inputs: high, low, close."""

    def __cinit__(self, n=14):
        self.n = check_params("ATR", n=n)["n"]
        self.n_in = 3
        sm_init(&self.tr, self.n, True)

    def __repr__(self):
        return f"ATR(n={self.n})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        cdef double tr
        if not _all_finite(x, 3):
            y[0] = NAN
            return
        self.count += 1
        if self.count == 1:
            self.prev_close = x[2]
            y[0] = NAN
            return
        tr = _true_range(x[0], x[1], self.prev_close)
        self.prev_close = x[2]
        y[0] = sm_push(&self.tr, tr)

    cpdef void reset(self) noexcept:
        self.count = 0
        sm_clear(&self.tr)


cdef class ADX(Indicator):
    """Wilder's average directional index with +DI and -DI. Inputs: high, low, close.
    Outputs: adx, plus_di, minus_di."""

    def __cinit__(self, n=14):
        self.n = check_params("ADX", n=n)["n"]
        self.n_in = 3
        self.n_out = 3
        sm_init(&self.tr, self.n, True)
        sm_init(&self.plus_dm, self.n, True)
        sm_init(&self.minus_dm, self.n, True)
        sm_init(&self.adx, self.n, True)

    def __repr__(self):
        return f"ADX(n={self.n})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        cdef double h = x[0], l = x[1], up, down, tr, pdm, mdm, pdi, mdi, dx, adx
        cdef int move
        if not _all_finite(x, 3):
            _nan(y, 3)
            return
        self.count += 1
        if self.count == 1:
            self.prev_high, self.prev_low, self.prev_close = h, l, x[2]
            _nan(y, 3)
            return
        up = h - self.prev_high
        down = self.prev_low - l
        move = _cmp(up, down, fabs(h) + fabs(l))
        pdm = up if (move > 0 and up > 0.0) else 0.0
        mdm = down if (move < 0 and down > 0.0) else 0.0
        tr = _true_range(h, l, self.prev_close)
        self.prev_high, self.prev_low, self.prev_close = h, l, x[2]
        tr = sm_push(&self.tr, tr)
        pdm = sm_push(&self.plus_dm, pdm)
        mdm = sm_push(&self.minus_dm, mdm)
        if self.tr.k < self.n:
            _nan(y, 3)
            return
        if tr == 0.0:
            pdi = mdi = 0.0
        else:
            pdi = 100.0 * pdm / tr
            mdi = 100.0 * mdm / tr
        dx = 0.0 if pdi + mdi == 0.0 else 100.0 * fabs(pdi - mdi) / (pdi + mdi)
        adx = sm_push(&self.adx, dx)
        if self.adx.k < self.n:
            _nan(y, 3)
            return
        y[0] = adx
        y[1] = pdi
        y[2] = mdi

    cpdef void reset(self) noexcept:
        self.count = 0
        sm_clear(&self.tr)
        sm_clear(&self.plus_dm)
        sm_clear(&self.minus_dm)
        sm_clear(&self.adx)


cdef class MACD(Indicator):
    """Moving average convergence/divergence. Outputs: macd, signal, hist."""

    def __cinit__(self, fast=12, slow=26, signal=9):
        p = check_params("MACD", fast=fast, slow=slow, signal=signal)
        self.fast, self.slow, self.signal = p["fast"], p["slow"], p["signal"]
        self.n_out = 3
        sm_init(&self.fast_ema, self.fast, False)
        sm_init(&self.slow_ema, self.slow, False)
        sm_init(&self.signal_ema, self.signal, False)

    def __repr__(self):
        return f"MACD(fast={self.fast}, slow={self.slow}, signal={self.signal})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        cdef double f, s, m, sig
        if not _all_finite(x, 1):
            _nan(y, 3)
            return
        self.count += 1
        f = sm_push(&self.fast_ema, x[0])
        s = sm_push(&self.slow_ema, x[0])
        if self.slow_ema.k < self.slow:
            _nan(y, 3)
            return
        m = f - s
        sig = sm_push(&self.signal_ema, m)
        if self.signal_ema.k < self.signal:
            _nan(y, 3)
            return
        y[0] = m
        y[1] = sig
        y[2] = m - sig

    cpdef void reset(self) noexcept:
        self.count = 0
        sm_clear(&self.fast_ema)
        sm_clear(&self.slow_ema)
        sm_clear(&self.signal_ema)


# ---------------------------------------------------------------- dispersion

cdef class Bollinger(Indicator):
    """Bollinger bands: SMA(n) +/- k population standard deviations. Outputs: mid, upper, lower."""

    def __cinit__(self, n=20, k=2.0):
        p = check_params("Bollinger", n=n, k=k)
        self.n, self.k = p["n"], p["k"]
        self.n_out = 3
        rv_init(&self.win, self.n)

    def __dealloc__(self):
        free(self.win.buf)

    def __repr__(self):
        return f"Bollinger(n={self.n}, k={self.k!r})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        cdef double mid, band
        if not _all_finite(x, 1):
            _nan(y, 3)
            return
        self.count += 1
        rv_push(&self.win, x[0])
        if self.win.size < self.n:
            _nan(y, 3)
            return
        mid = rv_mean(&self.win)
        band = self.k * sqrt(rv_var(&self.win))
        y[0] = mid
        y[1] = mid + band
        y[2] = mid - band

    cpdef void reset(self) noexcept:
        self.count = 0
        rv_clear(&self.win)


cdef class ZScore(Indicator):
    """(x - SMA(n)) / population standard deviation over n; NaN when it is 0."""

    def __cinit__(self, n=20):
        self.n = check_params("ZScore", n=n)["n"]
        rv_init(&self.win, self.n)

    def __dealloc__(self):
        free(self.win.buf)

    def __repr__(self):
        return f"ZScore(n={self.n})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        cdef double sd
        if not _all_finite(x, 1):
            y[0] = NAN
            return
        self.count += 1
        rv_push(&self.win, x[0])
        if self.win.size < self.n:
            y[0] = NAN
            return
        sd = sqrt(rv_var(&self.win))
        if sd == 0.0:
            y[0] = NAN
        else:
            y[0] = ((x[0] - self.win.anchor) - self.win.s1 / self.n) / sd

    cpdef void reset(self) noexcept:
        self.count = 0
        rv_clear(&self.win)


cdef class StDev(Indicator):
    """Population standard deviation of the last n values."""

    def __cinit__(self, n):
        self.n = check_params("StDev", n=n)["n"]
        rv_init(&self.win, self.n)

    def __dealloc__(self):
        free(self.win.buf)

    def __repr__(self):
        return f"StDev(n={self.n})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        if not _all_finite(x, 1):
            y[0] = NAN
            return
        self.count += 1
        rv_push(&self.win, x[0])
        y[0] = sqrt(rv_var(&self.win)) if self.win.size == self.n else NAN

    cpdef void reset(self) noexcept:
        self.count = 0
        rv_clear(&self.win)


# ---------------------------------------------------------------- ranges

cdef class _Extreme(Indicator):
    """The highest (Highest) or lowest (Lowest) of the last n values."""

    def __cinit__(self, n):
        self.maximum = type(self) is Highest
        self.n = check_params(type(self).__name__, n=n)["n"]
        mq_init(&self.q, self.n)

    def __dealloc__(self):
        free(self.q.val)
        free(self.q.idx)

    def __repr__(self):
        return f"{type(self).__name__}(n={self.n})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        cdef double v
        if not _all_finite(x, 1):
            y[0] = NAN
            return
        self.count += 1
        v = mq_push(&self.q, x[0], self.count, self.maximum)
        y[0] = v if self.count >= self.n else NAN

    cpdef void reset(self) noexcept:
        self.count = 0
        mq_clear(&self.q)


cdef class Highest(_Extreme):
    """Highest of the last n values."""


cdef class Lowest(_Extreme):
    """Lowest of the last n values."""


cdef class Donchian(Indicator):
    """Donchian channel over n bars. Inputs: high, low. Outputs: upper, lower, mid."""

    def __cinit__(self, n=20):
        self.n = check_params("Donchian", n=n)["n"]
        self.n_in = 2
        self.n_out = 3
        mq_init(&self.hi, self.n)
        mq_init(&self.lo, self.n)

    def __dealloc__(self):
        free(self.hi.val)
        free(self.hi.idx)
        free(self.lo.val)
        free(self.lo.idx)

    def __repr__(self):
        return f"Donchian(n={self.n})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        cdef double hh, ll
        if not _all_finite(x, 2):
            _nan(y, 3)
            return
        self.count += 1
        hh = mq_push(&self.hi, x[0], self.count, True)
        ll = mq_push(&self.lo, x[1], self.count, False)
        if self.count < self.n:
            _nan(y, 3)
            return
        y[0] = hh
        y[1] = ll
        y[2] = (hh + ll) / 2.0

    cpdef void reset(self) noexcept:
        self.count = 0
        mq_clear(&self.hi)
        mq_clear(&self.lo)


cdef class Stochastic(Indicator):
    """Stochastic oscillator. Inputs: high, low, close. Outputs: k, d."""

    def __cinit__(self, n=14, smooth_k=1, d=3):
        p = check_params("Stochastic", n=n, smooth_k=smooth_k, d=d)
        self.n, self.smooth_k, self.d = p["n"], p["smooth_k"], p["d"]
        self.n_in = 3
        self.n_out = 2
        mq_init(&self.hi, self.n)
        mq_init(&self.lo, self.n)
        rs_init(&self.k_win, self.smooth_k)
        rs_init(&self.d_win, self.d)

    def __dealloc__(self):
        free(self.hi.val)
        free(self.hi.idx)
        free(self.lo.val)
        free(self.lo.idx)
        free(self.k_win.buf)
        free(self.d_win.buf)

    def __repr__(self):
        return f"Stochastic(n={self.n}, smooth_k={self.smooth_k}, d={self.d})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        cdef double hh, ll, rng, k
        if not _all_finite(x, 3):
            _nan(y, 2)
            return
        self.count += 1
        hh = mq_push(&self.hi, x[0], self.count, True)
        ll = mq_push(&self.lo, x[1], self.count, False)
        if self.count < self.n:
            _nan(y, 2)
            return
        rng = hh - ll
        rs_push(&self.k_win, 100.0 * (x[2] - ll) / rng if rng != 0.0 else 50.0)
        if self.k_win.size < self.smooth_k:
            _nan(y, 2)
            return
        k = self.k_win.sum / self.smooth_k
        rs_push(&self.d_win, k)
        if self.d_win.size < self.d:
            _nan(y, 2)
            return
        y[0] = k
        y[1] = self.d_win.sum / self.d

    cpdef void reset(self) noexcept:
        self.count = 0
        mq_clear(&self.hi)
        mq_clear(&self.lo)
        rs_clear(&self.k_win)
        rs_clear(&self.d_win)


# ---------------------------------------------------------------- price/volume

cdef class CCI(Indicator):
    """Commodity channel index (constant 0.015, typical price). Inputs: high, low,
    close. O(n) per bar (mean absolute deviation about the current mean)."""

    def __cinit__(self, n=20):
        self.n = check_params("CCI", n=n)["n"]
        self.n_in = 3
        ring_init(&self.win, self.n)
        self.same = 0

    def __dealloc__(self):
        free(self.win.buf)

    def __repr__(self):
        return f"CCI(n={self.n})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        cdef double tp, s, mean, md
        cdef int i, last
        if not _all_finite(x, 3):
            y[0] = NAN
            return
        self.count += 1
        tp = (x[0] + x[1] + x[2]) / 3.0
        last = self.win.pos - 1 if self.win.pos > 0 else self.n - 1
        if self.win.size > 0 and _cmp(tp, self.win.buf[last], fabs(tp) + fabs(self.win.buf[last])) == 0:
            if self.same < self.n:
                self.same += 1
        else:
            self.same = 1
        ring_push(&self.win, tp)
        if self.win.size < self.n:
            y[0] = NAN
            return
        if self.same >= self.n:
            y[0] = 0.0
            return
        s = 0.0
        for i in range(self.n):
            s += self.win.buf[i]
        mean = s / self.n
        md = 0.0
        for i in range(self.n):
            md += fabs(self.win.buf[i] - mean)
        md = md / self.n
        y[0] = (tp - mean) / (0.015 * md)

    cpdef void reset(self) noexcept:
        self.count = 0
        ring_clear(&self.win)
        self.same = 0


cdef class MFI(Indicator):
    """Money flow index. Inputs: high, low, close, volume."""

    def __cinit__(self, n=14):
        self.n = check_params("MFI", n=n)["n"]
        self.n_in = 4
        rs_init(&self.pos, self.n)
        rs_init(&self.neg, self.n)

    def __dealloc__(self):
        free(self.pos.buf)
        free(self.neg.buf)

    def __repr__(self):
        return f"MFI(n={self.n})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        cdef double tp, flow, p, q
        cdef int move
        if not _all_finite(x, 4):
            y[0] = NAN
            return
        self.count += 1
        tp = (x[0] + x[1] + x[2]) / 3.0
        if self.count == 1:
            self.prev_tp = tp
            y[0] = NAN
            return
        flow = tp * x[3]
        move = _cmp(tp, self.prev_tp, fabs(tp) + fabs(self.prev_tp))
        if move > 0:
            rs_push(&self.pos, flow)
            rs_push(&self.neg, 0.0)
        elif move < 0:
            rs_push(&self.pos, 0.0)
            rs_push(&self.neg, flow)
        else:
            rs_push(&self.pos, 0.0)
            rs_push(&self.neg, 0.0)
        self.prev_tp = tp
        if self.pos.size < self.n:
            y[0] = NAN
            return
        p = self.pos.sum
        q = self.neg.sum
        if self.neg.nonzero == 0:
            y[0] = 50.0 if self.pos.nonzero == 0 else 100.0
        elif p + q == 0.0:
            y[0] = NAN              # only with negative volumes
        else:
            y[0] = 100.0 * p / (p + q)

    cpdef void reset(self) noexcept:
        self.count = 0
        rs_clear(&self.pos)
        rs_clear(&self.neg)


cdef class OBV(Indicator):
    """On-balance volume, 0 on the first bar. Inputs: close, volume."""

    def __cinit__(self):
        check_params("OBV")
        self.n_in = 2
        self.value = 0.0

    def __repr__(self):
        return "OBV()"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        if not _all_finite(x, 2):
            y[0] = NAN
            return
        self.count += 1
        if self.count == 1:
            self.value = 0.0
        elif x[0] > self.prev_close:
            self.value += x[1]
        elif x[0] < self.prev_close:
            self.value -= x[1]
        self.prev_close = x[0]
        y[0] = self.value

    cpdef void reset(self) noexcept:
        self.count = 0
        self.value = 0.0


cdef class VWAP(Indicator):
    """Rolling VWAP over n bars: sum(quote_volume)/sum(volume). Inputs: quote_volume, volume."""

    def __cinit__(self, n):
        self.n = check_params("VWAP", n=n)["n"]
        self.n_in = 2
        rs_init(&self.quote, self.n)
        rs_init(&self.volume, self.n)

    def __dealloc__(self):
        free(self.quote.buf)
        free(self.volume.buf)

    def __repr__(self):
        return f"VWAP(n={self.n})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        if not _all_finite(x, 2):
            y[0] = NAN
            return
        self.count += 1
        rs_push(&self.quote, x[0])
        rs_push(&self.volume, x[1])
        if self.volume.size < self.n or self.volume.sum == 0.0:
            y[0] = NAN
        else:
            y[0] = self.quote.sum / self.volume.sum

    cpdef void reset(self) noexcept:
        self.count = 0
        rs_clear(&self.quote)
        rs_clear(&self.volume)


cdef class ROC(Indicator):
    """Rate of change in percent over n bars: 100*(x/x[n] - 1)."""

    def __cinit__(self, n):
        self.n = check_params("ROC", n=n)["n"]
        ring_init(&self.win, self.n)

    def __dealloc__(self):
        free(self.win.buf)

    def __repr__(self):
        return f"ROC(n={self.n})"

    cdef void step_c(self, const double* x, double* y) noexcept nogil:
        cdef double old
        if not _all_finite(x, 1):
            y[0] = NAN
            return
        self.count += 1
        if self.win.size == self.n:
            old = self.win.buf[self.win.pos]
            y[0] = 100.0 * (x[0] - old) / old if old != 0.0 else NAN
        else:
            y[0] = NAN
        ring_push(&self.win, x[0])

    cpdef void reset(self) noexcept:
        self.count = 0
        ring_clear(&self.win)

# Contract of the incremental technical indicators (barfinex/_fast/indicators.pyx).
#
# One object per indicator instance, stepped once per closed bar by the rule VM
# through the cdef vtable: ind.step_c(x, y) reads n_in doubles from x (the
# series inputs, then the bar fields, in barfinex/indicator_catalog.py order)
# and writes n_out doubles to y (the first is the default output).
#
# Semantics of step_c, for every indicator:
#   * any x[i] not finite (NaN, +/-inf): the state is left unchanged and every
#     y[j] = NaN (the bar is skipped, count does not move);
#   * otherwise count += 1, and y[j] = NaN until the indicator has seen
#     warmup bars (IndicatorSpec.warmup); all outputs start on the same bar.
#   * O(1) or O(1) amortised per step (CCI: O(n), its mean deviation needs the
#     whole window); no allocation, no Python object touched.
#
# Error reporting of the cdef functions:
#   step_c   noexcept nogil: never fails; bad input gives NaN outputs (above).
#   reset    noexcept: back to the state right after construction.
#   helpers on the structs below: noexcept nogil, never fail.
#
# Numerics: rolling sums are refreshed exactly from their ring every n steps
# (O(1) amortised), so add/subtract rounding never accumulates past one
# window; variances keep their sums relative to an anchor (the window mean at
# the last refresh), so prices like 60000 with a small spread lose nothing to
# cancellation; an exactly constant window is detected (run length of equal
# values) and gives a variance of exactly 0.

cdef enum:
    IND_MAX_IN_C = 4      # most inputs of any indicator (MFI: high, low, close, volume)
    IND_MAX_OUT_C = 3     # most outputs (MACD, Bollinger, ADX, Donchian)

# The last n values, oldest first once full: buf[pos] is the oldest.
cdef struct Ring:
    double* buf           # n slots, malloc'd by the owner
    int n                 # window length
    int pos               # next slot to write
    int size              # values held (<= n)

# Rolling sum over the last n values, refreshed exactly when pos wraps.
cdef struct RollSum:
    double* buf
    int n
    int pos
    int size
    int nonzero           # values != 0 in the window: sum is exactly 0.0 when none
    double sum

# Rolling mean/variance over the last n values, sums relative to an anchor.
cdef struct RollVar:
    double* buf           # raw values
    int n
    int pos
    int size
    int same              # trailing run of equal values, capped at n (>= size: constant window)
    double last           # newest value
    double anchor         # the window mean at the last refresh (first value before that)
    double s1             # sum of (value - anchor)
    double s2             # sum of (value - anchor)**2

# Monotonic deque of (value, bar number) for a rolling max or min.
cdef struct MonoQ:
    double* val           # cap slots
    long long* idx        # bar number (count) of each value
    int cap               # window length n: never more than n live entries
    int head              # slot of the front (the max or min)
    int len               # live entries

# An SMA-seeded exponential average: EMA (alpha 2/(n+1)) or Wilder's (alpha 1/n).
cdef struct Smoother:
    int n
    bint wilder           # Wilder: (value*(n-1) + x)/n; else alpha*x + (1-alpha)*value
    double alpha          # 2/(n+1)
    double beta           # 1 - alpha
    long long k           # values seen
    double sum            # sum of the first n values (the seed)
    double value          # current average; valid once k >= n


cdef class Indicator:
    cdef readonly int n_in                # inputs per step
    cdef readonly int n_out               # outputs per step
    cdef readonly long long count         # steps with all inputs finite (bars seen)
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept


cdef class SMA(Indicator):
    cdef readonly int n
    cdef RollSum win
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class EMA(Indicator):
    cdef readonly int n
    cdef Smoother ema
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class WMA(Indicator):
    cdef readonly int n
    cdef Ring win
    cdef double sum                       # plain sum of the window
    cdef double num                       # weighted sum, newest weight n (weight = arrival order in warm-up)
    cdef double denom                     # n(n+1)/2
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class RSI(Indicator):
    cdef readonly int n
    cdef double prev                      # previous x
    cdef Smoother gain
    cdef Smoother loss
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class ATR(Indicator):
    cdef readonly int n
    cdef double prev_close
    cdef Smoother tr
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class ADX(Indicator):
    cdef readonly int n
    cdef double prev_high
    cdef double prev_low
    cdef double prev_close
    cdef Smoother tr
    cdef Smoother plus_dm
    cdef Smoother minus_dm
    cdef Smoother adx
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class MACD(Indicator):
    cdef readonly int fast
    cdef readonly int slow
    cdef readonly int signal
    cdef Smoother fast_ema
    cdef Smoother slow_ema
    cdef Smoother signal_ema
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class Bollinger(Indicator):
    cdef readonly int n
    cdef readonly double k
    cdef RollVar win
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class Donchian(Indicator):
    cdef readonly int n
    cdef MonoQ hi
    cdef MonoQ lo
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class Stochastic(Indicator):
    cdef readonly int n
    cdef readonly int smooth_k
    cdef readonly int d
    cdef MonoQ hi
    cdef MonoQ lo
    cdef RollSum k_win                    # raw %K over smooth_k
    cdef RollSum d_win                    # %K over d
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class CCI(Indicator):
    cdef readonly int n
    cdef Ring win                         # typical prices
    cdef int same                         # trailing run of equal typical prices, capped at n
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class MFI(Indicator):
    cdef readonly int n
    cdef double prev_tp
    cdef RollSum pos                      # positive money flow
    cdef RollSum neg                      # negative money flow
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class OBV(Indicator):
    cdef double prev_close
    cdef double value
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class VWAP(Indicator):
    cdef readonly int n
    cdef RollSum quote
    cdef RollSum volume
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class ZScore(Indicator):
    cdef readonly int n
    cdef RollVar win
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class ROC(Indicator):
    cdef readonly int n
    cdef Ring win
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

# Highest and Lowest: one rolling extreme, the direction fixed by the subclass.
cdef class _Extreme(Indicator):
    cdef readonly int n
    cdef bint maximum
    cdef MonoQ q
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

cdef class Highest(_Extreme):
    pass

cdef class Lowest(_Extreme):
    pass

cdef class StDev(Indicator):
    cdef readonly int n
    cdef RollVar win
    cdef void step_c(self, const double* x, double* y) noexcept nogil
    cpdef void reset(self) noexcept

# Contract of the trade-to-candle aggregator (barfinex/_fast/candles.pyx).
#
# One CandleAggregator folds one symbol's trade stream into bars of many
# timeframes at once. Prices and sizes are int64 fixed point (price_prec /
# qty_prec decimals), timestamps int64 ns UTC.
#
# Error reporting of the cdef functions:
#   update_c / advance_c   except -1: -1 only with MemoryError set (bar buffer
#                          growth); 0 applied, 1 rejected and counted.
#   helpers marked noexcept never fail.
from libc.stdint cimport int32_t, int64_t, uint8_t

cdef enum:
    MAX_SLOTS_C = 14     # 13 exchange timeframes + an internal base period
    N_REASONS_C = 4      # rejection reasons, see REJECT_* below

cdef enum:
    REJECT_PRICE_C = 0        # price not a decimal, or not > 0
    REJECT_QTY_C = 1          # size not a decimal, or not > 0
    REJECT_SYMBOL_C = 2       # trade for another symbol
    REJECT_OUT_OF_ORDER_C = 3 # timestamp before the open period of the finest timeframe

# One bar; the layout is BAR_DTYPE's, so a block of Bars copies into numpy as is.
cdef struct Bar:
    int32_t timeframe_s          # bar length in seconds (a Timeframe value)
    int32_t closed               # 1: closed and final; 0: an in-progress update
    int64_t open_ns              # period start, ns UTC
    int64_t close_ns             # last ns of the period (open_ns + length - 1), like Binance close_time
    int64_t open                 # first trade price (price_prec); previous close on a gap bar
    int64_t high                 # highest trade price (price_prec)
    int64_t low                  # lowest trade price (price_prec)
    int64_t close                # last trade price (price_prec)
    int64_t volume               # base quantity traded (qty_prec)
    int64_t quote_volume         # sum of price*qty (price_prec + qty_prec decimals)
    int64_t count                # number of trades
    int64_t taker_buy_volume     # base quantity of trades whose taker bought (Binance m == false)
    int64_t taker_buy_quote_volume  # price*qty of those trades (price_prec + qty_prec)
    int64_t vwap                 # quote_volume / volume rounded half up (price_prec); close if volume 0

cdef class CandleAggregator:
    cdef readonly str symbol              # trades for another symbol are rejected ("" accepts any)
    cdef readonly int price_prec          # decimals of prices
    cdef readonly int qty_prec            # decimals of sizes
    cdef readonly bint gap_fill           # emit flat zero-volume bars for periods with no trades
    cdef readonly bint emit_updates       # append in-progress bars (closed=0) after each call
    cdef readonly int64_t max_gap_fill    # most filler bars per timeframe for one gap; longer gaps stay holes
    cdef readonly tuple timeframes        # the requested Timeframes, ascending
    cdef int nslots                       # periods tracked; slot 0 is the finest (base) period
    cdef int64_t length_ns[MAX_SLOTS_C]   # period length of each slot
    cdef bint emitted[MAX_SLOTS_C]        # slot is a requested timeframe (slot 0 may be internal only)
    cdef bint is_open[MAX_SLOTS_C]        # slot has a bar in progress in acc
    cdef Bar acc[MAX_SLOTS_C]             # bar in progress; coarse slots hold folded base bars only
    cdef bint has_close[MAX_SLOTS_C]      # slot has emitted a bar (so a gap can be filled)
    cdef int64_t last_close[MAX_SLOTS_C]  # close price of the slot's last emitted bar
    cdef int64_t next_ns[MAX_SLOTS_C]     # start of the first period the slot has not emitted
    cdef int64_t min_ts                   # earliest accepted trade time: start of the open base period
    cdef Bar* out                         # bars emitted and not yet drained
    cdef Py_ssize_t out_n                 # bars in out
    cdef Py_ssize_t out_cap               # capacity of out
    cdef int64_t rejected_[N_REASONS_C]   # rejected trades per reason
    cdef readonly int64_t accepted        # trades applied
    cdef readonly int64_t unfilled_gaps   # gaps longer than max_gap_fill periods, left unfilled

    # Internal steps (all except -1: fail only on MemoryError; _snapshot_into never fails).
    cdef Bar* _slot_out(self) except NULL
    cdef int _emit(self, int i) except -1
    cdef int _roll(self, int i, int64_t target) except -1
    cdef int _close_base(self) except -1
    cdef int _after_call(self) except -1
    cdef int _reject(self, int reason, str message) except -1
    cdef int _apply_batch(self, const int64_t* ts, const int64_t* px, const int64_t* qt,
                          const uint8_t* mk, Py_ssize_t n) except -1
    cdef int _snapshot_into(self, int i, Bar* o) noexcept
    cdef int _append_snapshot(self) except -1

    # Unchecked doors for other _fast modules: no price/size validation.
    cdef int update_c(self, int64_t ts_ns, int64_t price, int64_t qty, bint is_buyer_maker) except -1
    cdef int advance_c(self, int64_t until_ns) except -1

    cpdef int update(self, int64_t ts_ns, int64_t price, int64_t qty, bint is_buyer_maker) except -1
    cpdef int update_text(self, str symbol, int64_t ts_ns, object price, object qty,
                          bint is_buyer_maker) except -1
    cpdef int update_batch(self, object ts_ns, object price, object qty, object is_buyer_maker) except -1
    cpdef int flush(self, int64_t until_ns) except -1
    cpdef object drain(self)
    cpdef object snapshot(self)

# Contract of rolling order-flow features (barfinex/_fast/orderflow.pyx).
#
# Trades land in fixed time buckets kept in a ring; each rolling window keeps
# running sums of its closed buckets and subtracts a bucket once when it
# leaves, so an update is O(1) amortised however long the windows are.
# Prices and sizes are int64 fixed point, timestamps int64 ns.
#
# Error reporting of the cdef functions:
#   update_c / advance_c   except -1: 0 applied, 1 rejected and counted (never -1 today;
#                          kept so a future allocation can fail loudly).
#   window_c               noexcept: fills the struct, never fails.
from libc.stdint cimport int64_t

cdef enum:
    MAX_WINDOWS_C = 8

cdef enum:
    FLOW_REJECT_PRICE_C = 0          # price not > 0
    FLOW_REJECT_QTY_C = 1            # size not > 0
    FLOW_REJECT_OUT_OF_ORDER_C = 2   # timestamp before the current bucket

# Sums of one bucket, or of a window's closed buckets.
cdef struct FlowSums:
    int64_t id                   # absolute bucket number (ts // bucket_ns); unused for window sums
    int64_t buy_volume           # base qty of trades whose taker bought (qty_prec)
    int64_t sell_volume          # base qty of trades whose taker sold (qty_prec)
    int64_t buy_quote            # price*qty of taker buys (price_prec + qty_prec)
    int64_t sell_quote           # price*qty of taker sells (price_prec + qty_prec)
    int64_t count                # trades
    int64_t large_buy_count      # taker buys with price*qty >= large_notional
    int64_t large_sell_count     # taker sells with price*qty >= large_notional
    int64_t large_buy_volume     # base qty of those large buys
    int64_t large_sell_volume    # base qty of those large sells
    int64_t first_price          # first trade price in the bucket (price_prec)

# Features of one window, as features() returns them (FLOW_DTYPE has this layout).
cdef struct FlowWindow:
    int64_t window_ns            # window length
    int64_t buy_volume           # taker-buy base qty in the window
    int64_t sell_volume          # taker-sell base qty in the window
    int64_t delta                # buy_volume - sell_volume
    int64_t buy_quote            # taker-buy notional
    int64_t sell_quote           # taker-sell notional
    int64_t count                # trades in the window
    int64_t vwap                 # (buy_quote + sell_quote) / volume rounded half up; 0 if empty
    int64_t first_price          # first trade price in the window; 0 if empty
    int64_t last_price           # last trade price; 0 if empty
    int64_t large_buy_count      # large taker buys (notional >= large_notional)
    int64_t large_sell_count     # large taker sells
    int64_t large_buy_volume     # their base qty
    int64_t large_sell_volume
    double delta_ratio           # buy / (buy + sell); NaN if empty
    double absorption            # delta / (1 + price ticks moved in delta's direction); see module doc

cdef class OrderFlow:
    cdef readonly int64_t bucket_ns      # bucket length: the time resolution of the windows
    cdef readonly tuple windows_ns       # window lengths, as given
    cdef readonly int64_t large_notional # notional threshold of a large trade (price_prec+qty_prec); 0 = off
    cdef readonly int64_t tick           # price step used by absorption (price_prec)
    cdef readonly int64_t cvd            # cumulative volume delta since construction (qty_prec)
    cdef readonly int64_t accepted       # trades applied
    cdef int nwin                        # windows in use
    cdef int64_t span[MAX_WINDOWS_C]     # buckets per window, current bucket included
    cdef int64_t tail[MAX_WINDOWS_C]     # oldest bucket id a window still counts
    cdef FlowSums sums[MAX_WINDOWS_C]    # a window's closed buckets in [tail, head)
    cdef FlowSums* ring                  # bucket slots; slot of id k is ring[k % ring_n]
    cdef int64_t ring_n                  # slots in ring
    cdef int64_t head                    # id of the current bucket; INT64_MIN before the first trade
    cdef int64_t head_start              # first ns of the current bucket
    cdef int64_t head_end                # first ns after the current bucket
    cdef FlowSums* head_bucket           # ring slot of the current bucket
    cdef int64_t last_price              # last trade price (price_prec)
    cdef int64_t rejected_[3]            # rejected trades per reason

    cdef void _bucket_sums(self, FlowSums* into, const FlowSums* b, int64_t sign) noexcept
    cdef int _leave(self, int w, int64_t new_head) noexcept
    cdef int _open_bucket(self, int64_t bucket_id) except -1

    cdef int update_c(self, int64_t ts_ns, int64_t price, int64_t qty, bint is_buyer_maker) except -1
    cdef int advance_c(self, int64_t now_ns) except -1
    cdef void window_c(self, int w, FlowWindow* out) noexcept

    cpdef int update(self, int64_t ts_ns, int64_t price, int64_t qty, bint is_buyer_maker) except -1
    cpdef int update_batch(self, object ts_ns, object price, object qty, object is_buyer_maker) except -1
    cpdef int advance(self, int64_t now_ns) except -1
    cpdef object features(self)

# Contract of the L2 order book (barfinex/_fast/orderbook.pyx), compiled as C++.
#
# Prices and sizes are int64 fixed point: price = mantissa / 10**price_decimals,
# size = mantissa / 10**size_decimals. Each side is a _Ladder keyed by a "key":
# ticks for asks, -ticks for bids, so the best level is always the lowest key.
# A dense window of `width` keys holds the levels near the touch (array of sizes
# + two-level bitmap: O(1) update, best found after a delete in a few word ops);
# levels beyond the window live in an ordered std::map (O(log n)).
#
# Error reporting: every cdef below is `noexcept` (inputs already validated by the
# checked cpdef door) except where marked `except -1` (raises BookError).
# std::bad_alloc inside the map is fatal (terminates), as for any C++ allocator.
from libc.stdint cimport int64_t, uint64_t
from libcpp.map cimport map as cmap
from libcpp.vector cimport vector

cdef enum:
    BID_C = 0
    ASK_C = 1


cdef class _Ladder:
    cdef int64_t* size              # size per window slot, 0 = no level
    cdef uint64_t* bits             # bit i set <=> size[i] != 0
    cdef uint64_t* summary          # bit w set <=> bits[w] != 0
    cdef Py_ssize_t width           # window slots (multiple of 64)
    cdef Py_ssize_t nwords          # width // 64
    cdef Py_ssize_t nsummary        # ceil(nwords / 64)
    cdef int64_t lo                 # key of window slot 0
    cdef Py_ssize_t best            # slot of the best level, -1 when the window is empty
    cdef Py_ssize_t in_window       # levels held in the window
    cdef cmap[int64_t, int64_t] far # key -> size for keys >= lo + width
    cdef int64_t recenters          # window moves (diagnostic)

    cdef void clear_c(self) noexcept
    cdef void set_c(self, int64_t key, int64_t size) noexcept
    cdef Py_ssize_t next_c(self, Py_ssize_t slot) noexcept nogil
    cdef void recenter_c(self, int64_t best_key) noexcept
    cdef bint best_c(self, int64_t* key, int64_t* size) noexcept
    cdef Py_ssize_t count_c(self) noexcept
    cdef Py_ssize_t walk_c(self, Py_ssize_t n, int64_t key_limit,
                           vector[int64_t]& keys, vector[int64_t]& sizes) noexcept


cdef class OrderBook:
    cdef readonly str symbol            # exchange symbol, e.g. "BTCUSDT"
    cdef readonly int price_decimals    # price mantissa scale: 10**price_decimals
    cdef readonly int size_decimals     # size mantissa scale: 10**size_decimals
    cdef readonly int64_t tick_size     # price increment, in price mantissa units
    cdef readonly int64_t step_size     # size increment, in size mantissa units
    cdef readonly int64_t last_update_id  # update id of the last snapshot/diff applied
    cdef readonly int64_t updates       # price levels applied since construction
    cdef readonly int64_t messages      # snapshots + diffs applied
    cdef readonly bint crossed          # best bid >= best ask after the last message
    cdef readonly int64_t crossed_count # messages that left the book crossed
    cdef _Ladder bids_c                 # bid side (key = -price/tick)
    cdef _Ladder asks_c                 # ask side (key = price/tick)
    cdef double price_scale             # 10**price_decimals, for float outputs
    cdef vector[int64_t] scratch_price  # checked prices of the message being applied
    cdef vector[int64_t] scratch_size   # checked sizes of the message being applied

    # One side of a message (pairs of decimal strings or of int mantissas) into scratch.
    cdef int parse_levels_c(self, object levels, int side, str what) except -1
    cdef int _read_level(self, object entry, str what, Py_ssize_t i,
                         int64_t* price, int64_t* size) except -1
    cdef int _text_error(self, object p, object q, int ok_p, str what, Py_ssize_t i) except -1
    cdef int _range_error(self, object p, object q, int over_p, str what, Py_ssize_t i) except -1
    cdef int check_arrays_c(self, const int64_t[:] prices, const int64_t[:] sizes,
                            int side, str what) except -1
    cdef int _check_level(self, int64_t price, int64_t size, str what, Py_ssize_t i) except -1
    cdef void reset_window_c(self, Py_ssize_t n_bids) noexcept
    cdef void _commit(self, Py_ssize_t nb, int64_t update_id) noexcept
    cdef Py_ssize_t _stage_levels(self, object bids, object asks) except -1
    cdef Py_ssize_t _stage_arrays(self, const int64_t[:] bid_prices, const int64_t[:] bid_sizes,
                                  const int64_t[:] ask_prices, const int64_t[:] ask_sizes) except -1
    cdef Py_ssize_t _apply_staged(self, Py_ssize_t nb, int64_t update_id, bint snapshot) noexcept
    cdef _Ladder _side(self, int side)
    cdef list _levels(self, int side, vector[int64_t]& keys, vector[int64_t]& sizes)
    # Unchecked door: prices must be positive multiples of tick_size, sizes
    # non-negative multiples of step_size (0 deletes). Bids first, then asks.
    cdef void apply_diff_c(self, const int64_t* bid_prices, const int64_t* bid_sizes, Py_ssize_t nb,
                           const int64_t* ask_prices, const int64_t* ask_sizes, Py_ssize_t na,
                           int64_t update_id) noexcept
    cdef void after_message_c(self, int64_t update_id) noexcept
    cdef int64_t best_bid_price_c(self) noexcept
    cdef int64_t best_ask_price_c(self) noexcept

    cpdef Py_ssize_t apply_snapshot(self, object bids, object asks, int64_t last_update_id) except -1
    cpdef Py_ssize_t apply_diff(self, object bids, object asks, int64_t update_id) except -1
    cpdef Py_ssize_t apply_snapshot_arrays(self, const int64_t[:] bid_prices, const int64_t[:] bid_sizes,
                                           const int64_t[:] ask_prices, const int64_t[:] ask_sizes,
                                           int64_t last_update_id) except -1
    cpdef Py_ssize_t apply_diff_arrays(self, const int64_t[:] bid_prices, const int64_t[:] bid_sizes,
                                       const int64_t[:] ask_prices, const int64_t[:] ask_sizes,
                                       int64_t update_id) except -1
    cpdef void clear(self)
    cpdef tuple bbo(self)
    cpdef object best_bid(self)
    cpdef object best_ask(self)
    cpdef tuple top(self, Py_ssize_t n)
    cpdef int64_t depth(self, int side, int64_t band) except -1
    cpdef double imbalance(self, Py_ssize_t n) except? -2
    cpdef double microprice(self)
    cpdef tuple fill_price(self, int taker_side, int64_t quantity)
    cpdef list walls(self, int side, Py_ssize_t k, Py_ssize_t levels=*)

# cython: language_level=3
# distutils: language = c++
"""L2 order book: int64 fixed-point prices and sizes, whole-message updates.

Each side keeps the levels near the touch in a dense window indexed by price
tick (an array of sizes plus a two-level bitmap), and the levels beyond it in
an ordered ``std::map``. An update near the touch is an array store and a bit
flip; after the best level is deleted the next one is found with two or three
``ctz`` word operations, never a scan of the levels. The window follows the
touch: when the best price leaves it, the window is moved (rare, amortised).

Internally a level is addressed by a *key*: ``price // tick`` for asks and
``-(price // tick)`` for bids, so the best level of either side is the lowest
key and one ladder implementation serves both.

Two doors: the ``cpdef`` methods validate a whole message before touching the
book (a bad level anywhere leaves the book exactly as it was, BookError says
which level and why); ``apply_diff_c`` is the unchecked door for other Cython
modules that already hold validated int64 levels.

``apply_diff``/``apply_snapshot`` take a level as the exchange's decimal
strings or as int mantissas: a Provider that has already parsed a message for
its BookDelta (``fixedpoint.parse_levels``) hands the book those ints and the
strings are parsed once, not twice.
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.list cimport PyList_CheckExact, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from cpython.tuple cimport PyTuple_CheckExact, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_CheckExact
from cython.operator cimport dereference as deref, preincrement as inc
from libc.math cimport NAN
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset
from libcpp.map cimport map as cmap
from libcpp.vector cimport vector

from barfinex._fast.fixedpoint cimport parse_fixed_c

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL

cdef extern from *:
    int __builtin_ctzll(unsigned long long x) nogil

BID = BID_C
ASK = ASK_C
BUY = 1     # barfinex.model.enums.Side.BUY: a taker buy walks the asks
SELL = 2    # barfinex.model.enums.Side.SELL: a taker sell walks the bids
DEFAULT_WINDOW = 16384

cdef uint64_t ALL_ONES = 0xFFFFFFFFFFFFFFFFULL


class BookError(ValueError):
    """A message or argument the book refuses; the book is left unchanged."""


cdef class _Ladder:
    """One side of the book (internal). See orderbook.pxd for the layout."""

    def __cinit__(self, Py_ssize_t width):
        self.width = width
        self.nwords = width // 64
        self.nsummary = (self.nwords + 63) // 64
        self.size = <int64_t*>calloc(width, sizeof(int64_t))
        self.bits = <uint64_t*>calloc(self.nwords, sizeof(uint64_t))
        self.summary = <uint64_t*>calloc(self.nsummary, sizeof(uint64_t))
        if self.size == NULL or self.bits == NULL or self.summary == NULL:
            raise MemoryError()
        self.best = -1
        self.in_window = 0
        self.lo = 0
        self.recenters = 0

    def __dealloc__(self):
        free(self.size)
        free(self.bits)
        free(self.summary)

    cdef void clear_c(self) noexcept:
        memset(self.size, 0, self.width * sizeof(int64_t))
        memset(self.bits, 0, self.nwords * sizeof(uint64_t))
        memset(self.summary, 0, self.nsummary * sizeof(uint64_t))
        self.far.clear()
        self.best = -1
        self.in_window = 0

    cdef Py_ssize_t next_c(self, Py_ssize_t slot) noexcept nogil:
        """First occupied slot >= ``slot``, or -1."""
        cdef Py_ssize_t w = slot >> 6
        cdef Py_ssize_t s
        cdef uint64_t word
        if slot >= self.width:
            return -1
        word = self.bits[w] & (ALL_ONES << (slot & 63))
        if word:
            return (w << 6) + __builtin_ctzll(word)
        w += 1
        if w >= self.nwords:
            return -1
        s = w >> 6
        word = self.summary[s] & (ALL_ONES << (w & 63))
        while True:
            if word:
                w = (s << 6) + __builtin_ctzll(word)
                return (w << 6) + __builtin_ctzll(self.bits[w])
            s += 1
            if s >= self.nsummary:
                return -1
            word = self.summary[s]

    cdef void recenter_c(self, int64_t best_key) noexcept:
        """Move the window so ``best_key`` sits a quarter in: room for the touch
        to improve, three quarters for the levels behind it."""
        cdef Py_ssize_t slot = self.best
        cdef cmap[int64_t, int64_t].iterator it
        cdef int64_t key, hi
        while slot >= 0:
            self.far[self.lo + slot] = self.size[slot]
            self.size[slot] = 0
            slot = self.next_c(slot + 1)
        memset(self.bits, 0, self.nwords * sizeof(uint64_t))
        memset(self.summary, 0, self.nsummary * sizeof(uint64_t))
        self.in_window = 0
        self.lo = best_key - self.width // 4
        hi = self.lo + self.width
        # Invariant: no level has a key below lo, so the map's head is the window's part.
        it = self.far.begin()
        while it != self.far.end() and deref(it).first < hi:
            slot = deref(it).first - self.lo
            self.size[slot] = deref(it).second
            self.bits[slot >> 6] |= (<uint64_t>1) << (slot & 63)
            self.summary[slot >> 12] |= (<uint64_t>1) << ((slot >> 6) & 63)
            self.in_window += 1
            it = self.far.erase(it)
        self.best = self.next_c(0)
        self.recenters += 1

    cdef void set_c(self, int64_t key, int64_t size) noexcept:
        """Set the level at ``key`` to ``size``; 0 deletes (absent level: no-op)."""
        cdef Py_ssize_t slot, w
        if size == 0:
            if key < self.lo:
                return
            slot = key - self.lo
            if slot >= self.width:
                self.far.erase(key)
                return
            if self.size[slot] == 0:
                return
            self.size[slot] = 0
            w = slot >> 6
            self.bits[w] &= ~((<uint64_t>1) << (slot & 63))
            if self.bits[w] == 0:
                self.summary[w >> 6] &= ~((<uint64_t>1) << (w & 63))
            self.in_window -= 1
            if slot == self.best:
                self.best = self.next_c(slot + 1)
                if self.best < 0 and not self.far.empty():
                    self.recenter_c(deref(self.far.begin()).first)
            return
        if self.best < 0:
            # empty window implies an empty side (recenter keeps it so)
            self.lo = key - self.width // 4
        elif key < self.lo:
            self.recenter_c(key)
        slot = key - self.lo
        if slot >= self.width:
            self.far[key] = size
            return
        if self.size[slot] == 0:
            w = slot >> 6
            if self.bits[w] == 0:
                self.summary[w >> 6] |= (<uint64_t>1) << (w & 63)
            self.bits[w] |= (<uint64_t>1) << (slot & 63)
            self.in_window += 1
            if self.best < 0 or slot < self.best:
                self.best = slot
        self.size[slot] = size

    cdef bint best_c(self, int64_t* key, int64_t* size) noexcept:
        if self.best < 0:
            return False
        key[0] = self.lo + self.best
        size[0] = self.size[self.best]
        return True

    cdef Py_ssize_t count_c(self) noexcept:
        return self.in_window + <Py_ssize_t>self.far.size()

    cdef Py_ssize_t walk_c(self, Py_ssize_t n, int64_t key_limit,
                           vector[int64_t]& keys, vector[int64_t]& sizes) noexcept:
        """Append up to ``n`` levels (n < 0: all) with key <= key_limit, best first."""
        cdef Py_ssize_t got = 0
        cdef Py_ssize_t slot = self.best
        cdef cmap[int64_t, int64_t].iterator it
        while slot >= 0 and (n < 0 or got < n):
            if self.lo + slot > key_limit:
                return got
            keys.push_back(self.lo + slot)
            sizes.push_back(self.size[slot])
            got += 1
            slot = self.next_c(slot + 1)
        it = self.far.begin()
        while it != self.far.end() and (n < 0 or got < n):
            if deref(it).first > key_limit:
                return got
            keys.push_back(deref(it).first)
            sizes.push_back(deref(it).second)
            got += 1
            inc(it)
        return got


cdef inline bint _text(object o, const char** s, Py_ssize_t* n) except -1:
    if isinstance(o, str):
        s[0] = PyUnicode_AsUTF8AndSize(o, n)
        return True
    if isinstance(o, bytes):
        s[0] = PyBytes_AS_STRING(o)
        n[0] = PyBytes_GET_SIZE(o)
        return True
    return False


cdef inline bint _mantissa(object o) noexcept:
    return isinstance(o, int) and not isinstance(o, bool)


cdef int64_t INT64_MAX_C = 9223372036854775807
cdef Py_ssize_t FILL_PREFIX = 64


cdef class OrderBook:
    """An L2 book for one instrument.

    ``OrderBook("BTCUSDT", price_decimals=2, size_decimals=5, tick_size=1, step_size=1)``:
    prices are integers in units of 10**-price_decimals (61800.30 -> 6180030),
    sizes in units of 10**-size_decimals; ``tick_size`` and ``step_size`` are in
    those units. ``window`` is the number of ticks per side held densely near
    the touch (levels beyond it are kept in an ordered map).
    """

    def __cinit__(self, str symbol, int price_decimals, int size_decimals,
                  int64_t tick_size=1, int64_t step_size=1, Py_ssize_t window=DEFAULT_WINDOW):
        if not symbol:
            raise BookError("symbol must be non-empty")
        if not 0 <= price_decimals <= 18 or not 0 <= size_decimals <= 18:
            raise BookError("price_decimals and size_decimals must be within 0..18")
        if tick_size < 1 or step_size < 1:
            raise BookError("tick_size and step_size must be >= 1 (mantissa units)")
        if window < 64:
            raise BookError("window must be at least 64 ticks")
        window = (window + 63) // 64 * 64
        self.symbol = symbol
        self.price_decimals = price_decimals
        self.size_decimals = size_decimals
        self.tick_size = tick_size
        self.step_size = step_size
        self.price_scale = 10.0 ** price_decimals
        self.bids_c = _Ladder(window)
        self.asks_c = _Ladder(window)
        self.last_update_id = 0
        self.updates = 0
        self.messages = 0
        self.crossed = False
        self.crossed_count = 0

    def __repr__(self):
        return (f"OrderBook({self.symbol!r}, bids={self.bid_count}, asks={self.ask_count}, "
                f"bbo={self.bbo()}, last_update_id={self.last_update_id})")

    @property
    def bid_count(self):
        """Number of bid levels."""
        return self.bids_c.count_c()

    @property
    def ask_count(self):
        """Number of ask levels."""
        return self.asks_c.count_c()

    @property
    def window(self):
        """Ticks per side held in the dense window."""
        return self.bids_c.width

    @property
    def recenters(self):
        """Times either side's window followed the touch (diagnostic)."""
        return self.bids_c.recenters + self.asks_c.recenters

    # -- validation: everything is read into scratch before anything mutates --

    # C division for the tick/step checks: the constructor guarantees both are
    # >= 1, so Python's zero and sign handling of % is dead weight per level.
    @cython.cdivision(True)
    cdef int parse_levels_c(self, object levels, int side, str what) except -1:
        """Read one side of a message into scratch. A level is a pair of
        decimal strings (the exchange's text, parsed here) or of int mantissas
        (parsed once upstream by ``fixedpoint.parse_levels``: only converted to
        int64 and checked here); each level may be either."""
        cdef Py_ssize_t i, n, pn, qn
        cdef const char* ps
        cdef const char* qs
        cdef int ok_p = 0, ok_q = 0, over_p = 0, over_q = 0
        cdef int64_t price, size
        cdef object entry
        if not isinstance(levels, (list, tuple)):
            raise BookError(f"{self.symbol} {what}: expected a list of [price, size] pairs, "
                            f"got {type(levels).__name__}")
        n = len(levels)
        cdef bint is_list = PyList_CheckExact(levels)
        self.scratch_price.reserve(self.scratch_price.size() + n)
        self.scratch_size.reserve(self.scratch_size.size() + n)
        for i in range(n):
            entry = <object>PyList_GET_ITEM(levels, i) if is_list else levels[i]
            # The two forms the Provider meets take a path without the generic
            # sequence protocol: Binance's lists of two str, parse_levels'
            # tuples of two int. Anything else (lists of ints, bytes,
            # subclasses, bad levels) goes through _read_level.
            if PyList_CheckExact(entry) and PyList_GET_SIZE(entry) == 2 \
                    and PyUnicode_CheckExact(<object>PyList_GET_ITEM(entry, 0)) \
                    and PyUnicode_CheckExact(<object>PyList_GET_ITEM(entry, 1)):
                ps = PyUnicode_AsUTF8AndSize(<object>PyList_GET_ITEM(entry, 0), &pn)
                qs = PyUnicode_AsUTF8AndSize(<object>PyList_GET_ITEM(entry, 1), &qn)
                price = parse_fixed_c(ps, pn, self.price_decimals, &ok_p)
                size = parse_fixed_c(qs, qn, self.size_decimals, &ok_q)
                if not ok_p or not ok_q:
                    self._text_error(entry[0], entry[1], ok_p, what, i)
            elif PyTuple_CheckExact(entry) and PyTuple_GET_SIZE(entry) == 2 \
                    and PyLong_CheckExact(<object>PyTuple_GET_ITEM(entry, 0)) \
                    and PyLong_CheckExact(<object>PyTuple_GET_ITEM(entry, 1)):
                # Never raises for an exact int: out of int64 range sets over_*.
                price = PyLong_AsLongLongAndOverflow(<object>PyTuple_GET_ITEM(entry, 0), &over_p)
                size = PyLong_AsLongLongAndOverflow(<object>PyTuple_GET_ITEM(entry, 1), &over_q)
                if over_p or over_q:
                    self._range_error(entry[0], entry[1], over_p, what, i)
            else:
                self._read_level(entry, what, i, &price, &size)
            if price <= 0 or size < 0 or (self.tick_size != 1 and price % self.tick_size) \
                    or (self.step_size != 1 and size % self.step_size):
                self._check_level(price, size, what, i)
            self.scratch_price.push_back(price)
            self.scratch_size.push_back(size)
        return 0

    cdef int _read_level(self, object entry, str what, Py_ssize_t i,
                         int64_t* price, int64_t* size) except -1:
        """Any level form off the two fast paths; BookError if it is not a pair
        of decimal strings (str or bytes) or of ints (bool is not a mantissa)."""
        cdef const char* ps
        cdef const char* qs
        cdef Py_ssize_t pn, qn
        cdef int ok_p = 0, ok_q = 0, over_p = 0, over_q = 0
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            raise BookError(f"{self.symbol} {what}[{i}]: expected a [price, size] pair, got {entry!r}")
        p, q = entry[0], entry[1]
        if _mantissa(p) and _mantissa(q):
            price[0] = PyLong_AsLongLongAndOverflow(p, &over_p)
            size[0] = PyLong_AsLongLongAndOverflow(q, &over_q)
            if over_p or over_q:
                self._range_error(p, q, over_p, what, i)
            return 0
        if not _text(p, &ps, &pn) or not _text(q, &qs, &qn):
            raise BookError(f"{self.symbol} {what}[{i}]: price and size must be two decimal strings "
                            f"or two int mantissas, got {entry!r}")
        price[0] = parse_fixed_c(ps, pn, self.price_decimals, &ok_p)
        size[0] = parse_fixed_c(qs, qn, self.size_decimals, &ok_q)
        if not ok_p or not ok_q:
            self._text_error(p, q, ok_p, what, i)
        return 0

    cdef int _text_error(self, object p, object q, int ok_p, str what, Py_ssize_t i) except -1:
        if not ok_p:
            raise BookError(f"{self.symbol} {what}[{i}]: price {p!r} is not a decimal "
                            f"with at most {self.price_decimals} places")
        raise BookError(f"{self.symbol} {what}[{i}]: size {q!r} is not a decimal "
                        f"with at most {self.size_decimals} places")

    cdef int _range_error(self, object p, object q, int over_p, str what, Py_ssize_t i) except -1:
        if over_p:
            raise BookError(f"{self.symbol} {what}[{i}]: price {p} does not fit in int64")
        raise BookError(f"{self.symbol} {what}[{i}]: size {q} does not fit in int64")

    cdef int _check_level(self, int64_t price, int64_t size, str what, Py_ssize_t i) except -1:
        if price <= 0:
            raise BookError(f"{self.symbol} {what}[{i}]: price {price} must be positive")
        if price % self.tick_size:
            raise BookError(f"{self.symbol} {what}[{i}]: price {price} is not a multiple of "
                            f"tick {self.tick_size}")
        if size < 0:
            raise BookError(f"{self.symbol} {what}[{i}]: negative size {size}")
        if size % self.step_size:
            raise BookError(f"{self.symbol} {what}[{i}]: size {size} is not a multiple of "
                            f"step {self.step_size}")
        return 0

    # The loop index runs over 0..n-1 with n = the view's own length: bounds
    # checks cannot fire, and dropping them halves this loop (bench_orderbook).
    @cython.boundscheck(False)
    @cython.wraparound(False)
    cdef int check_arrays_c(self, const int64_t[:] prices, const int64_t[:] sizes,
                            int side, str what) except -1:
        cdef Py_ssize_t i, n = prices.shape[0]
        cdef int64_t price, size
        if sizes.shape[0] != n:
            raise BookError(f"{self.symbol} {what}: {n} prices but {sizes.shape[0]} sizes")
        for i in range(n):
            price = prices[i]
            size = sizes[i]
            if price <= 0 or size < 0 or (self.tick_size != 1 and price % self.tick_size) \
                    or (self.step_size != 1 and size % self.step_size):
                self._check_level(price, size, what, i)
            self.scratch_price.push_back(price)
            self.scratch_size.push_back(size)
        return 0

    # -- mutation (unchecked) --

    cdef void apply_diff_c(self, const int64_t* bid_prices, const int64_t* bid_sizes, Py_ssize_t nb,
                           const int64_t* ask_prices, const int64_t* ask_sizes, Py_ssize_t na,
                           int64_t update_id) noexcept:
        cdef Py_ssize_t i
        cdef int64_t tick = self.tick_size
        if tick == 1:
            for i in range(nb):
                self.bids_c.set_c(-bid_prices[i], bid_sizes[i])
            for i in range(na):
                self.asks_c.set_c(ask_prices[i], ask_sizes[i])
        else:
            for i in range(nb):
                self.bids_c.set_c(-(bid_prices[i] // tick), bid_sizes[i])
            for i in range(na):
                self.asks_c.set_c(ask_prices[i] // tick, ask_sizes[i])
        self.updates += nb + na
        self.after_message_c(update_id)

    cdef void after_message_c(self, int64_t update_id) noexcept:
        cdef int64_t bk, bs, ak, asz
        self.messages += 1
        self.last_update_id = update_id
        # bid key = -bid ticks, ask key = ask ticks: crossed <=> bid >= ask <=> -bk >= ak
        self.crossed = (self.bids_c.best_c(&bk, &bs) and self.asks_c.best_c(&ak, &asz)
                        and -bk >= ak)
        if self.crossed:
            self.crossed_count += 1

    cdef void reset_window_c(self, Py_ssize_t n_bids) noexcept:
        """Clear both sides and place each window at the best level of the
        parsed snapshot, so loading it never moves a window."""
        cdef Py_ssize_t i, n = self.scratch_price.size()
        cdef int64_t best_bid = 0, best_ask = INT64_MAX_C
        for i in range(n):
            if self.scratch_size[i] == 0:
                continue
            if i < n_bids:
                best_bid = max(best_bid, self.scratch_price[i])
            else:
                best_ask = min(best_ask, self.scratch_price[i])
        self.bids_c.clear_c()
        self.asks_c.clear_c()
        if best_bid > 0:
            self.bids_c.lo = -(best_bid // self.tick_size) - self.bids_c.width // 4
        if best_ask < INT64_MAX_C:
            self.asks_c.lo = best_ask // self.tick_size - self.asks_c.width // 4

    cdef void _commit(self, Py_ssize_t nb, int64_t update_id) noexcept:
        cdef int64_t* p = self.scratch_price.data()
        cdef int64_t* s = self.scratch_size.data()
        cdef Py_ssize_t n = self.scratch_price.size()
        self.apply_diff_c(p, s, nb, p + nb, s + nb, n - nb, update_id)

    cdef Py_ssize_t _stage_levels(self, object bids, object asks) except -1:
        # Parse and check a whole message into the scratch vectors, bids first;
        # the book is untouched until _apply_staged. Returns the bid count.
        self.scratch_price.clear()
        self.scratch_size.clear()
        self.parse_levels_c(bids, BID_C, "bids")
        cdef Py_ssize_t nb = self.scratch_price.size()
        self.parse_levels_c(asks, ASK_C, "asks")
        return nb

    cdef Py_ssize_t _stage_arrays(self, const int64_t[:] bid_prices, const int64_t[:] bid_sizes,
                                  const int64_t[:] ask_prices, const int64_t[:] ask_sizes) except -1:
        self.scratch_price.clear()
        self.scratch_size.clear()
        self.check_arrays_c(bid_prices, bid_sizes, BID_C, "bids")
        cdef Py_ssize_t nb = self.scratch_price.size()
        self.check_arrays_c(ask_prices, ask_sizes, ASK_C, "asks")
        return nb

    cdef Py_ssize_t _apply_staged(self, Py_ssize_t nb, int64_t update_id, bint snapshot) noexcept:
        if snapshot:
            self.reset_window_c(nb)
            self.crossed = False
        self._commit(nb, update_id)
        return self.scratch_price.size()

    # -- checked doors --

    cpdef Py_ssize_t apply_snapshot(self, object bids, object asks, int64_t last_update_id) except -1:
        """Replace the book with a REST snapshot: ``bids``/``asks`` are lists of
        ``[price_str, size_str]`` (Binance's text) or of ``(price, size)`` int
        mantissas. Returns the number of levels read. Raises BookError (book
        unchanged) on any malformed level."""
        return self._apply_staged(self._stage_levels(bids, asks), last_update_id, True)

    cpdef Py_ssize_t apply_diff(self, object bids, object asks, int64_t update_id) except -1:
        """Apply one whole depth-diff message: every bid and ask level of it, in
        one call. A level is ``[price_str, size_str]`` or ``(price, size)`` in
        int mantissas, as ``fixedpoint.parse_levels`` returns them (no second
        parse); size 0 deletes the level. Returns the number of levels
        applied. Raises BookError (book unchanged) on any malformed level."""
        return self._apply_staged(self._stage_levels(bids, asks), update_id, False)

    cpdef Py_ssize_t apply_snapshot_arrays(self, const int64_t[:] bid_prices, const int64_t[:] bid_sizes,
                                           const int64_t[:] ask_prices, const int64_t[:] ask_sizes,
                                           int64_t last_update_id) except -1:
        """``apply_snapshot`` from int64 arrays of mantissas (numpy or array('q'))."""
        return self._apply_staged(self._stage_arrays(bid_prices, bid_sizes, ask_prices, ask_sizes),
                                  last_update_id, True)

    cpdef Py_ssize_t apply_diff_arrays(self, const int64_t[:] bid_prices, const int64_t[:] bid_sizes,
                                       const int64_t[:] ask_prices, const int64_t[:] ask_sizes,
                                       int64_t update_id) except -1:
        """``apply_diff`` from int64 arrays of mantissas (numpy or array('q'))."""
        return self._apply_staged(self._stage_arrays(bid_prices, bid_sizes, ask_prices, ask_sizes),
                                  update_id, False)

    cpdef void clear(self):
        """Drop every level and reset the update id and the crossed flag."""
        self.bids_c.clear_c()
        self.asks_c.clear_c()
        self.last_update_id = 0
        self.crossed = False

    # -- queries --

    cdef int64_t best_bid_price_c(self) noexcept:
        cdef int64_t k, s
        return -k * self.tick_size if self.bids_c.best_c(&k, &s) else 0

    cdef int64_t best_ask_price_c(self) noexcept:
        cdef int64_t k, s
        return k * self.tick_size if self.asks_c.best_c(&k, &s) else 0

    cpdef tuple bbo(self):
        """``(bid_price, bid_size, ask_price, ask_size)``; 0s for an empty side."""
        cdef int64_t bk = 0, bs = 0, ak = 0, asz = 0
        self.bids_c.best_c(&bk, &bs)
        self.asks_c.best_c(&ak, &asz)
        return (-bk * self.tick_size, bs, ak * self.tick_size, asz)

    cpdef object best_bid(self):
        """``(price, size)`` of the best bid, or None."""
        cdef int64_t k, s
        if not self.bids_c.best_c(&k, &s):
            return None
        return (-k * self.tick_size, s)

    cpdef object best_ask(self):
        """``(price, size)`` of the best ask, or None."""
        cdef int64_t k, s
        if not self.asks_c.best_c(&k, &s):
            return None
        return (k * self.tick_size, s)

    cdef _Ladder _side(self, int side):
        if side == BID_C:
            return self.bids_c
        if side == ASK_C:
            return self.asks_c
        raise BookError(f"side must be BID ({BID_C}) or ASK ({ASK_C}), got {side}")

    cdef list _levels(self, int side, vector[int64_t]& keys, vector[int64_t]& sizes):
        cdef Py_ssize_t i
        cdef int64_t sign = -self.tick_size if side == BID_C else self.tick_size
        return [(keys[i] * sign, sizes[i]) for i in range(<Py_ssize_t>keys.size())]

    cpdef tuple top(self, Py_ssize_t n):
        """``(bids, asks)``: up to ``n`` levels a side as ``(price, size)``, best first."""
        cdef vector[int64_t] bk, bs, ak, asz
        if n < 0:
            raise BookError(f"n must be >= 0, got {n}")
        if n:
            self.bids_c.walk_c(n, INT64_MAX_C, bk, bs)
            self.asks_c.walk_c(n, INT64_MAX_C, ak, asz)
        return (self._levels(BID_C, bk, bs), self._levels(ASK_C, ak, asz))

    cpdef int64_t depth(self, int side, int64_t band) except -1:
        """Total size of ``side`` within ``band`` (price units, >= 0) of its best price."""
        cdef _Ladder ladder = self._side(side)
        cdef vector[int64_t] keys, sizes
        cdef int64_t best_key, best_size, total = 0
        cdef Py_ssize_t i
        if band < 0:
            raise BookError(f"band must be >= 0, got {band}")
        if not ladder.best_c(&best_key, &best_size):
            return 0
        ladder.walk_c(-1, best_key + band // self.tick_size, keys, sizes)
        for i in range(<Py_ssize_t>sizes.size()):
            total += sizes[i]
        return total

    cpdef double imbalance(self, Py_ssize_t n) except? -2:
        """``(bid size - ask size) / (bid size + ask size)`` over the best ``n``
        levels a side, in [-1, 1]; 0.0 on an empty book."""
        cdef vector[int64_t] bk, bs, ak, asz
        cdef int64_t b = 0, a = 0
        cdef Py_ssize_t i
        if n < 1:
            raise BookError(f"n must be >= 1, got {n}")
        self.bids_c.walk_c(n, INT64_MAX_C, bk, bs)
        self.asks_c.walk_c(n, INT64_MAX_C, ak, asz)
        for i in range(<Py_ssize_t>bs.size()):
            b += bs[i]
        for i in range(<Py_ssize_t>asz.size()):
            a += asz[i]
        if a + b == 0:
            return 0.0
        return <double>(b - a) / <double>(b + a)

    cpdef double microprice(self):
        """Size-weighted mid in price units (a float, e.g. 61800.25):
        ``(bid * ask_size + ask * bid_size) / (bid_size + ask_size)``; NaN
        when a side is empty."""
        cdef int64_t bk, bs, ak, asz
        if not self.bids_c.best_c(&bk, &bs) or not self.asks_c.best_c(&ak, &asz):
            return NAN
        cdef double bid = <double>(-bk * self.tick_size)
        cdef double ask = <double>(ak * self.tick_size)
        return (bid * <double>asz + ask * <double>bs) / (<double>asz + <double>bs) / self.price_scale

    cpdef tuple fill_price(self, int taker_side, int64_t quantity):
        """Walk the book for a taker order of ``quantity`` (size units):
        ``(average price as a float in price units, size filled)``. BUY (1)
        walks the asks, SELL (2) the bids. The average is NaN when nothing
        fills; ``filled < quantity`` when the book is too thin."""
        cdef _Ladder ladder
        cdef int64_t sign, left = quantity, take
        cdef double notional = 0.0
        cdef Py_ssize_t i, got, start
        cdef vector[int64_t] keys, sizes
        if taker_side == BUY:
            ladder, sign = self.asks_c, self.tick_size
        elif taker_side == SELL:
            ladder, sign = self.bids_c, -self.tick_size
        else:
            raise BookError(f"taker_side must be BUY (1) or SELL (2), got {taker_side}")
        if quantity <= 0:
            raise BookError(f"quantity must be positive, got {quantity}")
        # Most fills touch a handful of levels: walk a short prefix first and
        # the rest of the side only when the order is larger than it.
        got = ladder.walk_c(FILL_PREFIX, INT64_MAX_C, keys, sizes)
        start = 0
        while True:
            for i in range(start, got):
                take = min(left, sizes[i])
                notional += <double>(keys[i] * sign) * <double>take
                left -= take
                if left == 0:
                    break
            if left == 0 or got < FILL_PREFIX or start:
                break
            keys.clear()
            sizes.clear()
            got = ladder.walk_c(-1, INT64_MAX_C, keys, sizes)
            start = FILL_PREFIX
        if left == quantity:
            return (NAN, 0)
        return (notional / <double>(quantity - left) / self.price_scale, quantity - left)

    cpdef list walls(self, int side, Py_ssize_t k, Py_ssize_t levels=1000):
        """The ``k`` largest levels by size among the best ``levels`` of
        ``side``, as ``(price, size)``, largest first (ties: nearer the touch first)."""
        cdef _Ladder ladder = self._side(side)
        cdef vector[int64_t] keys, sizes
        cdef vector[Py_ssize_t] pick
        cdef Py_ssize_t i, j, got
        cdef int64_t sign = -self.tick_size if side == BID_C else self.tick_size
        if k < 1 or levels < 1:
            raise BookError(f"k and levels must be >= 1, got k={k}, levels={levels}")
        got = ladder.walk_c(levels, INT64_MAX_C, keys, sizes)
        # Insertion into a short sorted list: k is small (a handful of walls).
        for i in range(got):
            j = pick.size()
            if j == k and sizes[pick[j - 1]] >= sizes[i]:
                continue
            if j < k:
                pick.push_back(i)
            else:
                j -= 1
            while j > 0 and sizes[pick[j - 1]] < sizes[i]:
                pick[j] = pick[j - 1]
                j -= 1
            pick[j] = i
        return [(keys[pick[i]] * sign, sizes[pick[i]]) for i in range(<Py_ssize_t>pick.size())]

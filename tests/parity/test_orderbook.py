"""The L2 order book: behaviour on both backends, and the Cython book agreeing
with its pure-Python twin on random message streams (including window moves,
deletes of absent levels, duplicate prices in one message and bad levels)."""
import math
from array import array

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from barfinex import backend

pytestmark = pytest.mark.parity

fast = backend.load("orderbook", "fast")
py = backend.load("orderbook", "py")


def _book(mod, **kw):
    args = dict(price_decimals=2, size_decimals=3)
    args.update(kw)
    return mod.OrderBook("BTCUSDT", **args)


SNAP_BIDS = [["100.00", "1.000"], ["99.90", "2.000"], ["99.50", "5.000"], ["98.00", "9.000"]]
SNAP_ASKS = [["100.10", "3.000"], ["100.20", "1.000"], ["101.00", "9.000"]]


def _loaded(mod, **kw):
    book = _book(mod, **kw)
    assert book.apply_snapshot(SNAP_BIDS, SNAP_ASKS, 100) == 7
    return book


def test_snapshot_and_queries(impl):
    book = _loaded(impl("orderbook"))
    assert book.bbo() == (10000, 1000, 10010, 3000)
    assert book.best_bid() == (10000, 1000) and book.best_ask() == (10010, 3000)
    assert (book.bid_count, book.ask_count, book.last_update_id) == (4, 3, 100)
    assert book.top(2) == ([(10000, 1000), (9990, 2000)], [(10010, 3000), (10020, 1000)])
    assert book.top(0) == ([], [])
    mod = impl("orderbook")
    assert book.depth(mod.BID, 50) == 1000 + 2000 + 5000      # 100.00 down to 99.50
    assert book.depth(mod.BID, 49) == 1000 + 2000
    assert book.depth(mod.ASK, 0) == 3000
    assert book.imbalance(1) == pytest.approx((1000 - 3000) / 4000)
    assert book.imbalance(10) == pytest.approx((17000 - 13000) / 30000)
    # microprice leans to the thin side: ask is heavier, so it sits nearer the bid
    assert book.microprice() == pytest.approx((100.00 * 3 + 100.10 * 1) / 4)
    avg, filled = book.fill_price(mod.BUY, 3500)
    assert filled == 3500 and avg == pytest.approx((100.10 * 3 + 100.20 * 0.5) / 3.5)
    avg, filled = book.fill_price(mod.SELL, 100_000)   # more than the whole side
    assert filled == 17000 and avg == pytest.approx((100 * 1 + 99.9 * 2 + 99.5 * 5 + 98 * 9) / 17)
    assert book.walls(mod.BID, 2) == [(9800, 9000), (9950, 5000)]
    assert book.walls(mod.ASK, 5, levels=2) == [(10010, 3000), (10020, 1000)]


def test_diff_updates_deletes_and_inserts(impl):
    book = _loaded(impl("orderbook"))
    n = book.apply_diff([["100.00", "0"], ["99.95", "0.500"], ["50.00", "0"]],
                        [["100.10", "0.000"], ["100.05", "4"]], 101)
    assert n == 5
    assert book.bbo() == (9995, 500, 10005, 4000)
    assert (book.bid_count, book.ask_count, book.last_update_id) == (4, 3, 101)
    assert book.updates == 7 + 5 and book.messages == 2


def test_best_found_after_deleting_through_the_side(impl):
    book = _loaded(impl("orderbook"), window=64)
    for i, (price, _) in enumerate(SNAP_BIDS):
        book.apply_diff([[price, "0"]], [], 101 + i)
        rest = SNAP_BIDS[i + 1:]
        expect = (int(rest[0][0].replace(".", "")), int(float(rest[0][1]) * 1000)) if rest else None
        assert book.best_bid() == expect
    assert book.bid_count == 0 and book.bbo()[:2] == (0, 0)
    assert math.isnan(book.microprice())
    assert book.fill_price(impl("orderbook").SELL, 1) == (pytest.approx(float("nan"), nan_ok=True), 0)


def test_levels_far_from_the_touch_and_window_moves(impl):
    mod = impl("orderbook")
    book = _book(mod, window=64)   # 64 ticks = 0.64: most levels below live outside the window
    book.apply_snapshot([["1000.00", "1"], ["999.99", "1"], ["500.00", "2"], ["1.00", "3"]],
                        [["1000.01", "1"], ["2000.00", "2"]], 1)
    book.apply_diff([["1000.00", "0"], ["999.99", "0"]], [], 2)   # window now empty: next is far
    assert book.best_bid() == (50000, 2000)
    book.apply_diff([["1500.00", "4"]], [["1000.01", "0"]], 3)    # a new best far above the window
    assert book.bbo() == (150000, 4000, 200000, 2000)
    assert book.crossed is False
    assert book.top(10)[0] == [(150000, 4000), (50000, 2000), (100, 3000)]


def test_crossed_book_is_flagged_and_counted(impl):
    book = _loaded(impl("orderbook"))
    book.apply_diff([["100.15", "1"]], [], 101)
    assert book.crossed and book.crossed_count == 1
    book.apply_diff([["100.15", "0"]], [], 102)
    assert not book.crossed and book.crossed_count == 1


def test_tick_and_step_sizes(impl):
    mod = impl("orderbook")
    book = _book(mod, price_decimals=2, size_decimals=3, tick_size=10, step_size=5)
    book.apply_snapshot([["61800.20", "0.015"]], [["61800.30", "0.005"]], 1)
    assert book.bbo() == (6180020, 15, 6180030, 5)
    with pytest.raises(mod.BookError, match="not a multiple of tick 10"):
        book.apply_diff([["61800.25", "1"]], [], 2)
    with pytest.raises(mod.BookError, match="not a multiple of step 5"):
        book.apply_diff([["61800.20", "0.001"]], [], 2)


@pytest.mark.parametrize("bids, asks, why", [
    ([["abc", "1"]], [], "price 'abc' is not a decimal"),
    ([["100.00", "x1"]], [], "size 'x1' is not a decimal"),
    ([["100.001", "1"]], [], "at most 2 places"),
    ([["100.00", "-1"]], [], "negative size"),
    ([["-100.00", "1"]], [], "must be positive"),
    ([["0", "1"]], [], "must be positive"),
    ([["100.00"]], [], "expected a \\[price, size\\] pair"),
    ([["100.00", "1", "2"]], [], "expected a \\[price, size\\] pair"),
    ([[100.0, "1"]], [], "decimal strings"),
    ("100.00", [], "expected a list"),
    ([], None, "expected a list"),
    ([["99.00", "1"]], [["100.50", "1"], ["", "1"]], "asks\\[1\\]"),
])
def test_bad_message_leaves_the_book_unchanged(impl, bids, asks, why):
    mod = impl("orderbook")
    book = _loaded(mod)
    before = (book.top(100), book.last_update_id, book.updates, book.messages)
    with pytest.raises(mod.BookError, match=why):
        book.apply_diff(bids, asks, 101)
    with pytest.raises(mod.BookError, match=why):
        book.apply_snapshot(bids, asks, 101)
    assert (book.top(100), book.last_update_id, book.updates, book.messages) == before
    assert issubclass(mod.BookError, ValueError)


def test_array_api_matches_the_string_api(impl):
    mod = impl("orderbook")
    a, b = _loaded(mod), _book(mod)
    q = np.int64
    b.apply_snapshot_arrays(np.array([10000, 9990, 9950, 9800], q), np.array([1000, 2000, 5000, 9000], q),
                            np.array([10010, 10020, 10100], q), np.array([3000, 1000, 9000], q), 100)
    assert a.top(10) == b.top(10)
    a.apply_diff([["99.90", "0"]], [["100.05", "0.100"]], 101)
    b.apply_diff_arrays(array("q", [9990]), array("q", [0]), array("q", [10005]), array("q", [100]), 101)
    assert a.top(10) == b.top(10) and b.last_update_id == 101
    with pytest.raises(mod.BookError, match="negative size"):
        b.apply_diff_arrays(np.array([9990], q), np.array([-1], q), np.array([], q), np.array([], q), 102)
    with pytest.raises(mod.BookError, match="1 prices but 2 sizes"):
        b.apply_diff_arrays(np.array([9990], q), np.array([1, 2], q), np.array([], q), np.array([], q), 102)
    assert a.top(10) == b.top(10) and b.last_update_id == 101


INT_BIDS = [(10000, 1000), (9990, 2000), (9950, 5000), (9800, 9000)]
INT_ASKS = [(10010, 3000), (10020, 1000), (10100, 9000)]


def test_int_mantissa_levels_match_the_string_levels(impl):
    """What the Provider hands the book: levels already parsed once, by
    fixedpoint.parse_levels, as (price, size) int mantissas."""
    mod = impl("orderbook")
    a, b = _loaded(mod), _book(mod)
    assert b.apply_snapshot(INT_BIDS, INT_ASKS, 100) == 7
    assert a.top(10) == b.top(10) and b.last_update_id == 100
    parsed = impl("fixedpoint").parse_levels([["99.90", "0"], ["99.95", "0.500"]], 2, 3)
    assert parsed == [(9990, 0), (9995, 500)]
    assert a.apply_diff([["99.90", "0"], ["99.95", "0.500"]], [["100.05", "0.100"]], 101) == 3
    assert b.apply_diff(parsed, [[10005, 100]], 101) == 3          # tuples or lists of ints
    assert a.top(10) == b.top(10) and (b.updates, b.messages) == (a.updates, a.messages)
    # Each level may come either way, and a tuple of levels is a message too.
    a.apply_diff([["100.05", "0"]], [["100.10", "0"], ["100.30", "1"]], 102)
    b.apply_diff(((10005, 0),), [["100.10", "0"], (10030, 1000)], 102)
    assert a.top(10) == b.top(10) and a.bbo() == b.bbo()


def test_int_levels_checked_against_tick_and_step(impl):
    mod = impl("orderbook")
    book = _book(mod, tick_size=10, step_size=5)
    book.apply_snapshot([(6180020, 15)], [(6180030, 5)], 1)
    assert book.bbo() == (6180020, 15, 6180030, 5)
    with pytest.raises(mod.BookError, match="bids\\[0\\]: price 6180025 is not a multiple of tick 10"):
        book.apply_diff([(6180025, 5)], [], 2)
    with pytest.raises(mod.BookError, match="asks\\[1\\]: size 7 is not a multiple of step 5"):
        book.apply_diff([], [(6180030, 0), (6180040, 7)], 2)
    assert book.bbo() == (6180020, 15, 6180030, 5) and book.last_update_id == 1


class _Px(int):
    """An int subclass (an IntEnum would do the same): still a mantissa."""


@pytest.mark.parametrize("bids, asks, why", [
    ([(10000, -1)], [], "bids\\[0\\]: negative size -1"),
    ([(-10000, 1)], [], "bids\\[0\\]: price -10000 must be positive"),
    ([(0, 1)], [], "price 0 must be positive"),
    ([(2**63, 1)], [], "bids\\[0\\]: price 9223372036854775808 does not fit in int64"),
    ([(-2**63 - 1, 1)], [], "price -9223372036854775809 does not fit in int64"),
    ([(10000, 2**64)], [], "size 18446744073709551616 does not fit in int64"),
    ([(10000, 1)], [(10010, 1), (10020, -(2**80))], "asks\\[1\\]: size -1208925819614629174706176 does not"),
    ([(10000, 1.0)], [], "two decimal strings or two int mantissas"),
    ([(10000.0, 1)], [], "two decimal strings or two int mantissas"),
    ([(True, 1)], [], "two decimal strings or two int mantissas"),
    ([(10000, False)], [], "two decimal strings or two int mantissas"),
    ([(10000, "1")], [], "two decimal strings or two int mantissas"),
    ([("100.00", 1000)], [], "two decimal strings or two int mantissas"),
    ([(np.int64(10000), np.int64(1))], [], "two decimal strings or two int mantissas"),
    ([(10000,)], [], "expected a \\[price, size\\] pair"),
    ([(10000, 1, 2)], [], "expected a \\[price, size\\] pair"),
    ([10000], [], "expected a \\[price, size\\] pair"),
    ([(9990, 1), (9980, 1)], [(10010, 1), (10011, 1), (10005, -5)], "asks\\[2\\]: negative size"),
])
def test_bad_int_levels_leave_the_book_unchanged(impl, bids, asks, why):
    mod = impl("orderbook")
    book = _loaded(mod, tick_size=1)
    before = (book.top(100), book.last_update_id, book.updates, book.messages, book.crossed)
    with pytest.raises(mod.BookError, match=why):
        book.apply_diff(bids, asks, 101)
    with pytest.raises(mod.BookError, match=why):
        book.apply_snapshot(bids, asks, 101)
    assert (book.top(100), book.last_update_id, book.updates, book.messages, book.crossed) == before


def test_int_subclass_is_a_mantissa(impl):
    mod = impl("orderbook")
    book = _loaded(mod)
    book.apply_diff([(_Px(10005), _Px(700))], [], 101)
    assert book.best_bid() == (10005, 700) and type(book.best_bid()[0]) is int


@pytest.mark.parametrize("call", [
    lambda b, m: b.top(-1), lambda b, m: b.depth(m.BID, -1), lambda b, m: b.depth(7, 1),
    lambda b, m: b.imbalance(0), lambda b, m: b.fill_price(m.BUY, 0), lambda b, m: b.fill_price(3, 1),
    lambda b, m: b.walls(m.ASK, 0), lambda b, m: b.walls(m.ASK, 1, levels=0),
])
def test_query_arguments_are_checked(impl, call):
    mod = impl("orderbook")
    with pytest.raises(mod.BookError):
        call(_loaded(mod), mod)


@pytest.mark.parametrize("kw", [dict(price_decimals=19), dict(size_decimals=-1), dict(tick_size=0),
                                dict(step_size=0), dict(window=10)])
def test_constructor_is_checked(impl, kw):
    mod = impl("orderbook")
    with pytest.raises(mod.BookError):
        _book(mod, **kw)


# -- parity on random streams ------------------------------------------------

def _fmt(mantissa: int, decimals: int) -> str:
    s = str(mantissa).rjust(decimals + 1, "0")
    return f"{s[:-decimals]}.{s[-decimals:]}" if decimals else s


def _level(mid: int, side: int):
    # Mostly near the touch, sometimes far away (outside a 64-tick window),
    # a third of the time a delete (of a level that may not exist).
    near = st.integers(1, 40).map(lambda d: mid - d if side == 0 else mid + d)
    far = st.integers(41, 3000).map(lambda d: max(1, mid - d) if side == 0 else mid + d)
    price = st.one_of(near, near, near, far)
    size = st.one_of(st.just(0), st.integers(1, 50_000))
    return st.tuples(price, size)


_message = st.integers(2000, 4000).flatmap(lambda mid: st.tuples(
    st.lists(_level(mid, 0), max_size=12), st.lists(_level(mid, 1), max_size=12),
    st.booleans()))


def _state(book):
    return (book.top(10_000), book.bbo(), book.bid_count, book.ask_count, book.crossed,
            book.crossed_count, book.last_update_id, book.updates)


def _queries(book, mod):
    out = [book.imbalance(1), book.imbalance(5), book.microprice(),
           book.fill_price(mod.BUY, 30_000), book.fill_price(mod.SELL, 120_000),
           book.walls(mod.BID, 3), book.walls(mod.ASK, 3, levels=7),
           book.depth(mod.BID, 25), book.depth(mod.ASK, 300)]
    return [("nan" if isinstance(x, float) and math.isnan(x) else
             tuple("nan" if isinstance(y, float) and math.isnan(y) else y for y in x)
             if isinstance(x, tuple) else x) for x in out]


# How a message's levels reach the book: the exchange's text, int mantissas as
# fixedpoint.parse_levels returns them (tuples), or a mix of forms per level.
_FORMS = st.sampled_from(["text", "ints", "int-lists", "mixed"])
# One bad level in an int message: the whole message must be refused, and the
# twins must refuse it with the same words.
_INT_CORRUPTIONS = st.sampled_from(["negative", "zero-price", "off-tick", "float", "bool",
                                    "price-overflow", "size-overflow", "mixed-types"])


def _int_levels(pairs, tick, form, corrupt):
    out = []
    for j, (p, s) in enumerate(pairs):
        if form == "text" or (form == "mixed" and j % 2):
            out.append([_fmt(p * tick, 2), _fmt(s, 3)])
        elif form == "int-lists":
            out.append([p * tick, s])
        else:
            out.append((p * tick, s))
    if corrupt and out:
        p, s = out[-1]
        p = p if isinstance(p, int) else int(p.replace(".", ""))
        s = s if isinstance(s, int) else int(s.replace(".", ""))
        out[-1] = {"negative": (p, -s - 1), "zero-price": (0, s), "off-tick": (p + 1, s),
                   "float": (p, float(s)), "bool": (p, True), "price-overflow": (p + 2**63, s),
                   "size-overflow": (p, -2**63 - 1 - s), "mixed-types": (p, str(s))}[corrupt]
    return out


@settings(max_examples=60, deadline=None)
@given(snapshot=_message, messages=st.lists(st.tuples(_message, _FORMS, _INT_CORRUPTIONS), max_size=30),
       tick=st.sampled_from([1, 10]), snapshot_form=_FORMS)
def test_twins_agree_on_int_levels(snapshot, messages, tick, snapshot_form):
    """Both books fed levels as ints (or mixed) stay equal to each other and to
    a compiled book fed the same messages as text; bad levels refused alike."""
    books = [fast.OrderBook("X", 2, 3, tick_size=tick, window=64), py.OrderBook("X", 2, 3, tick_size=tick)]
    mods = [fast, py]
    text = fast.OrderBook("X", 2, 3, tick_size=tick, window=64)
    text.apply_snapshot(_int_levels(snapshot[0], tick, "text", None),
                        _int_levels(snapshot[1], tick, "text", None), 1)
    for book in books:
        book.apply_snapshot(_int_levels(snapshot[0], tick, snapshot_form, None),
                            _int_levels(snapshot[1], tick, snapshot_form, None), 1)
        assert _state(book) == _state(text)
    for uid, ((bids, asks, corrupt), form, how) in enumerate(messages, 2):
        corrupt = how if corrupt and uid % 3 == 0 and (bids or asks) else None
        results = []
        for book, mod in zip(books, mods):
            try:
                results.append(book.apply_diff(_int_levels(bids, tick, form, corrupt),
                                               _int_levels(asks, tick, form, corrupt), uid))
            except mod.BookError as exc:
                results.append(("refused", str(exc)))
        assert results[0] == results[1]
        if corrupt is not None and (how, tick) != ("off-tick", 1):   # p + 1 is on a tick of 1
            assert isinstance(results[0], tuple), results[0]          # refused, book unchanged
        else:
            ref_form = "text" if corrupt is None else "ints"
            assert results[0] == text.apply_diff(_int_levels(bids, tick, ref_form, corrupt),
                                                 _int_levels(asks, tick, ref_form, corrupt), uid)
        assert _state(books[0]) == _state(books[1]) == _state(text)
        assert _queries(books[0], fast) == _queries(books[1], py) == _queries(text, fast)


@settings(max_examples=60, deadline=None)
@given(snapshot=_message, messages=st.lists(_message, max_size=30), tick=st.sampled_from([1, 10]))
def test_twins_agree_on_random_streams(snapshot, messages, tick):
    books = [fast.OrderBook("X", 2, 3, tick_size=tick, window=64), py.OrderBook("X", 2, 3, tick_size=tick)]
    mods = [fast, py]

    def levels(pairs, corrupt):
        out = [[_fmt(p * tick, 2), _fmt(s, 3)] for p, s in pairs]
        if corrupt and out:
            out[-1][1] = "-" + out[-1][1]       # a negative size: the whole message is refused
        return out

    for book in books:
        book.apply_snapshot(levels(snapshot[0], False), levels(snapshot[1], False), 1)
    assert _state(books[0]) == _state(books[1])
    for uid, (bids, asks, corrupt) in enumerate(messages, 2):
        corrupt = corrupt and uid % 3 == 0
        results = []
        for book, mod in zip(books, mods):
            try:
                results.append(book.apply_diff(levels(bids, corrupt), levels(asks, corrupt), uid))
            except mod.BookError as exc:
                results.append(("refused", str(exc)))
        assert results[0] == results[1]
        assert _state(books[0]) == _state(books[1])
        assert _queries(books[0], fast) == _queries(books[1], py)

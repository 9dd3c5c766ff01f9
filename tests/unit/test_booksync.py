"""Binance book sync: buffering, bridging, continuity, gaps, resync, bad input.
Every test runs against both book backends; a property test checks the two
agree on random streams with gaps, duplicates and out-of-order messages."""
import pytest
from hypothesis import given, settings, strategies as st

from barfinex import backend
from barfinex.book import REJECTED, SNAPSHOT_NEEDED, STATUS_CHANGED, BookSync
from barfinex.model.enums import BookStatus, MarketType

pytestmark = pytest.mark.unit

SNAP = {"lastUpdateId": 100, "bids": [["100.00", "1.000"], ["99.90", "2.000"]],
        "asks": [["100.10", "3.000"], ["100.20", "1.000"]]}


def _sync(impl, market=MarketType.SPOT, **kw):
    book = impl("orderbook").OrderBook("BTCUSDT", 2, 3)
    events = []
    sync = BookSync(book, market, on_event=events.append, **kw)
    return sync, book, events


def spot(first, last, bids=(), asks=(), symbol="BTCUSDT"):
    return {"e": "depthUpdate", "s": symbol, "U": first, "u": last,
            "b": [list(b) for b in bids], "a": [list(a) for a in asks]}


def fut(first, last, prev, bids=(), asks=()):
    return dict(spot(first, last, bids, asks), pu=prev)


def kinds(events):
    return [e.kind for e in events]


def test_spot_buffer_snapshot_bridge_then_continuity(impl):
    sync, book, events = _sync(impl)
    returned = sync.start()
    assert kinds(returned) == [SNAPSHOT_NEEDED]
    assert sync.status == BookStatus.SYNCING
    assert sync.on_depth(spot(90, 95, bids=[("100.00", "9")])) == []     # contained in the snapshot
    assert sync.on_depth(spot(96, 101, bids=[("100.00", "5")])) == []    # bridges 100 + 1
    sync.on_depth(spot(102, 104, asks=[("100.10", "0")]))
    assert not sync.is_valid and book.bid_count == 0
    out = sync.on_snapshot(SNAP)
    returned += out
    assert [(e.kind, e.previous, e.status) for e in out] == [
        (STATUS_CHANGED, BookStatus.SYNCING, BookStatus.VALID)]
    assert sync.is_valid and book.last_update_id == 104
    assert book.bbo() == (10000, 5000, 10020, 1000)
    assert (sync.stats.diffs_applied, sync.stats.stale_dropped, sync.stats.buffered) == (2, 1, 3)
    sync.on_depth(spot(105, 105, bids=[("99.95", "1")]))
    assert book.last_update_id == 105 and book.best_bid() == (10000, 5000)
    assert events == returned           # the callback saw exactly what the calls returned
    assert kinds(events) == [SNAPSHOT_NEEDED, STATUS_CHANGED]


def test_spot_gap_resyncs_that_symbol_and_recovers(impl):
    sync, book, events = _sync(impl)
    sync.on_snapshot(SNAP)
    sync.on_depth(spot(101, 103))
    out = sync.on_depth(spot(105, 107, bids=[("99.00", "1")]))          # 104 missing
    assert [(e.kind, e.status) for e in out] == [(STATUS_CHANGED, BookStatus.RESYNCING),
                                                 (SNAPSHOT_NEEDED, BookStatus.RESYNCING)]
    assert "gap" in out[0].reason and sync.stats.gaps == 1 and sync.stats.resyncs == 1
    assert book.last_update_id == 103                                     # nothing past the gap applied
    sync.on_depth(spot(108, 110, asks=[("100.30", "2")]))
    out = sync.on_snapshot(dict(SNAP, lastUpdateId=106))                  # bridges 105..107
    assert [(e.kind, e.previous, e.status) for e in out] == [
        (STATUS_CHANGED, BookStatus.RESYNCING, BookStatus.VALID)]
    assert book.last_update_id == 110 and book.best_bid() == (10000, 1000)
    assert book.top(5)[0][-1] == (9900, 1000) and book.top(5)[1][-1] == (10030, 2000)


def test_spot_duplicate_and_out_of_order_diffs_are_dropped(impl):
    sync, book, _ = _sync(impl)
    sync.on_snapshot(SNAP)
    sync.on_depth(spot(101, 103, bids=[("100.00", "7")]))
    assert sync.on_depth(spot(101, 103, bids=[("100.00", "1")])) == []     # duplicate
    assert sync.on_depth(spot(98, 100, bids=[("100.00", "1")])) == []      # older than the book
    assert sync.is_valid and book.best_bid() == (10000, 7000) and sync.stats.stale_dropped == 2


def test_snapshot_without_bridge_is_stale_and_refetched(impl):
    sync, book, _ = _sync(impl)
    sync.on_depth(spot(150, 160))
    out = sync.on_snapshot(SNAP)                      # 100 + 1 < 150: updates 101..149 lost
    assert kinds(out) == [REJECTED, SNAPSHOT_NEEDED] and "stale snapshot" in out[0].reason
    assert sync.stats.stale_snapshots == 1 and sync.status == BookStatus.SYNCING
    assert book.bid_count == 0
    sync.on_snapshot(dict(SNAP, lastUpdateId=155))
    assert sync.is_valid and book.last_update_id == 160


def test_first_live_diff_must_bridge_an_early_snapshot(impl):
    sync, book, _ = _sync(impl)
    sync.on_snapshot(SNAP)                            # nothing buffered: VALID at 100
    assert sync.is_valid
    assert sync.on_depth(spot(95, 100)) == []        # contained: dropped
    out = sync.on_depth(spot(102, 104))               # does not bridge 101
    assert kinds(out) == [STATUS_CHANGED, SNAPSHOT_NEEDED] and "bridging" in out[0].reason


def test_futures_rules_use_pu(impl):
    sync, book, events = _sync(impl, MarketType.USDM)
    sync.on_depth(fut(80, 99, 79))                    # u < lastUpdateId: dropped
    sync.on_depth(fut(100, 120, 99, bids=[("100.00", "4")]))   # U <= 100 <= u: bridge
    sync.on_depth(fut(121, 130, 120))
    sync.on_snapshot(SNAP)
    assert sync.is_valid and book.last_update_id == 130 and book.best_bid() == (10000, 4000)
    sync.on_depth(fut(131, 140, 130))
    assert book.last_update_id == 140
    # futures ids are not contiguous: U need not be prev + 1, pu must equal prev u
    sync.on_depth(fut(150, 160, 140))
    assert book.last_update_id == 160
    out = sync.on_depth(fut(170, 180, 165))
    assert sync.status == BookStatus.RESYNCING and kinds(out) == [STATUS_CHANGED, SNAPSHOT_NEEDED]
    assert "pu=165" in out[0].reason


def test_futures_snapshot_bridge_uses_u_not_below_last_update_id(impl):
    sync, book, _ = _sync(impl, MarketType.COINM)
    sync.on_depth(fut(90, 100, 89, asks=[("100.10", "8")]))    # u == lastUpdateId: kept, bridges
    sync.on_snapshot(SNAP)
    assert sync.is_valid and book.best_ask() == (10010, 8000) and sync.stats.diffs_applied == 1


def test_crossed_book_forces_resync(impl):
    sync, book, _ = _sync(impl)
    sync.on_snapshot(SNAP)
    out = sync.on_depth(spot(101, 101, bids=[("100.50", "1")]))
    assert sync.status == BookStatus.RESYNCING and sync.stats.crossed == 1
    assert "crossed" in out[0].reason


@pytest.mark.parametrize("msg, why", [
    (spot(101, 101, symbol="ETHUSDT"), "for 'ETHUSDT'"),
    ({"s": "BTCUSDT", "U": 101, "b": []}, "truncated"),
    ({"s": "BTCUSDT", "U": "101", "u": 101, "b": [], "a": []}, "truncated"),
    (spot(105, 101), "U=105 > u=101"),
    (["not", "a", "dict"], "not an object"),
])
def test_malformed_or_foreign_messages_are_counted_and_change_nothing(impl, msg, why):
    sync, book, _ = _sync(impl)
    sync.on_snapshot(SNAP)
    before = (book.top(10), book.last_update_id, sync.status)
    out = sync.on_depth(msg)
    assert kinds(out) == [REJECTED] and why in out[0].reason and sync.stats.rejected == 1
    assert (book.top(10), book.last_update_id, sync.status) == before
    assert sync.last_error == out[0].reason


def test_bad_levels_in_sequence_leave_the_book_and_resync(impl):
    sync, book, _ = _sync(impl)
    sync.on_snapshot(SNAP)
    before = book.top(10)
    out = sync.on_depth(spot(101, 101, bids=[("100.00", "2")], asks=[("1O0.10", "1")]))
    assert kinds(out) == [REJECTED, STATUS_CHANGED, SNAPSHOT_NEEDED]
    assert "not a decimal" in out[0].reason
    assert book.top(10) == before and book.last_update_id == 100


def test_parsed_int_levels_sync_like_the_exchange_strings(impl):
    """The Provider's path: levels parsed once by the adapter (parse_levels,
    as DepthDiff.sync_input() hands them over) give the same book as the raw
    strings, and a bad int level is refused and resynced the same way."""
    parse = impl("fixedpoint").parse_levels
    (text, text_book, _), (ints, int_book, _) = _sync(impl), _sync(impl)

    def parsed(msg):
        return dict(msg, b=parse(msg["b"], 2, 3), a=parse(msg["a"], 2, 3))

    text.on_snapshot(SNAP)
    ints.on_snapshot(dict(SNAP, bids=parse(SNAP["bids"], 2, 3), asks=parse(SNAP["asks"], 2, 3)))
    for msg in (spot(101, 102, bids=[("100.00", "0"), ("99.95", "4.5")], asks=[("100.05", "0.001")]),
                spot(103, 103, asks=[("100.05", "0"), ("100.10", "0")])):
        assert text.on_depth(msg) == ints.on_depth(parsed(msg)) == []
        assert int_book.top(10) == text_book.top(10) and int_book.last_update_id == text_book.last_update_id
    assert ints.stats == text.stats and ints.stats.levels_applied == 5
    out = ints.on_depth(spot(104, 104, bids=[(9990, 1000), (9980, -1)]))
    assert kinds(out) == [REJECTED, STATUS_CHANGED, SNAPSHOT_NEEDED]
    assert "bids[1]: negative size -1" in out[0].reason
    assert int_book.top(10) == text_book.top(10) and int_book.last_update_id == 103


def test_stale_malformed_and_unrequested_snapshots(impl):
    sync, book, _ = _sync(impl)
    out = sync.on_snapshot({"bids": [], "asks": []})
    assert kinds(out) == [REJECTED, SNAPSHOT_NEEDED]
    out = sync.on_snapshot(dict(SNAP, bids=[["100.00", "-1"]]))
    assert kinds(out) == [REJECTED, SNAPSHOT_NEEDED] and "negative size" in out[0].reason
    sync.on_snapshot(SNAP)
    sync.on_depth(spot(101, 102))
    out = sync.on_snapshot(dict(SNAP, lastUpdateId=50))          # older than the live book
    assert kinds(out) == [REJECTED] and book.last_update_id == 102 and sync.is_valid


def test_buffer_is_bounded(impl):
    sync, _, _ = _sync(impl, max_buffer=3)
    for i in range(5):
        sync.on_depth(spot(100 + i * 10, 109 + i * 10))
    assert sync.stats.buffer_overflow == 2
    out = sync.on_snapshot(SNAP)                     # the diffs bridging 100 were evicted
    assert kinds(out) == [REJECTED, SNAPSHOT_NEEDED]


# -- twins agree through the sync -------------------------------------------

_step = st.one_of(
    st.tuples(st.just("next"), st.integers(1, 4)),          # contiguous
    st.tuples(st.just("gap"), st.integers(2, 5)),           # skip ids
    st.tuples(st.just("dup"), st.just(0)),                  # resend the previous
    st.tuples(st.just("old"), st.integers(1, 30)),          # an old message out of order
    st.tuples(st.just("snap"), st.integers(-5, 5)),         # a snapshot near the current id
)


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(st.tuples(_step, st.integers(0, 40), st.integers(0, 3)), max_size=40),
       futures=st.booleans(), parsed=st.booleans())
def test_twins_agree_through_the_sync(steps, futures, parsed):
    """Both backends, fed the exchange's strings or (``parsed``) the int
    levels parse_levels makes of them, and a compiled book fed the strings."""
    market = MarketType.USDM if futures else MarketType.SPOT
    syncs = [BookSync(backend.load("orderbook", b).OrderBook("BTCUSDT", 2, 3, window=64), market)
             for b in ("fast", "py", "fast")]
    parse = backend.load("fixedpoint", "fast").parse_levels
    last, prev_first = 100, 100
    for s in syncs:
        s.on_snapshot(SNAP)
    for (kind, n), offset, size in steps:
        bids = [[f"{99 - offset * 0.1:.2f}", str(size)], [f"{90 - offset:.2f}", "1"]]
        asks = [[f"{101 + offset * 0.1:.2f}", str(size)]]
        if kind == "snap":
            msgs = None
            snap = dict(SNAP, lastUpdateId=max(1, last + n))
        elif kind == "dup":
            first, u = prev_first, last
        elif kind == "old":
            first, u = max(1, last - n - 2), max(1, last - n)
        else:
            first = last + (1 if kind == "next" else n)
            u = first + (n if kind == "next" else 1)
        results = []
        for i, s in enumerate(syncs):
            as_ints = parsed and i < 2       # the third book always gets the strings
            if kind == "snap":
                ev = s.on_snapshot(dict(snap, bids=parse(snap["bids"], 2, 3), asks=parse(snap["asks"], 2, 3))
                                   if as_ints else snap)
            else:
                prev = last if kind == "next" else last - 1
                b, a = (parse(bids, 2, 3), parse(asks, 2, 3)) if as_ints else (bids, asks)
                ev = s.on_depth(fut(first, u, prev, b, a) if futures else spot(first, u, b, a))
            results.append(([(e.kind, e.status, e.reason, e.update_id) for e in ev], s.status,
                            s.stats, s.book.top(50), s.book.last_update_id))
        assert results[0] == results[1] == results[2]
        if kind in ("next", "gap"):
            prev_first, last = first, u

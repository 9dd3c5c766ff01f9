"""L2 update cost per price level through the whole-message API, reading the
best bid/ask after every message (as a Provider does), beside its peers doing
the same work in the same run:

* ``barfinex-ints``   the Cython book, ``(price, size)`` int mantissas as
  ``fixedpoint.parse_levels`` returns them: the door the Provider uses (the
  adapter parses each message once, for its BookDelta; the book applies those ints)
* ``barfinex-fast``   the Cython book, raw Binance ``[price_str, size_str]`` lists
  (the book parses the text: a raw capture, a REST snapshot)
* ``barfinex-arrays`` the Cython book, int64 arrays (parsing done upstream)
* ``order-book``      the C extension (SortedDict in C, float keys)
* ``dict-bisect``     a dict + sorted price list kept with bisect
* ``sortedcontainers`` SortedDict
* ``nautilus``        NautilusTrader 1.221.0's Rust book from Python:
  ``OrderBook(BookType.L2_MBP).apply_deltas`` once per depth message, then
  ``best_bid_price/size`` and ``best_ask_price/size``. Its ``OrderBookDeltas``
  are built before timing from the same int mantissas ``barfinex-ints`` gets
  (``OrderBookDelta.from_raw``: UPDATE, or DELETE for size 0; F_LAST on a
  message's last level; sequence = u), as in
  reference/peer-measurements/nautilustrader.md. Optional: it is in the
  ``bench`` extra, not ``test`` (it pins pandas<3 and uvloop==0.22.1), and the
  row skips when it is not installed.

Streams: the recorded Binance USD-M BTCUSDT depth stream (after its REST
snapshot) and a synthetic 5,000-level-a-side stream (seeded, updates
concentrated near the touch). Every round starts from a freshly built book
(``pedantic`` setup, not timed); inputs are never mutated. ns/level =
mean round time / levels in the round (``extra_info["levels"]``).

Full run:   python -m pytest bench/bench_orderbook.py --benchmark-enable --benchmark-only
CI (once):  python -m pytest bench/bench_orderbook.py --benchmark-disable
(with the NautilusTrader row: pip install -e '.[test,bench]' first)
"""
from __future__ import annotations

import gzip
import json
import random
from bisect import bisect_left, insort
from functools import lru_cache

import numpy as np
import order_book
import pytest
from sortedcontainers import SortedDict

from barfinex import backend
from barfinex.datasets import USDM_BTCUSDT

fast = backend.load("orderbook", "fast")

# Enough messages for a stable figure, few enough that the pure-Python peers
# stay within a few hundred ms when CI runs each bench once.
RECORDED_MESSAGES = 1500
SYNTH_LEVELS = 5000
SYNTH_MESSAGES = 1500
QUICK_NT_MESSAGES = 200                  # CI: the Nautilus row checks its touch on a prefix
PRICE_DEC, SIZE_DEC, TICK = 2, 3, 10     # BTCUSDT USD-M: 0.10 tick, 0.001 step


@lru_cache(maxsize=None)
def recorded():
    """(snapshot, [(bids, asks, u)]) from the capture: the diffs after the snapshot."""
    snapshot, diffs = None, []
    with gzip.open(USDM_BTCUSDT[0], "rt") as f:
        for line in f:
            body = line.partition(" ")[2]
            if snapshot is None:
                if body.startswith('{"lastUpdateId"'):
                    snapshot = json.loads(body)
                continue
            if "@depth" in body[:40]:
                d = json.loads(body)["data"]
                if d["u"] >= snapshot["lastUpdateId"]:
                    diffs.append((d["b"], d["a"], d["u"]))
                    if len(diffs) == RECORDED_MESSAGES:
                        break
    return snapshot, tuple(diffs)


@lru_cache(maxsize=None)
def synthetic():
    """5,000 levels a side around 60,000.00, then messages whose levels sit a
    geometric distance from the touch (most within a few ticks), a quarter of
    them deletes, the touch drifting by a few ticks."""
    rng = random.Random(20240808)
    mid = 600_000                                   # in 0.10 ticks
    fmt_p = lambda t: f"{t // 10}.{t % 10}0"        # noqa: E731  ticks -> "60000.10"
    fmt_q = lambda q: f"{q // 1000}.{q % 1000:03d}"  # noqa: E731
    snapshot = {"lastUpdateId": 1,
                "bids": [[fmt_p(mid - 1 - i), fmt_q(rng.randint(1, 5000))] for i in range(SYNTH_LEVELS)],
                "asks": [[fmt_p(mid + 1 + i), fmt_q(rng.randint(1, 5000))] for i in range(SYNTH_LEVELS)]}
    diffs = []
    for u in range(2, SYNTH_MESSAGES + 2):
        step = rng.choice((-1, 0, 0, 1))
        mid += step
        sides = ([], [])
        # The touch moving consumes the level it moves onto, as trades do: the book never crosses.
        if step > 0:
            sides[1].append([fmt_p(mid), fmt_q(0)])
        elif step < 0:
            sides[0].append([fmt_p(mid), fmt_q(0)])
        for _ in range(rng.randint(5, 40)):
            side = rng.getrandbits(1)
            dist = 1 + min(int(rng.expovariate(0.05)), SYNTH_LEVELS - 1)
            tick = mid - dist if side == 0 else mid + dist
            size = 0 if rng.random() < 0.25 else rng.randint(1, 5000)
            sides[side].append([fmt_p(tick), fmt_q(size)])
        diffs.append((sides[0], sides[1], u))
    return snapshot, tuple(diffs)


STREAMS = {"recorded-usdm": recorded, "synthetic-5000": synthetic}


def _levels(diffs) -> int:
    return sum(len(b) + len(a) for b, a, _ in diffs)


# -- barfinex --------------------------------------------------------------

def _fast_book(snapshot):
    book = fast.OrderBook("BTCUSDT", PRICE_DEC, SIZE_DEC, tick_size=TICK)
    book.apply_snapshot(snapshot["bids"], snapshot["asks"], snapshot["lastUpdateId"])
    return book


def run_fast(book, diffs):
    apply, bbo = book.apply_diff, book.bbo
    for bids, asks, u in diffs:
        apply(bids, asks, u)
        top = bbo()
    return top


@lru_cache(maxsize=None)
def _as_arrays(stream):
    _, diffs = STREAMS[stream]()
    p = backend.load("fixedpoint", "fast").parse_fixed

    def cols(levels):
        return (np.array([p(x, PRICE_DEC) for x, _ in levels], np.int64),
                np.array([p(q, SIZE_DEC) for _, q in levels], np.int64))
    return tuple((*cols(b), *cols(a), u) for b, a, u in diffs)


@lru_cache(maxsize=None)
def _as_ints(stream):
    """Each message's levels as the Binance adapter hands them on: parse_levels' int tuples."""
    _, diffs = STREAMS[stream]()
    parse = backend.load("fixedpoint", "fast").parse_levels
    return tuple((parse(b, PRICE_DEC, SIZE_DEC), parse(a, PRICE_DEC, SIZE_DEC), u) for b, a, u in diffs)


def run_arrays(book, diffs):
    apply, bbo = book.apply_diff_arrays, book.bbo
    for bp, bq, ap, aq, u in diffs:
        apply(bp, bq, ap, aq, u)
        top = bbo()
    return top


# -- peers ------------------------------------------------------------------

def _ob_book(snapshot):
    ob = order_book.OrderBook()
    for p, q in snapshot["bids"]:
        ob.bids[float(p)] = float(q)
    for p, q in snapshot["asks"]:
        ob.asks[float(p)] = float(q)
    return ob


def run_order_book(ob, diffs):
    bids, asks = ob.bids, ob.asks
    for b, a, _ in diffs:
        for side, levels in ((bids, b), (asks, a)):
            for p, q in levels:
                size = float(q)
                if size:
                    side[float(p)] = size
                else:
                    try:
                        del side[float(p)]
                    except KeyError:
                        pass
        top = (bids.index(0), asks.index(0))
    return top


class DictBisectBook:
    """The textbook pure-Python book: dict of sizes + sorted price list."""

    def __init__(self, snapshot):
        self.sizes = ({}, {})
        self.prices = ([], [])
        for side, key in ((0, "bids"), (1, "asks")):
            for p, q in snapshot[key]:
                self.set(side, float(p), float(q))

    def set(self, side, price, size):
        sizes, prices = self.sizes[side], self.prices[side]
        if size:
            if price not in sizes:
                insort(prices, price)
            sizes[price] = size
        elif sizes.pop(price, None) is not None:
            del prices[bisect_left(prices, price)]

    def best(self):
        b, a = self.prices
        return ((b[-1], self.sizes[0][b[-1]]) if b else None,
                (a[0], self.sizes[1][a[0]]) if a else None)


def run_dict_bisect(book, diffs):
    for b, a, _ in diffs:
        for p, q in b:
            book.set(0, float(p), float(q))
        for p, q in a:
            book.set(1, float(p), float(q))
        top = book.best()
    return top


def _sorted_book(snapshot):
    return (SortedDict({float(p): float(q) for p, q in snapshot["bids"]}),
            SortedDict({float(p): float(q) for p, q in snapshot["asks"]}))


def run_sorted(book, diffs):
    bids, asks = book
    for b, a, _ in diffs:
        for side, levels in ((bids, b), (asks, a)):
            for p, q in levels:
                size = float(q)
                if size:
                    side[float(p)] = size
                else:
                    side.pop(float(p), None)
        top = (bids.peekitem(-1), asks.peekitem(0))
    return top


# -- NautilusTrader (optional peer: the `bench` extra) ------------------------

NT_REASON = ("NautilusTrader peer not installed: pip install -e '.[test,bench]' "
             "(nautilus_trader==1.221.0)")


@lru_cache(maxsize=None)
def _nt_api():
    pytest.importorskip("nautilus_trader", reason=NT_REASON)
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas
    from nautilus_trader.model.enums import BookAction, BookType, OrderSide, RecordFlag
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.model.objects import FIXED_PRECISION
    return {"OrderBook": OrderBook, "Delta": OrderBookDelta, "Deltas": OrderBookDeltas,
            "BookAction": BookAction, "BookType": BookType, "OrderSide": OrderSide,
            "F_LAST": int(RecordFlag.F_LAST), "F_SNAPSHOT": int(RecordFlag.F_SNAPSHOT),
            "iid": InstrumentId.from_str("BTCUSDT-PERP.BINANCE"),
            # Nautilus prices/sizes are fixed point at FIXED_PRECISION (16 here) places
            "p_scale": 10 ** (FIXED_PRECISION - PRICE_DEC),
            "q_scale": 10 ** (FIXED_PRECISION - SIZE_DEC)}


@lru_cache(maxsize=None)
def _nt_snapshot(stream):
    """CLEAR + one ADD per level, F_SNAPSHOT: applied untimed to each round's fresh book."""
    nt = _nt_api()
    snapshot, _ = STREAMS[stream]()
    iid, u, ps, qs = nt["iid"], snapshot["lastUpdateId"], nt["p_scale"], nt["q_scale"]
    parse = backend.load("fixedpoint", "fast").parse_levels
    deltas = [nt["Delta"].clear(iid, u, 0, 0)]
    for side, key in ((nt["OrderSide"].BUY, "bids"), (nt["OrderSide"].SELL, "asks")):
        deltas += [nt["Delta"].from_raw(iid, nt["BookAction"].ADD, side, p * ps, PRICE_DEC,
                                        q * qs, SIZE_DEC, 0, nt["F_SNAPSHOT"], u, 0, 0)
                   for p, q in parse(snapshot[key], PRICE_DEC, SIZE_DEC)]
    return nt["Deltas"](iid, deltas)


@lru_cache(maxsize=None)
def _as_nautilus(stream, messages):
    """The first ``messages`` diffs as one OrderBookDeltas each, from the same
    int mantissas as barfinex-ints."""
    nt = _nt_api()
    iid, ps, qs, from_raw = nt["iid"], nt["p_scale"], nt["q_scale"], nt["Delta"].from_raw
    buy, sell = nt["OrderSide"].BUY, nt["OrderSide"].SELL
    update, delete = nt["BookAction"].UPDATE, nt["BookAction"].DELETE
    out = []
    for bids, asks, u in _as_ints(stream)[:messages]:
        levels = [(buy, p, q) for p, q in bids] + [(sell, p, q) for p, q in asks]
        last = len(levels) - 1
        out.append(nt["Deltas"](iid, [
            from_raw(iid, update if q else delete, side, p * ps, PRICE_DEC, q * qs, SIZE_DEC,
                     0, nt["F_LAST"] if i == last else 0, u, 0, 0)
            for i, (side, p, q) in enumerate(levels)]))
    return tuple(out)


def run_nautilus(book, messages):
    apply = book.apply_deltas
    bid_px, bid_sz = book.best_bid_price, book.best_bid_size
    ask_px, ask_sz = book.best_ask_price, book.best_ask_size
    for deltas in messages:
        apply(deltas)
        top = (bid_px(), bid_sz(), ask_px(), ask_sz())
    return top


IMPLS = {
    "barfinex-ints": (_fast_book, run_fast),       # same call, int levels: see _as_ints
    "barfinex-fast": (_fast_book, run_fast),
    "barfinex-arrays": (_fast_book, run_arrays),
    "order-book": (_ob_book, run_order_book),
    "dict-bisect": (DictBisectBook, run_dict_bisect),
    "sortedcontainers": (_sorted_book, run_sorted),
    "nautilus": (None, run_nautilus),               # book and input built in the test
}


@pytest.mark.parametrize("impl_name", list(IMPLS))
@pytest.mark.parametrize("stream", list(STREAMS))
def test_l2_update_with_bbo(benchmark, stream, impl_name, quick):
    snapshot, diffs = STREAMS[stream]()
    build, run = IMPLS[impl_name]
    if impl_name == "nautilus":
        # Building ~140k delta objects is untimed but not free: CI checks a prefix.
        diffs = diffs[:QUICK_NT_MESSAGES] if quick else diffs
        nt, snap, work = _nt_api(), _nt_snapshot(stream), _as_nautilus(stream, len(diffs))

        def build(_snapshot):
            book = nt["OrderBook"](nt["iid"], nt["BookType"].L2_MBP)
            book.apply_deltas(snap)
            return book
    else:
        work = {"barfinex-arrays": _as_arrays, "barfinex-ints": _as_ints}.get(impl_name, lambda _: diffs)(stream)
    benchmark.group = f"orderbook {stream}"
    benchmark.extra_info["levels"] = _levels(diffs)
    benchmark.extra_info["messages"] = len(diffs)

    def setup():
        return (build(snapshot), work), {}

    top = benchmark.pedantic(run, setup=setup, rounds=20, iterations=1, warmup_rounds=1)
    # Every implementation must end on the same touch, or the race is not fair.
    reference = run_fast(_fast_book(snapshot), diffs)
    if impl_name == "nautilus":
        nt = _nt_api()
        assert (top[0].raw, top[1].raw, top[2].raw, top[3].raw) == (
            reference[0] * nt["p_scale"], reference[1] * nt["q_scale"],
            reference[2] * nt["p_scale"], reference[3] * nt["q_scale"])
        return
    bid, ask = (top[0], top[2]) if impl_name.startswith("barfinex") else (top[0][0], top[1][0])
    scale = 10 ** PRICE_DEC
    assert (round(bid * scale) if isinstance(bid, float) else bid) == reference[0]
    assert (round(ask * scale) if isinstance(ask, float) else ask) == reference[2]

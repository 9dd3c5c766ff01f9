"""The Binance adapters on real recorded Binance messages (spot and USD-M BTCUSDT):
every trade, bookTicker and depth frame decodes and normalises with no error,
to exactly the exchange's decimals; and the normalised depth diffs, fed to the
book sync, rebuild a book whose top equals every matching recorded bookTicker."""
from __future__ import annotations

import gzip
from decimal import Decimal

import pytest

from barfinex import backend
from barfinex.book.sync import BookSync
from barfinex.connectors import DepthDiff
from barfinex.connectors.binance import BinanceAdapters
from barfinex.datasets import SPOT_BTCUSDT, USDM_BTCUSDT
from barfinex.model.enums import MarketType, Side
from barfinex.model.messages import TopOfBook, Trade

pytestmark = pytest.mark.playback

# Precisions that hold every recorded value exactly: spot prices in cents, spot
# sizes to the 8 decimals Binance writes (the book carries sizes finer than
# the lot step: e.g. 25.426189); USD-M tick 0.10 and step 0.001.
CASES = [
    pytest.param(SPOT_BTCUSDT, MarketType.SPOT, (2, 8), 1072, id="spot"),
    pytest.param(USDM_BTCUSDT, MarketType.USDM, (1, 3), 629, id="usdm"),
]


def _frames(files):
    """(stream, raw frame bytes) of every combined-stream line, and the REST snapshots."""
    for path in files:
        with gzip.open(path, "rb") as f:
            for line in f:
                _, _, body = line.rstrip(b"\n").partition(b" ")
                if body.startswith(b'{"stream":"'):
                    yield body[11:body.index(b'"', 11)].decode(), body
                else:
                    yield "", body


def _fixed(text: str, prec: int) -> int:
    value = Decimal(text) * 10 ** prec
    assert value == value.to_integral_value(), f"{text} has digits finer than 1e-{prec}"
    return int(value)


@pytest.mark.parametrize("files, market, prec, compared", CASES)
def test_every_recorded_frame_normalises_exactly(files, market, prec, compared):
    import json
    adapters = BinanceAdapters(market, {"BTCUSDT": prec})
    pp, qp = prec
    counts = {"trade": 0, "bookTicker": 0, "depth": 0}
    for stream, raw in _frames(files):
        if not stream:
            continue
        kind = stream.split("@")[1]
        msg = adapters.normalise(stream, raw)
        counts[kind] += 1
        if counts[kind] % 7:          # check the values of one frame in seven against Decimal
            continue
        data = json.loads(raw)["data"]
        if kind == "trade":
            assert isinstance(msg, Trade)
            assert (msg.price, msg.qty, msg.trade_id) == (_fixed(data["p"], pp), _fixed(data["q"], qp), data["t"])
            assert msg.taker_side == (Side.SELL if data["m"] else Side.BUY)
            assert msg.exch_ts_ns == data["T"] * 1_000_000 and (msg.price_prec, msg.qty_prec) == prec
        elif kind == "bookTicker":
            assert isinstance(msg, TopOfBook)
            assert (msg.update_id, msg.bid_price, msg.bid_qty, msg.ask_price, msg.ask_qty) == (
                data["u"], _fixed(data["b"], pp), _fixed(data["B"], qp), _fixed(data["a"], pp),
                _fixed(data["A"], qp))
        else:
            assert isinstance(msg, DepthDiff)
            d = msg.delta
            assert (d.first_update_id, d.last_update_id, d.symbol) == (data["U"], data["u"], "BTCUSDT")
            assert msg.prev_update_id == data.get("pu", -1)
            assert d.bids == [(_fixed(p, pp), _fixed(q, qp)) for p, q in data["b"]]
            assert d.asks == [(_fixed(p, pp), _fixed(q, qp)) for p, q in data["a"]]
            # The book gets the delta's own parsed levels: the strings are parsed once.
            assert msg.sync_input()["b"] is d.bids and msg.sync_input()["a"] is d.asks
    assert min(counts.values()) > 1000, counts


@pytest.mark.parametrize("files, market, prec, compared", CASES)
def test_normalised_diffs_rebuild_the_recorded_top_of_book(files, market, prec, compared):
    import json
    adapters = BinanceAdapters(market, {"BTCUSDT": prec})
    book = backend.load("orderbook").OrderBook("BTCUSDT", *prec)
    sync = BookSync(book, market)
    sync.start()
    # A bookTicker shows the book at its update id u; the depth diff ending at
    # that u may arrive before or after it (diffs are batched), so pair both ways.
    top_at: dict[int, tuple] = {}
    tickers: dict[int, tuple] = {}
    matched = mismatched = 0

    def compare(rebuilt, seen):
        nonlocal matched, mismatched
        if rebuilt == seen:
            matched += 1
        else:
            mismatched += 1

    for stream, raw in _frames(files):
        if not stream:
            sync.on_snapshot(json.loads(raw))
            continue
        msg = adapters.normalise(stream, raw)
        if isinstance(msg, DepthDiff):
            before = sync.stats.diffs_applied
            sync.on_depth(msg.sync_input())
            if sync.is_valid and sync.stats.diffs_applied != before:
                u = book.last_update_id
                top_at[u] = book.bbo()
                if u in tickers:
                    compare(top_at[u], tickers.pop(u))
        elif isinstance(msg, TopOfBook):
            seen = (msg.bid_price, msg.bid_qty, msg.ask_price, msg.ask_qty)
            if msg.update_id in top_at:
                compare(top_at[msg.update_id], seen)
            else:
                tickers[msg.update_id] = seen
    assert (sync.stats.gaps, sync.stats.rejected, mismatched) == (0, 0, 0)
    # The same count `barfinex data check` finds on these files (tests/playback/test_book_replay.py).
    assert matched == compared


def test_malformed_frames_raise_clear_errors_naming_the_problem():
    adapters = BinanceAdapters(MarketType.SPOT, {"BTCUSDT": (2, 5)})
    bad = {
        b'{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","t":1,"p":"abc","q":"1","T":1,"m":true}}':
            "not a decimal",
        b'{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","t":1,"q":"1","T":1,"m":true}}':
            "missing required field `p`",
        b'{"stream":"btcusdt@depth@100ms","data":{"E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1.0"]],"a":[]}}':
            "level 0: expected a [price, qty] pair",
        b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"1.001","B":"1","a":"2","A":"1"}}':
            "at most 2 places",
        b'{"stream":"btcusdt@trade","data":{"e":"trade"': "truncated",
    }
    for raw, needle in bad.items():
        stream = raw[11:raw.index(b'"', 11)].decode()
        with pytest.raises(Exception) as err:
            adapters.normalise(stream, raw)
        assert needle in str(err.value).lower() or needle in str(err.value), (raw, err.value)

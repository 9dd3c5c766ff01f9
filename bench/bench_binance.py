"""Binance adapters: decode + normalise one real depth message (20 levels) and
one real trade, from the combined-stream frame bytes to a barfinex.model
message, through the connector's own hot path (``BinanceStreams.dispatch``
minus the handler call: stream-name peek, typed msgspec decode, int64 fixed
point via the compiled parse_fixed). Budget: at most 5 us per 20-level depth.

Peer in the same run: the same normalisation from ``json.loads`` (stdlib,
dict) instead of the typed decoder, which is what a straightforward adapter
does. Inputs are bytes (immutable): no state carries across rounds.

The Provider's whole per-message book path (``test_depth_stream_into_book``):
1,500 recorded depth frames after the REST snapshot, each decoded and
normalised by the adapter, handed to ``BookSync.on_depth`` and the best
bid/ask read, as ``actors/provider/feed.py`` does (minus the bus publish).
``parse-once`` is the Provider now (the book applies the delta's int levels);
``parse-twice`` is the path before it (the book got the raw strings and parsed
them again). Each round starts from a fresh book and sync with the snapshot
loaded (setup, not timed).

Full run:   python -m pytest bench/bench_binance.py --benchmark-enable --benchmark-only
CI (once):  python -m pytest bench/bench_binance.py --benchmark-disable
"""
from __future__ import annotations

import gzip
import json
from functools import lru_cache

import pytest

from barfinex import backend
from barfinex.book.sync import BookSync
from barfinex.connectors import DepthDiff
from barfinex.connectors.binance import BinanceAdapters
from barfinex.connectors.binance.adapters import depth, trade, DepthMsg, TradeMsg
from barfinex.datasets import SPOT_BTCUSDT, USDM_BTCUSDT
from barfinex.model.enums import MarketType
from barfinex.model.messages import Trade

PREC = {"BTCUSDT": (2, 8)}       # spot BTCUSDT: cents; sizes to Binance's 8 decimals
DEPTH_BUDGET_NS = 5_000


@lru_cache(maxsize=None)
def recorded() -> tuple[bytes, bytes]:
    """The first recorded spot depth frame with exactly 20 levels, and the first trade frame."""
    depth_frame = trade_frame = None
    with gzip.open(SPOT_BTCUSDT[0], "rb") as f:
        for line in f:
            body = line.rstrip(b"\n").partition(b" ")[2]
            if trade_frame is None and body.startswith(b'{"stream":"btcusdt@trade"'):
                trade_frame = body
            elif depth_frame is None and body.startswith(b'{"stream":"btcusdt@depth'):
                data = json.loads(body)["data"]
                if len(data["b"]) + len(data["a"]) == 20:
                    depth_frame = body
            if depth_frame and trade_frame:
                return depth_frame, trade_frame
    raise AssertionError("capture has no 20-level depth message")


def _hot_path():
    """What BinanceStreams.dispatch does per frame, without a handler."""
    adapters = BinanceAdapters(MarketType.SPOT, PREC)
    routes = {}
    for stream, kind, fn in (("btcusdt@depth@100ms", "depth", depth), ("btcusdt@trade", "trade", trade)):
        routes[stream] = (adapters.decoder(kind), fn)
    market = MarketType.SPOT

    def decode(raw: bytes):
        decoder, normalise = routes[raw[11:raw.find(b'"', 11)].decode()]
        return normalise(decoder.decode(raw).data, market, 2, 8)
    return decode


def _stdlib_peer():
    market = MarketType.SPOT

    def decode(raw: bytes):
        msg = json.loads(raw)
        data = msg["data"]
        if msg["stream"].endswith("@trade"):
            return trade(TradeMsg(data["s"], data["t"], data["p"], data["q"], data["T"], data["m"]), market, 2, 8)
        return depth(DepthMsg(data["E"], data["s"], data["U"], data["u"], data["b"], data["a"]), market, 2, 8)
    return decode


@pytest.mark.parametrize("impl", ["barfinex", "stdlib-json"])
def test_depth_20_levels(benchmark, impl):
    raw, _ = recorded()
    decode = _hot_path() if impl == "barfinex" else _stdlib_peer()
    out = benchmark(decode, raw)
    assert isinstance(out, DepthDiff)
    assert len(out.delta.bids) + len(out.delta.asks) == 20
    benchmark.extra_info.update(levels=20, budget_ns=DEPTH_BUDGET_NS)


@pytest.mark.parametrize("impl", ["barfinex", "stdlib-json"])
def test_trade(benchmark, impl):
    _, raw = recorded()
    decode = _hot_path() if impl == "barfinex" else _stdlib_peer()
    out = benchmark(decode, raw)
    assert isinstance(out, Trade) and out.price > 0 and out.qty > 0


# -- the Provider's per-message book path: decode + normalise + sync + apply --

STREAM_MESSAGES = 1500
# capture, market, (price_prec, qty_prec), tick, step (mantissa units)
BOOK_STREAMS = {
    "spot": (SPOT_BTCUSDT[0], MarketType.SPOT, (2, 8), 1, 1),
    "usdm": (USDM_BTCUSDT[0], MarketType.USDM, (2, 3), 10, 1),
}


@lru_cache(maxsize=None)
def depth_stream(name: str) -> tuple[dict, tuple[bytes, ...], int]:
    """(REST snapshot, the depth frames it needs after it, their level count).
    Frames are taken in capture order whether recorded before or after the
    snapshot line: those it already contains are left out, as the sync would."""
    path, market, _, _, _ = BOOK_STREAMS[name]
    snapshot, frames = None, []
    with gzip.open(path, "rb") as f:
        for line in f:
            body = line.rstrip(b"\n").partition(b" ")[2]
            if body.startswith(b'{"lastUpdateId"'):
                snapshot = json.loads(body)
            elif body[11:body.find(b'"', 11)].endswith((b"@depth@100ms", b"@depth@0ms")):
                frames.append(body)
            if snapshot is not None and len(frames) >= 4 * STREAM_MESSAGES:
                break
    last = snapshot["lastUpdateId"]
    futures = market != MarketType.SPOT
    keep, levels = [], 0
    for frame in frames:
        data = json.loads(frame)["data"]
        if (data["u"] >= last if futures else data["u"] > last) and len(keep) < STREAM_MESSAGES:
            keep.append(frame)
            levels += len(data["b"]) + len(data["a"])
    return snapshot, tuple(keep), levels


def _provider_book(name: str):
    _, market, (pp, qp), tick, step = BOOK_STREAMS[name]
    book = backend.load("orderbook", "fast").OrderBook("BTCUSDT", pp, qp, tick_size=tick, step_size=step)
    sync = BookSync(book, market)
    sync.start()
    sync.on_snapshot(depth_stream(name)[0])
    assert sync.is_valid
    return sync


def _provider_path(name: str, parse_once: bool):
    """One depth frame as the Provider's SymbolFeed.on_diff sees it, then its book."""
    _, market, (pp, qp), _, _ = BOOK_STREAMS[name]
    adapters = BinanceAdapters(market, {"BTCUSDT": (pp, qp)})
    decoders = {}

    def run(sync, frames):
        on_depth, bbo = sync.on_depth, sync.book.bbo
        for raw in frames:
            stream = raw[11:raw.find(b'"', 11)].decode()
            decoder = decoders.get(stream) or decoders.setdefault(stream, adapters.decoder("depth"))
            data = decoder.decode(raw).data
            diff = depth(data, market, pp, qp)
            if parse_once:
                on_depth(diff.sync_input())
            else:
                # What DepthDiff.sync_input() handed the sync before: the raw strings.
                d = diff.delta
                on_depth({"s": d.symbol, "U": d.first_update_id, "u": d.last_update_id,
                          "pu": diff.prev_update_id, "b": data.b, "a": data.a})
            top = bbo()
        return top
    return run


@pytest.mark.parametrize("path", ["parse-once", "parse-twice"])
@pytest.mark.parametrize("stream", list(BOOK_STREAMS))
def test_depth_stream_into_book(benchmark, stream, path):
    _, frames, levels = depth_stream(stream)
    run = _provider_path(stream, path == "parse-once")
    benchmark.group = f"binance depth -> book, {stream}"
    benchmark.extra_info.update(messages=len(frames), levels=levels)

    def setup():
        return (_provider_book(stream), frames), {}

    benchmark.pedantic(run, setup=setup, rounds=20, iterations=1, warmup_rounds=1)
    # Every frame applied in sequence, and both paths end on the same book.
    sync = _provider_book(stream)
    top = run(sync, frames)
    assert (sync.stats.diffs_applied, sync.stats.gaps, sync.stats.rejected) == (len(frames), 0, 0)
    other = _provider_book(stream)
    assert _provider_path(stream, path != "parse-once")(other, frames) == top
    assert other.book.top(50) == sync.book.top(50)

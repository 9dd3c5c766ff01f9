"""Binance adapters: decode + normalise one real depth message (20 levels) and
one real trade, from the combined-stream frame bytes to a barfinex.model
message, through the connector's own hot path (``BinanceStreams.dispatch``
minus the handler call: stream-name peek, typed msgspec decode, int64 fixed
point via the compiled parse_fixed). Budget: at most 5 us per 20-level depth.

Peer in the same run: the same normalisation from ``json.loads`` (stdlib,
dict) instead of the typed decoder, which is what a straightforward adapter
does. Inputs are bytes (immutable): no state carries across rounds.

Full run:   python -m pytest bench/bench_binance.py --benchmark-enable --benchmark-only
CI (once):  python -m pytest bench/bench_binance.py --benchmark-disable
"""
from __future__ import annotations

import gzip
import json
from functools import lru_cache

import pytest

from barfinex.connectors import DepthDiff
from barfinex.connectors.binance import BinanceAdapters
from barfinex.connectors.binance.adapters import depth, trade, DepthMsg, TradeMsg
from barfinex.datasets import SPOT_BTCUSDT
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

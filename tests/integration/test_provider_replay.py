"""The Provider fed by the venue replaying the recorded data, over real
sockets: the top of book it publishes after every delta equals every recorded
bookTicker with the same update id, and the 1m candles it publishes from the
replayed trades equal the exchange's own klines (data.binance.vision)."""
from __future__ import annotations

import csv

import pytest

from barfinex import backend
from barfinex.capture import read_capture
from barfinex.datasets import SPOT_BTCUSDT, USDM_BTCUSDT
from barfinex.model import Candle, MarketType, TopOfBook

from ..conftest import DATA
from .conftest import Desk, wait_for

pytestmark = pytest.mark.integration

_fixed = backend.load("fixedpoint")
MINUTE_NS = 60 * 10 ** 9


def recorded_tickers(market: str) -> dict[int, tuple[str, str, str, str]]:
    """update id -> (bid, bid qty, ask, ask qty) of every recorded bookTicker."""
    out = {}
    for line in read_capture(SPOT_BTCUSDT if market == "spot" else USDM_BTCUSDT):
        d = line.data
        if d.get("e", "bookTicker") == "bookTicker" and "u" in d and "b" in d and "A" in d:
            out.setdefault(int(d["u"]), (d["b"], d["B"], d["a"], d["A"]))
    return out


def test_books_match_the_recorded_book_ticker_and_candles_the_exchange_klines(run_dir, env):
    klines = {int(r["open_time"]) * 1_000_000: r for r in csv.DictReader(
        (DATA / "isda" / "BTCUSDT-1m-2024-08.csv").open())}
    exact = sorted(klines)[1:6]          # 23:55..23:59: the minutes the recorded trades cover fully
    with Desk(run_dir, env, speed=20.0, venue={"hold": True}) as desk:
        def closed_minutes():
            got = {m.open_ns: m for _, _, m in desk.bus.since(prefix="PROVIDER_MARKETDATA_CANDLE.binance.usdm",
                                                                kind=Candle) if m.timeframe_s == 60}
            return got if all(t in got for t in exact) else None
        bars = wait_for(closed_minutes, 90, "the Provider's 1m candles for 23:55-23:59")
        tops = [m for _, _, m in desk.bus.since(kind=TopOfBook)]

    for t in exact:
        bar, row = bars[t], klines[t]
        p, q = bar.price_prec, bar.qty_prec
        fields = {"open": (bar.open, p), "high": (bar.high, p), "low": (bar.low, p), "close": (bar.close, p),
                  "volume": (bar.volume, q), "quote_volume": (bar.quote_volume, p + q),
                  "taker_buy_volume": (bar.taker_buy_volume, q)}
        for name, (value, prec) in fields.items():
            assert value == _fixed.parse_fixed(row[name], prec), (t, name, value, row[name])
        assert bar.count == int(row["count"]) and bar.closed

    for market in (MarketType.SPOT, MarketType.USDM):
        tickers = recorded_tickers(market.label)
        compared = mismatches = 0
        for top in (t for t in tops if t.market == market and t.update_id in tickers):
            b, bq, a, aq = tickers[top.update_id]
            want = (_fixed.parse_fixed(b, top.price_prec), _fixed.parse_fixed(bq, top.qty_prec),
                    _fixed.parse_fixed(a, top.price_prec), _fixed.parse_fixed(aq, top.qty_prec))
            compared += 1
            mismatches += want != (top.bid_price, top.bid_qty, top.ask_price, top.ask_qty)
        assert compared > 100 and mismatches == 0, (market.label, compared, mismatches)

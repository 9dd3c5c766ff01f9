"""Replay venue pieces without sockets: stream names, inference, market detection, CLI input checks."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from barfinex.capture import CaptureLine
from barfinex.connectors.venue import Instrument, canonical_stream
from barfinex.connectors.venue.cli import venue_command
from barfinex.connectors.venue.feed import detect_market
from barfinex.connectors.venue.instruments import PrecisionScan, split_symbol
from barfinex.model.enums import MarketType

pytestmark = pytest.mark.unit


def test_stream_names_map_to_what_is_replayed():
    S, U = MarketType.SPOT, MarketType.USDM
    for speed in ("depth", "depth@100ms", "depth@0ms", "depth@500ms"):
        assert canonical_stream(f"BTCUSDT@{speed}", S) == "btcusdt@depth"
    assert canonical_stream("btcusdt@depth20@100ms", S) == "btcusdt@depth20"
    assert canonical_stream("btcusdt@kline_1m", S) == "btcusdt@kline_1m"
    assert canonical_stream("btcusdt@markPrice@1s", U) == "btcusdt@markPrice@1s"
    assert canonical_stream("listenkeywithoutat", S) is None


def test_precision_and_filters_are_inferred_from_strings():
    scan = PrecisionScan()
    scan.message({"e": "depthUpdate", "b": [["61800.30", "0.006"], ["61800.00", "0.000"]], "a": []})
    scan.message({"e": "trade", "p": "61800.10", "q": "1.250"})
    ins = Instrument.from_scan("BTCUSDT", MarketType.USDM, scan)
    assert (ins.price_dec, ins.qty_dec, ins.price_text, ins.qty_text) == (1, 3, 2, 3)
    filters = {f["filterType"]: f for f in ins.filters()}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.1" and filters["LOT_SIZE"]["stepSize"] == "0.001"
    assert ins.fmt_price(ins.parse_price("61800.3")) == "61800.30"
    with pytest.raises(ValueError):
        ins.parse_price("61800.35")             # off the tick grid
    assert split_symbol("ETHBTC") == ("ETH", "BTC")


def test_market_is_detected_from_the_messages():
    spot = [CaptureLine(1, "btcusdt@depth@100ms", {"e": "depthUpdate", "U": 1, "u": 2}, "x:1")]
    usdm = [CaptureLine(1, "btcusdt@depth@0ms", {"e": "depthUpdate", "U": 1, "u": 2, "pu": 0}, "x:1")]
    ticker = [CaptureLine(1, "btcusdt@bookTicker", {"e": "bookTicker", "u": 1}, "x:1")]
    assert detect_market(spot) == MarketType.SPOT
    assert detect_market(usdm) == MarketType.USDM
    assert detect_market(ticker) == MarketType.USDM


def test_cli_refuses_missing_and_non_gzip_captures(tmp_path):
    runner = CliRunner()
    result = runner.invoke(venue_command, ["--capture", str(tmp_path / "missing.gz")])
    assert result.exit_code == 2 and "no such capture" in result.output
    text = tmp_path / "plain.gz"
    text.write_text("1 {}\n")
    result = runner.invoke(venue_command, ["--capture", str(text)])
    assert result.exit_code == 2 and "not a gzip" in result.output
    assert runner.invoke(venue_command, ["--speed", "-1"]).exit_code == 2

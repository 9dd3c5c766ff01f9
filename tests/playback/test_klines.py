"""The recorded USD-M BTCUSDT trades rebuild the exchange's own 1m klines
(tests/data/isda: rows 23:55-23:59 are fully covered by the capture), through
the aggregator of both backends and through `barfinex data candles`."""
import csv
import gzip
from decimal import Decimal

import numpy as np
import pytest
from click.testing import CliRunner

from barfinex import backend
from barfinex.capture import read_capture
from barfinex.datasets import USDM_BTCUSDT
from barfinex.datatools.candles import KLINE_COLUMNS, candles_command

from ..conftest import DATA

pytestmark = pytest.mark.playback

MS = 1_000_000
FULL_MINUTES = range(1, 6)     # CSV rows 23:55..23:59; 23:54 is partial, 00:00 has no trades
COLUMNS = ("open", "high", "low", "close", "volume", "quote_volume", "count",
           "taker_buy_volume", "taker_buy_quote_volume")
SCALE = {"open": 2, "high": 2, "low": 2, "close": 2, "volume": 3, "quote_volume": 5,
         "count": 0, "taker_buy_volume": 3, "taker_buy_quote_volume": 5}


def _exchange_rows():
    with open(DATA / "isda" / "BTCUSDT-1m-2024-08.csv", newline="") as f:
        return list(csv.DictReader(f))


def _trades():
    for line in read_capture(USDM_BTCUSDT):
        d = line.data
        if d.get("e") == "trade":
            yield d


def test_trades_rebuild_the_exchange_klines(impl):
    mod = impl("candles")
    agg = mod.CandleAggregator(mod.TIMEFRAMES, 2, 3, "BTCUSDT")
    for d in _trades():
        agg.update_text(d["s"], d["T"] * MS, d["p"], d["q"], d["m"])
    rows = _exchange_rows()
    agg.flush(int(rows[-1]["open_time"]) * MS)       # the minute after the capture ends
    minutes = {int(b["open_ns"]) // MS: b for b in agg.drain() if b["timeframe_s"] == 60}
    assert agg.rejections == dict.fromkeys(mod.REASONS, 0)
    for i in FULL_MINUTES:
        row, bar = rows[i], minutes[int(rows[i]["open_time"])]
        assert int(bar["close_ns"]) // MS == int(row["close_time"])
        for col in COLUMNS:
            assert Decimal(int(bar[col])).scaleb(-SCALE[col]) == Decimal(row[col]), (row["open_time"], col)
    partial = minutes[int(rows[0]["open_time"])]
    assert 0 < partial["count"] < int(rows[0]["count"])   # the capture starts at 23:54:16


def test_cli_csv_matches_the_exchange_csv():
    result = CliRunner().invoke(candles_command, [str(USDM_BTCUSDT[0]), "--interval", "1m", "--csv"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == ",".join(KLINE_COLUMNS)
    ours = {r["open_time"]: r for r in csv.DictReader(lines)}
    for i in FULL_MINUTES:
        want = _exchange_rows()[i]
        got = ours[want["open_time"]]
        for col in KLINE_COLUMNS:
            assert Decimal(got[col]) == Decimal(want[col]), (want["open_time"], col)
    assert "still open" in result.stderr and "may be incomplete" in result.stderr


def test_cli_table_for_people():
    result = CliRunner().invoke(candles_command, [str(USDM_BTCUSDT[0]), "-i", "5m"])
    assert result.exit_code == 0
    header, *rows, footer = result.stdout.rstrip("\n").splitlines()
    assert header.split() == list(KLINE_COLUMNS)
    assert rows[0].startswith("2024-08-08 23:50:00") and "5m bars of BTCUSDT" in footer
    assert len({len(r) for r in rows + [header]}) == 1        # aligned columns


def _capture(tmp_path, lines):
    path = tmp_path / "cap.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _trade(t_ms, price="61800.30", qty="0.010", maker="false", symbol="BTCUSDT"):
    return (f'{t_ms * MS} {{"stream":"btcusdt@trade","data":{{"e":"trade","E":{t_ms},"T":{t_ms},'
            f'"s":"{symbol}","t":1,"p":"{price}","q":"{qty}","X":"MARKET","m":{maker}}}}}')


def test_cli_counts_bad_lines_and_keeps_going(tmp_path):
    t = 1_723_161_300_000
    path = _capture(tmp_path, [
        _trade(t), "garbage without a timestamp", f"{t * MS} {{not json",
        _trade(t + 1, price="abc"), _trade(t + 2, qty="-0.5"), _trade(t + 3, price="61801.00"),
        _trade(t - 120_000), _trade(t + 61_000, price="61802.00"),
    ])
    result = CliRunner().invoke(candles_command, [str(path), "--csv", "--price-prec", "2",
                                                  "--qty-prec", "3"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.stdout.strip().splitlines()))
    assert [r["count"] for r in rows] == ["2", "1"] and rows[0]["close"] == "61801.00"
    assert "2 unreadable line(s)" in result.stderr
    assert "out_of_order 1" in result.stderr and "price 1" in result.stderr and "qty 1" in result.stderr
    assert "cap.gz:4" in result.stderr           # names where the bad trade came from


def test_cli_asks_for_a_symbol_when_the_capture_has_several(tmp_path):
    path = _capture(tmp_path, [_trade(1_723_161_300_000), _trade(1_723_161_300_001, symbol="ETHUSDT")])
    result = CliRunner().invoke(candles_command, [str(path)])
    assert result.exit_code == 2 and "--symbol" in result.output
    result = CliRunner().invoke(candles_command, [str(path), "--symbol", "ETHUSDT", "--csv"])
    assert result.exit_code == 0 and result.stdout.count("\n") == 2


@pytest.mark.parametrize("make, args, message", [
    (lambda p: p / "missing.gz", [], "no such capture file"),
    (lambda p: (p / "plain.gz").write_text("1 {}") and p / "plain.gz", [], "not a gzip"),
    (lambda p: USDM_BTCUSDT[0], ["--interval", "7m"], "1s, 5s, 15s, 1m"),
])
def test_cli_bad_input_exits_2(tmp_path, make, args, message):
    result = CliRunner().invoke(candles_command, [str(make(tmp_path)), *args])
    assert result.exit_code == 2 and message in result.output


def test_batch_api_on_the_recorded_trades():
    """The batch API over numpy arrays gives the same bars as streaming the text."""
    trades = list(_trades())
    fp = backend.load("fixedpoint")
    ts = np.array([d["T"] * MS for d in trades], dtype=np.int64)
    px = np.array([fp.parse_fixed(d["p"], 2) for d in trades], dtype=np.int64)
    qt = np.array([fp.parse_fixed(d["q"], 3) for d in trades], dtype=np.int64)
    mk = np.array([d["m"] for d in trades])
    for be in backend.BACKENDS:
        mod = backend.load("candles", be)
        bars = mod.aggregate(ts, px, qt, mk, ("1m", "1h"))
        minutes = bars[bars["timeframe_s"] == 60]
        assert minutes["count"].sum() == len(trades) == bars[bars["timeframe_s"] == 3600]["count"].sum()
        assert list(minutes["closed"]) == [1] * 5 + [0]

"""Recorded Binance BTCUSDT depth streams (spot: two files of one session;
USD-M) replayed from their REST snapshots through the real sync and book: the
rebuilt best bid/ask (price and size) equals every recorded bookTicker that
shares an update id with a depth diff. Also `barfinex data check` end to end."""
import gzip
import json

import pytest
from click.testing import CliRunner

from barfinex.datasets import SPOT_BTCUSDT, USDM_BTCUSDT
from barfinex.datatools.check import check_command, replay

pytestmark = pytest.mark.playback

# Found by this replay (not taken from elsewhere): the bookTickers whose u is
# the final u of a depth diff. Spot diffs are 100 ms batches, so few match.
SPOT_COMPARED = 1072
USDM_COMPARED = 629


@pytest.mark.parametrize("backend_name", ["fast", "py"])
@pytest.mark.parametrize("files, market, compared, diffs", [
    (SPOT_BTCUSDT, "spot", SPOT_COMPARED, 6493),
    (USDM_BTCUSDT, "usdm", USDM_COMPARED, 6547),
], ids=["spot", "usdm"])
def test_rebuilt_top_of_book_equals_every_matching_book_ticker(backend_name, files, market, compared, diffs):
    report = replay(files, backend_name)
    assert report.bad_lines == 0 and report.unassigned_snapshots == 0
    (sym,) = report.symbols
    assert (sym.symbol, sym.market, sym.status) == ("BTCUSDT", market, "VALID")
    assert sym.mismatches == 0, sym.first_mismatches
    assert sym.compared == compared
    assert sym.diffs_applied == diffs and sym.snapshots == 1
    assert (sym.gaps, sym.resyncs, sym.crossed, sym.rejected) == (0, 0, 0, 0)


def test_spot_session_needs_both_files():
    # The second file has no snapshot: alone, it never gets a book to compare.
    report = replay(SPOT_BTCUSDT[1:])
    (sym,) = report.symbols
    assert sym.compared == 0 and sym.status == "SYNCING"


def _write(path, lines):
    with gzip.open(path, "wt") as f:
        for i, obj in enumerate(lines):
            f.write(f"{1_700_000_000_000_000_000 + i} {json.dumps(obj)}\n")
    return str(path)


def _stream(kind, data):
    return {"stream": f"btcusdt@{kind}", "data": data}


# The check learns the tick from the snapshot's prices: 99.95 shows 0.01.
SNAP = {"lastUpdateId": 100, "bids": [["100.00", "1.000"], ["99.95", "2.000"]],
        "asks": [["100.10", "3.000"]]}


def _diff(first, last, bids=(), asks=()):
    return _stream("depth@100ms", {"e": "depthUpdate", "s": "BTCUSDT", "U": first, "u": last,
                                   "b": [list(b) for b in bids], "a": [list(a) for a in asks]})


def _ticker(u, b, bq, a, aq):
    return _stream("bookTicker", {"u": u, "s": "BTCUSDT", "b": b, "B": bq, "a": a, "A": aq})


def test_cli_reports_ok_and_json(tmp_path):
    path = _write(tmp_path / "ok.gz", [
        _diff(99, 101, bids=[("100.00", "1.500")]), SNAP,
        _ticker(101, "100.00", "1.500", "100.10", "3.000"),     # ticker after its diff
        _ticker(102, "100.00", "1.500", "100.05", "0.700"),     # ticker before its diff
        _diff(102, 102, asks=[("100.05", "0.700")]),
        _ticker(103, "1.00", "1", "2.00", "1"),                 # no diff ends at 103: not compared
    ])
    result = CliRunner().invoke(check_command, [path])
    assert result.exit_code == 0, result.output
    assert "compared 2" in result.output and "mismatches 0" in result.output
    result = CliRunner().invoke(check_command, [path, "--json"])
    assert result.exit_code == 0
    body = json.loads(result.output[result.output.index("{"):])
    (sym,) = body["symbols"]
    assert (sym["symbol"], sym["compared"], sym["mismatches"], sym["diffs_applied"]) == ("BTCUSDT", 2, 0, 2)
    assert body["ok"] is True and body["mismatches"] == 0


def test_cli_exits_1_on_a_mismatch_and_shows_it(tmp_path):
    path = _write(tmp_path / "bad.gz", [
        SNAP, _diff(101, 101, bids=[("100.00", "1.500")]),        # snapshot before any diff
        _ticker(101, "100.00", "1.400", "100.10", "3.000"),     # size differs
    ])
    result = CliRunner().invoke(check_command, [path])
    assert result.exit_code == 1
    assert "mismatches 1" in result.output and "u=101" in result.output and "FAILED" in result.output


def test_cli_counts_gaps_and_resyncs(tmp_path):
    path = _write(tmp_path / "gap.gz", [_diff(101, 101), SNAP, _diff(105, 106), "garbage"])
    result = CliRunner().invoke(check_command, [path, "--json"])
    body = json.loads(result.output[result.output.index("{"):])
    (sym,) = body["symbols"]
    assert (sym["gaps"], sym["resyncs"], sym["status"]) == (1, 1, "RESYNCING")


@pytest.mark.parametrize("make, why", [
    (lambda p: str(p / "missing.gz"), "no such capture file"),
    (lambda p: (p / "plain.gz").write_text("123 {}\n") and str(p / "plain.gz"), "not a gzip"),
])
def test_cli_exits_2_on_unreadable_input(tmp_path, make, why):
    result = CliRunner().invoke(check_command, [make(tmp_path)])
    assert result.exit_code == 2 and why in result.output

"""The Provider under real exchange faults, injected into the replay venue on
the wire (``POST /_venue/fault``): the USD-M connection drops mid-stream,
a depth diff goes missing, garbage arrives, the stream goes silent.

For each fault on USD-M, seen from outside (the bus, the ``book`` RPC, the
``status`` counters that ``barfinex status`` shows): the Provider detects
and reports it, recovers (USD-M book VALID again, trades flowing), and the
other market keeps serving (spot data arrives during the fault, the spot book
never leaves VALID).

One topology serves the module (start-up is most of the cost); every test
starts by waiting for a healthy desk, so they run in any order.
"""
from __future__ import annotations

import json

import pytest

from barfinex.model import BookDelta, BookState, BookStatus, Trade

from .conftest import Desk, cli, wait_for

pytestmark = pytest.mark.integration

SILENCE_TIMEOUT_S = 1.5
USDM, SPOT = "binance.usdm.BTCUSDT", "binance.spot.BTCUSDT"
BOOK_STATE = "PROVIDER_MARKETDATA_BOOK_STATE."
TRADE = "PROVIDER_MARKETDATA_TRADE."
BOOK = "PROVIDER_MARKETDATA_ORDERBOOK."


@pytest.fixture(scope="module")
def desk(module_run_dir, module_env):
    # 2x: neither pass of the recording ends during the module (a loop is a
    # gap the Provider resyncs on, which would blur what each fault caused).
    options = {"silence_timeout_s": SILENCE_TIMEOUT_S, "backoff_initial_s": 0.1, "backoff_max_s": 1.0,
               "stable_after_s": 1.0}
    with Desk(module_run_dir, module_env, speed=2.0, options=options) as d:
        d.wait_ready()
        yield d


@pytest.fixture
def healthy(desk):
    """Both books VALID and USD-M trades flowing before the fault; returns the bus mark."""
    wait_for(lambda: desk.valid_book("spot") and desk.valid_book("usdm"), 20, "both books VALID")
    mark = desk.bus.mark()
    desk.bus.wait("a USD-M trade", mark, prefix=TRADE + USDM, timeout=10)
    return desk.bus.mark()


def states(desk, mark: int, symbol: str) -> list[str]:
    return [m.status.name for _, _, m in desk.bus.since(mark, BOOK_STATE + symbol, BookState)]


def assert_recovered_and_spot_served(desk, mark: int, resyncing_reason: str) -> None:
    """USD-M went RESYNCING (for the reason given) then VALID again, with
    trades after it; spot kept sending data throughout and never left VALID."""
    i_bad, t_bad, bad = desk.bus.wait("USD-M RESYNCING", mark, BOOK_STATE + USDM, BookState,
                                      lambda m: m.status == BookStatus.RESYNCING)
    assert resyncing_reason in bad.reason, bad
    i_ok, t_ok, _ = desk.bus.wait("USD-M VALID again", i_bad, BOOK_STATE + USDM, BookState,
                                  lambda m: m.status == BookStatus.VALID, timeout=20)
    desk.bus.wait("USD-M trades after recovery", i_ok, TRADE + USDM, Trade)
    desk.bus.wait("USD-M book deltas after recovery", i_ok, BOOK + USDM, BookDelta)
    assert desk.valid_book("usdm")
    # Spot served during the fault: its book deltas come every ~50 ms here
    # (100 ms diffs at 2x), so one lands before USD-M is back (or within 1 s).
    _, t_spot, _ = desk.bus.wait("spot data during the USD-M fault", i_bad, BOOK + SPOT, BookDelta)
    assert t_spot <= max(t_ok, t_bad + 1.0), "no spot market data while USD-M was down"
    assert states(desk, mark, SPOT) == [], "the spot book left VALID"
    assert desk.valid_book("spot")


def test_drop_is_reported_reconnected_and_resynced(desk, healthy):
    before = desk.health()["streams"]["binance.usdm"]
    done = desk.fault("drop", "usdm")
    assert done["connections"] >= 2           # the market streams and the user data stream
    assert_recovered_and_spot_served(desk, healthy, "stream disconnected")
    after = wait_for(lambda: (h := desk.health()["streams"]["binance.usdm"])["connected"] and h, 10,
                     "USD-M streams connected again")
    assert after["reconnects"] >= before["reconnects"] + 2      # public and user connections
    assert after["silences"] == before["silences"]
    spot = desk.health()["streams"]["binance.spot"]
    assert spot["reconnects"] == 0 and spot["connected"]
    assert desk.venue_stats()["venue"]["fault_drops"] >= 2
    # Never VALID while the stream was down: one resync, onto the new connection's diffs.
    assert states(desk, healthy, USDM) == ["RESYNCING", "VALID"]


def test_skipped_diff_is_a_gap_and_only_that_book_resyncs(desk, healthy):
    before = desk.health()
    withheld = desk.venue_stats()["venue"]["fault_withheld_diffs"]
    desk.fault("skip_diff", "usdm", symbol="BTCUSDT", count=2)
    assert_recovered_and_spot_served(desk, healthy, "gap: book at")
    after = desk.health()
    book, was = after["books"][USDM], before["books"][USDM]
    assert book["gaps"] == was["gaps"] + 1 and book["resyncs"] == was["resyncs"] + 1
    assert book["status"] == "VALID"
    assert after["books"][SPOT]["gaps"] == before["books"][SPOT]["gaps"]
    # Detected from the sequence alone: the connection was never touched.
    assert after["streams"]["binance.usdm"]["reconnects"] == before["streams"]["binance.usdm"]["reconnects"]
    assert desk.venue_stats()["venue"]["fault_withheld_diffs"] == withheld + 2


def test_garbage_is_counted_by_stream_and_loses_nothing(desk, healthy):
    before = desk.health()
    was = before["streams"]["binance.usdm"]
    done = desk.fault("garbage", "usdm", count=6)
    assert done["frames"] == 6                  # one public USD-M connection, 2 frames of each kind
    now = wait_for(lambda: (s := desk.health()["streams"]["binance.usdm"])["malformed"] >= was["malformed"] + 6
                   and s, 10, "the malformed frames counted")
    by_stream = {k: v - was["malformed_by_stream"].get(k, 0) for k, v in now["malformed_by_stream"].items()
                 if v != was["malformed_by_stream"].get(k, 0)}
    # Counted against where they came from: not JSON names no stream ("?");
    # the cut-short trade and the non-numeric depth price name theirs.
    assert by_stream == {"?": 2, "btcusdt@trade": 2, "btcusdt@depth@100ms": 2}, by_stream
    assert now["last_error"].startswith("binance usdm: malformed message on stream")
    # Nothing else lost: data keeps flowing, no gap, no resync, no reconnect.
    mark = desk.bus.mark()
    desk.bus.wait("USD-M trades after the garbage", mark, TRADE + USDM, Trade)
    for _ in range(3):
        mark = desk.bus.wait("USD-M book deltas after the garbage", mark, BOOK + USDM, BookDelta)[0] + 1
    after = desk.health()
    assert states(desk, healthy, USDM) == [] and states(desk, healthy, SPOT) == []
    assert after["books"][USDM]["gaps"] == before["books"][USDM]["gaps"]
    assert after["streams"]["binance.usdm"]["reconnects"] == was["reconnects"]
    assert desk.venue_stats()["venue"]["fault_garbage_frames"] >= 6


def test_silence_fires_the_watchdog_then_reconnects_and_resyncs(desk, healthy):
    before = desk.health()["streams"]["binance.usdm"]
    # Long enough for the watchdog, short enough that the reconnected
    # stream hears from the venue before the watchdog fires a second time.
    desk.fault("silence", "usdm", seconds=SILENCE_TIMEOUT_S + 0.5)
    assert_recovered_and_spot_served(desk, healthy, "stream silent")
    after = desk.health()["streams"]["binance.usdm"]
    assert after["silences"] >= before["silences"] + 1
    assert after["reconnects"] >= before["reconnects"] + 1
    assert states(desk, healthy, USDM) == ["RESYNCING", "VALID"]
    assert desk.venue_stats()["venue"]["fault_silenced"] > 0


def test_status_shows_the_fault_counters(desk, healthy):
    """What an operator sees: `barfinex status` carries the Provider's stream
    and book counters (JSON for scripts, one line per stream/book for people)."""
    out = cli(desk.env, "status", "-t", str(desk.path), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {r["actor"]: r for r in json.loads(out.stdout)["actors"]}
    health = rows["provider"]["health"]
    assert set(health["streams"]) == {"binance.spot", "binance.usdm"}
    assert set(health["books"]) == {SPOT, USDM}
    for key in ("messages", "reconnects", "silences", "malformed", "malformed_by_stream", "connected"):
        assert key in health["streams"]["binance.usdm"], key
    for key in ("status", "gaps", "resyncs", "snapshots"):
        assert key in health["books"][USDM], key
    text = cli(desk.env, "status", "-t", str(desk.path))
    assert text.returncode == 0, text.stdout + text.stderr
    assert "streams binance.usdm: connected, messages" in text.stdout
    assert "books binance.usdm.BTCUSDT: status VALID" in text.stdout

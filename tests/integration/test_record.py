"""`barfinex record` against the replay venue (the exchange itself is out of
reach here), then `barfinex data check` on what it wrote: the recording is a
capture the book sync can verify."""
from __future__ import annotations

import gzip
import json

import pytest

from barfinex import datasets
from barfinex.connectors.venue import Venue, VenueThread

from .conftest import cli

pytestmark = pytest.mark.integration


def test_record_from_the_venue_then_check_it(tmp_path, env):
    out = tmp_path / "rec.gz"
    with VenueThread(Venue(list(datasets.USDM_BTCUSDT), speed=4.0, loop=False)) as v:
        r = cli(env, "record", "--symbols", "BTCUSDT", "--market", "usdm", "--venue", v.base_url,
                "--out", str(out), "--duration", "4", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "1 snapshot(s)" in r.stderr
    lines = gzip.open(out, "rt").read().splitlines()
    kinds = set()
    for line in lines:
        msg = json.loads(line.split(" ", 1)[1])
        kinds.add(msg["stream"].split("@")[1] if "stream" in msg else "snapshot")
    assert {"depth", "trade", "bookTicker", "snapshot"} <= kinds
    check = cli(env, "data", "check", str(out), "--json", timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)
    rows = report["symbols"] if isinstance(report, dict) and "symbols" in report else report
    row = rows[0]
    assert row["symbol"] == "BTCUSDT" and row["compared"] > 0 and row["mismatches"] == 0


def test_record_refuses_a_bad_output_path(tmp_path, env):
    r = cli(env, "record", "--symbols", "BTCUSDT", "--out", str(tmp_path / "x.txt"))
    assert r.returncode == 2 and "name it *.gz" in r.stderr

"""The venue's replay over real sockets: loop restarts, pace, klines from the real trades."""
from __future__ import annotations

import asyncio
import gzip
import json
import time

import httpx
import pytest
import websockets

from barfinex import datasets
from barfinex.connectors.venue import Venue, VenueThread

pytestmark = pytest.mark.playback


def slice_capture(tmp_path, source, lines: int):
    """The first ``lines`` lines of a real capture (the REST snapshot is line 55)."""
    out = tmp_path / f"slice_{lines}.gz"
    with gzip.open(source, "rt") as f, gzip.open(out, "wt") as g:
        for i, line in enumerate(f):
            if i >= lines:
                break
            g.write(line)
    return out


def test_loop_restart_jumps_update_ids_and_serves_the_restarted_book(tmp_path):
    capture = slice_capture(tmp_path, datasets.USDM_BTCUSDT[0], 1500)

    async def run(v):
        url = f"ws://127.0.0.1:{v.port}/usdm/ws/btcusdt@depth@0ms"
        async with websockets.connect(url, max_queue=None) as ws:
            prev = None
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                d = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if prev is not None and d["pu"] != prev["u"]:
                    return prev, d
                prev = d
        raise AssertionError("no restart seen")

    # Paced (a pass is ~0.3 s), not speed 0: a venue thread that never sleeps
    # starves this thread of the GIL and the test crawls.
    with VenueThread(Venue([capture], speed=20, loop=True)) as v:
        before, after = asyncio.run(run(v))
        assert after["pu"] != before["u"] and after["U"] > before["u"] + 1    # a forward gap: resync
        assert after["E"] > before["E"]            # time keeps moving forward
        snap = httpx.get(f"{v.base_url}/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": 5}).json()
        assert snap["lastUpdateId"] >= after["u"] and snap["bids"] and snap["asks"]
        assert v.call(lambda: v.venue.feeds[next(iter(v.venue.feeds))].stats.loops) >= 1


def test_speed_factor_is_honoured(tmp_path):
    capture = slice_capture(tmp_path, datasets.USDM_BTCUSDT[0], 1200)
    lines = [json.loads(l.split(" ", 1)[1]) for l in gzip.open(capture, "rt")]
    recv = [int(l.split(" ", 1)[0]) for l in gzip.open(capture, "rt")]
    span_s = (recv[-1] - recv[55]) / 1e9          # replay starts at the sync point
    assert len(lines) == 1200 and span_s > 3

    def elapsed(speed):
        async def run(v):
            url = f"ws://127.0.0.1:{v.port}/usdm/ws/btcusdt@trade"
            async with websockets.connect(url, max_queue=None) as ws:
                t0 = time.monotonic()
                while True:
                    try:
                        await asyncio.wait_for(ws.recv(), 2.0)
                    except asyncio.TimeoutError:
                        return time.monotonic() - t0 - 2.0
        with VenueThread(Venue([capture], speed=speed, loop=False)) as v:
            return asyncio.run(run(v))

    paced = elapsed(2.0)
    assert span_s / 2 * 0.5 < paced < span_s / 2 * 2 + 1.0
    assert elapsed(0) < paced / 2


def test_klines_are_the_replayed_trades_folded_into_candles():
    """After a full pass /klines holds the same 1m bars `barfinex data candles` makes of the capture."""
    from barfinex.datatools.candles import aggregate_capture
    from barfinex.model.enums import Timeframe

    with VenueThread(Venue(list(datasets.SPOT_BTCUSDT), speed=0)) as v:
        deadline = time.monotonic() + 30
        while not v.call(lambda: v.venue.replay_done.is_set()) and time.monotonic() < deadline:
            time.sleep(0.2)
        rows = httpx.get(f"{v.base_url}/api/v3/klines",
                         params={"symbol": "BTCUSDT", "interval": "1m", "limit": 1000}).json()
    run = aggregate_capture(datasets.SPOT_BTCUSDT, Timeframe.M1)
    want = [(int(b["open_ns"]) // 1_000_000, int(b["count"])) for b in run.bars]
    assert [(r[0], r[8]) for r in rows] == want
    assert all(r[6] == r[0] + 59_999 for r in rows)

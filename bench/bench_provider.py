"""Provider throughput: venue -> Provider -> bus, events/s on one core.

The replay venue (``barfinex venue --speed 0 --hold``: as fast as its client
takes it, each market held at the start of its recording until the client
subscribes) plays the shipped spot and USD-M BTCUSDT captures once to a real
Provider process (``barfinex actor provider``, the real Binance connector:
WebSocket frames in, typed decode, book sync, candles on 5 timeframes, bus
publish out), pinned to CPU 0. This process, pinned with the venue to CPU 1,
counts the Provider's market-data events on a SUB socket by channel, without
decoding them. Reported: bus events/s (trades, book deltas + top of book,
candles, prices, book states) and venue messages/s the Provider consumed, over
the span from its first event to its last.

No named peer (ARCHITECTURE.md names none for this figure). For context, the
same run measures the venue's own send rate into a client that only counts
frames (``support/bfx_bench_ws_count.py``, same streams, same core): the
ceiling any consumer of this venue can reach. Segments alternate (raw client,
Provider, ...) so machine noise hits both alike; each segment has a fresh venue.

Full run:   python -m pytest bench/bench_provider.py --benchmark-enable --benchmark-only -s
CI (once):  python -m pytest bench/bench_provider.py --benchmark-disable   (a 2 s window, no peer)
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import yaml
import zmq

from barfinex.bus import RpcClient

SUPPORT = Path(__file__).parent / "support"
PREFIXES = (b"PROVIDER_MARKETDATA_", b"PROVIDER_INSTRUMENT_PRICES")
END_QUIET_S = 0.5          # the replay is done and the Provider has been quiet this long


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _pin(cpu: int):
    """Pin the calling process to ``cpu``. Unconditional: a child inherits its
    parent's mask, so a check on the current mask would leave the Provider on
    the driver's core. BFX_BENCH_PIN=0 turns pinning off."""
    def pin() -> None:
        if os.environ.get("BFX_BENCH_PIN", "1") == "1" and cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {cpu})
    return pin


def _cpu_s(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used; 0 where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"benchmark set-up: timed out after {timeout}s waiting for {what}")


class Segment:
    """A fresh venue (CPU 1) and one consumer of it (CPU 0): the Provider or the raw counter."""

    def __init__(self, kind: str, window: float) -> None:
        self.kind, self.window = kind, window
        self.dir = Path(tempfile.mkdtemp(prefix="bfxp-", dir="/tmp"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, BARFINEX_LOG_LEVEL="WARNING")
        self.procs: list[subprocess.Popen] = []
        self.ctx = zmq.Context()
        self.sub = None
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "barfinex", "venue", "--speed", "0", "--hold", "--port", str(self.port)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_pin(1)))
        _wait(self._venue_up, 60, "the venue to load its captures")

    def _venue_up(self) -> bool:
        try:
            return httpx.get(self.url + "/api/v3/ping", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def _replay_done(self) -> bool:
        return httpx.get(self.url + "/_venue/stats", timeout=2).json()["replay_done"]

    def run(self) -> dict:
        return self._provider() if self.kind == "provider" else self._raw()

    def _raw(self) -> dict:
        proc = subprocess.Popen([sys.executable, str(SUPPORT / "bfx_bench_ws_count.py"), str(self.port),
                                 str(self.window)], env=self.env, stdout=subprocess.PIPE, text=True,
                                preexec_fn=_pin(0))
        self.procs.append(proc)
        out, _ = proc.communicate(timeout=300)
        got = json.loads(out)
        return {"venue_msgs": got["frames"], "seconds": got["seconds"]}

    def _provider(self) -> dict:
        (self.dir / "provider.yaml").write_text(yaml.safe_dump({
            "connectors": {"binance": {"options": {"venue": self.url, "markets": ["spot", "usdm"]},
                                       "symbols": {"spot": ["BTCUSDT"], "usdm": ["BTCUSDT"]}}},
            "candles": ["1s", "1m", "5m", "15m", "1h"]}))
        topo = self.dir / "bench.yaml"
        pub, ctl = f"ipc://{self.dir}/p.pub", f"ipc://{self.dir}/p.ctl"
        topo.write_text(yaml.safe_dump({"name": "bench", "run_dir": str(self.dir), "heartbeat_ms": 1000, "actors": {
            "provider": {"class": "actors.provider:Provider", "config": "provider.yaml", "pub": pub,
                         "control": ctl}}}))
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 0)
        for prefix in PREFIXES:
            self.sub.setsockopt(zmq.SUBSCRIBE, prefix)
        # Connected before the Provider binds: ZeroMQ reconnects, so no event
        # is published before this subscription is live (the venue is held).
        self.sub.connect(pub)
        provider = subprocess.Popen([sys.executable, "-m", "barfinex", "actor", "provider", "-t", str(topo)],
                                    env=self.env, stdout=subprocess.DEVNULL, preexec_fn=_pin(0))
        self.procs.append(provider)
        counts: dict[str, int] = {}
        first = last = cpu0 = 0.0
        recv, poll = self.sub.recv, self.sub.poll
        deadline = time.monotonic() + 300
        done_checked = 0.0
        while time.monotonic() < deadline:
            if poll(100):
                while True:
                    try:
                        raw = recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    channel = raw[:raw.index(b".")]
                    counts[channel] = counts.get(channel, 0) + 1
                last = time.monotonic()
                if not first:
                    first, cpu0 = last, _cpu_s(provider.pid)
                if self.window and last - first >= self.window:
                    break
                continue
            now = time.monotonic()
            if first and now - last >= END_QUIET_S and now - done_checked >= 0.5:
                done_checked = now
                if self._replay_done():
                    break
        else:
            raise TimeoutError("the replay did not finish within 300 s")
        # Measured after the quiet tail too, where the Provider idles: a slight over-estimate.
        cpu = _cpu_s(provider.pid) - cpu0
        with RpcClient(ctl, ctx=self.ctx) as rpc:
            streams = rpc.call("status", timeout=5)["health"]["streams"]
        return {"events": sum(counts.values()), "seconds": last - first, "cpu_s": cpu,
                "venue_msgs": sum(s["messages"] for s in streams.values()),
                "by_channel": {k.decode(): v for k, v in sorted(counts.items())}}

    def close(self) -> None:
        for p in reversed(self.procs):      # the consumer first: the venue going away is not news
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        if self.sub is not None:
            self.sub.close(linger=0)
        self.ctx.destroy(linger=0)
        shutil.rmtree(self.dir, ignore_errors=True)


def test_provider_throughput(benchmark, quick):
    """Events/s out of the Provider, venue messages/s into it; the venue's raw send rate beside it."""
    rounds, window = (1, 2.0) if quick else (3, 0.0)
    kinds = ("provider",) if quick else ("raw", "provider")
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    saved = os.sched_getaffinity(0)
    _pin(1)()
    try:
        def run() -> None:
            for kind in kinds:
                seg = Segment(kind, window)
                try:
                    results[kind].append(seg.run())
                finally:
                    seg.close()
        benchmark.pedantic(run, rounds=rounds, iterations=1)
    finally:
        os.sched_setaffinity(0, saved)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    prov = results["provider"]
    assert all(r["events"] > 0 and r["venue_msgs"] > 0 for r in prov), prov
    info = {"rounds": rounds,
            "provider_events_per_s": med([r["events"] / r["seconds"] for r in prov]),
            "provider_venue_msgs_per_s": med([r["venue_msgs"] / r["seconds"] for r in prov]),
            "provider_cpu_share": med([r["cpu_s"] / r["seconds"] for r in prov]),
            "provider_events_per_cpu_s": med([r["events"] / r["cpu_s"] for r in prov if r["cpu_s"]] or [0]),
            "provider_runs": prov}
    if "raw" in results:
        info["venue_raw_msgs_per_s"] = med([r["venue_msgs"] / r["seconds"] for r in results["raw"]])
        info["raw_runs"] = results["raw"]
    benchmark.extra_info.update(info)
    print("\n" + json.dumps(info, indent=1))

"""`barfinex record`: capture live exchange streams to the format the replay
venue plays and `barfinex data check` verifies.

Each line is ``<recv_ns> <raw JSON>`` exactly as received: combined-stream
messages keep Binance's ``{"stream":..,"data":..}`` wrapper, and one REST depth
snapshot per symbol is written inline once the diff stream is flowing (so a
replay finds its bridging diff). gzip, flushed as it goes, closed cleanly on
Ctrl-C, so a capture cut short is still readable.
"""
from __future__ import annotations

import asyncio
import gzip
import logging
import signal
import sys
import time
from pathlib import Path

import click
import httpx
import websockets

log = logging.getLogger("barfinex.record")

ENDPOINTS = {
    # market: (REST base, WebSocket base, depth path, depth stream)
    "spot": ("https://api.binance.com", "wss://stream.binance.com:9443", "/api/v3/depth", "depth@100ms"),
    "usdm": ("https://fapi.binance.com", "wss://fstream.binance.com", "/fapi/v1/depth", "depth@0ms"),
}
STREAMS = ("trade", "bookTicker")


def urls(market: str, venue: str | None) -> tuple[str, str]:
    rest, ws, _, _ = ENDPOINTS[market]
    if venue:
        rest = venue.rstrip("/")
        ws = rest.replace("http://", "ws://").replace("https://", "wss://") + ("/usdm" if market == "usdm" else "")
    return rest, ws


class Recorder:
    def __init__(self, symbols: list[str], market: str, out: Path, venue: str | None = None) -> None:
        self.symbols = [s.upper() for s in symbols]
        self.market = market
        self.out = out
        self.rest, self.ws = urls(market, venue)
        self.lines = 0
        self.snapshots = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    def _streams(self) -> str:
        depth = ENDPOINTS[self.market][3]
        names = [f"{s.lower()}@{n}" for s in self.symbols for n in (depth, *STREAMS)]
        return "/".join(names)

    async def run(self, duration: float | None = None) -> None:
        url = f"{self.ws}/stream?streams={self._streams()}"
        deadline = time.monotonic() + duration if duration else None
        pending = set(self.symbols)
        with gzip.open(self.out, "wt", encoding="utf-8") as f:
            async with httpx.AsyncClient(timeout=10) as http, \
                    websockets.connect(url, max_size=2**24, open_timeout=10) as ws:
                log.info("recording %s %s from %s to %s", self.market, ",".join(self.symbols), self.ws, self.out)
                last_report = time.monotonic()
                while not self._stop.is_set():
                    if deadline and time.monotonic() >= deadline:
                        break
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 1.0)
                    except asyncio.TimeoutError:
                        continue
                    f.write(f"{time.time_ns()} {raw}\n")
                    self.lines += 1
                    if pending:
                        # The diff stream is flowing: now the snapshot bridges it.
                        for symbol in list(pending):
                            if f'"{symbol.lower()}@depth' in raw[:60]:
                                await self._snapshot(http, f, symbol)
                                pending.discard(symbol)
                    if time.monotonic() - last_report > 5:
                        last_report = time.monotonic()
                        print(f"record: {self.lines:,} messages, {self.snapshots} snapshot(s)", file=sys.stderr)
        print(f"record: {self.lines:,} messages, {self.snapshots} snapshot(s) -> {self.out}", file=sys.stderr)

    async def _snapshot(self, http: httpx.AsyncClient, f, symbol: str) -> None:
        path = ENDPOINTS[self.market][2]
        r = await http.get(f"{self.rest}{path}", params={"symbol": symbol, "limit": 1000})
        r.raise_for_status()
        f.write(f"{time.time_ns()} {r.text.strip()}\n")
        self.lines += 1
        self.snapshots += 1


@click.command("record")
@click.option("--symbols", "-s", required=True, multiple=True, help="Symbol to record (repeat, or comma-separate).")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output capture (.gz).")
@click.option("--market", type=click.Choice(sorted(ENDPOINTS)), default="usdm", show_default=True)
@click.option("--venue", help="Record from a replay venue at this base address instead of Binance "
              "(e.g. http://127.0.0.1:8765).")
@click.option("--duration", type=click.FloatRange(min=0.1), help="Stop after this many seconds (default: Ctrl-C).")
def record_command(symbols, out: Path, market: str, venue: str | None, duration: float | None) -> None:
    """Capture depth diffs, trades and bookTicker with one REST depth snapshot per
    symbol, in the format `barfinex venue` replays and `barfinex data check` verifies."""
    if out.suffix != ".gz":
        raise click.UsageError(f"{out}: the output is gzip; name it *.gz")
    if not out.parent.exists():
        raise click.UsageError(f"{out.parent}: no such directory")
    names = [s.strip() for arg in symbols for s in arg.split(",") if s.strip()]
    recorder = Recorder(names, market, out, venue)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, recorder.stop)
        await recorder.run(duration)

    try:
        asyncio.run(main())
    except (OSError, websockets.WebSocketException, httpx.HTTPError) as exc:
        raise click.ClickException(f"record: {exc} (recorded {recorder.lines:,} messages to {out})") from None

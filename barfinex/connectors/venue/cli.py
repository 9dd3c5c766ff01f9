"""``barfinex venue``: run the replay venue from the command line (thin glue over Venue)."""
from __future__ import annotations

import asyncio
import logging
import math
import signal
import sys
import time
from pathlib import Path

import click

from barfinex.capture import CaptureError, require_capture

from .server import DEFAULT_API_KEY, DEFAULT_API_SECRET, Venue

PROGRESS_EVERY_S = 10.0


@click.command("venue")
@click.option("--capture", "captures", multiple=True, type=click.Path(path_type=Path),
              help="Capture file (gzip '<recv_ns> <json>' lines); repeat for several. "
                   "Default: the shipped real data (spot + USD-M BTCUSDT).")
@click.option("--speed", type=float, default=1.0, show_default=True,
              help="Replay speed: 1 = recorded pace, 2 = twice as fast, 0 or inf = as fast as possible.")
@click.option("--loop", is_flag=True, help="Start over at the end (update ids jump: clients resync).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--api-key", default=DEFAULT_API_KEY, show_default=True, envvar="BARFINEX_VENUE_API_KEY")
@click.option("--api-secret", default=DEFAULT_API_SECRET, envvar="BARFINEX_VENUE_API_SECRET",
              help="HMAC secret for signed requests [default: barfinex-venue-secret].")
@click.option("--latency-ms", type=float, default=0.0, show_default=True,
              help="Delay before an order or cancel reaches the paper exchange.")
@click.option("--hold", is_flag=True, help="Hold each market at the start of its recording until a client "
                                            "subscribes to one of its streams (benchmarks, tests).")
def venue_command(captures, speed, loop, port, api_key, api_secret, latency_ms, hold):
    """Replay captures as a local Binance (REST + WebSocket on one port) and paper-trade against them."""
    if speed < 0 or math.isnan(speed):
        raise click.UsageError("--speed must be >= 0 (0 or inf: as fast as possible)")
    try:
        for path in captures:
            require_capture(path)
    except CaptureError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .exchange import ExchangeConfig
    venue = Venue(list(captures) or None, speed=speed, loop=loop, port=port, api_key=api_key,
                  api_secret=api_secret, exchange=ExchangeConfig(latency_ms=latency_ms), hold=hold)
    try:
        asyncio.run(_serve(venue))
    except CaptureError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"error: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", err=True)
        sys.exit(2)


async def _serve(venue: Venue) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    click.echo(f"loading {len(venue.captures)} capture(s)...")
    await venue.start()
    urls = venue.urls()
    click.echo(f"replay venue on {venue.base_url}  (speed {venue.speed:g}{', looping' if venue.loop else ''})")
    click.echo(f"  REST base       {urls['rest']}   (spot /api/v3/..., USD-M /fapi/v1/...)")
    click.echo(f"  spot WebSocket  {urls['spot_ws']}   (/ws/<stream>, /stream?streams=...)")
    click.echo(f"  USD-M WebSocket {urls['usdm_ws']}   (/usdm/ws/<stream>, /usdm/stream?streams=...)")
    click.echo(f"  API key {venue.api_key!r}; secret from --api-secret / BARFINEX_VENUE_API_SECRET")
    click.echo(f"  faults: POST {venue.base_url}/_venue/fault (drop, skip_diff, garbage, silence); "
               f"counters: GET {venue.base_url}/_venue/stats")
    for feed in venue.feeds.values():
        click.echo(f"  {feed.market.name.lower():5s} {', '.join(feed.symbols)} from "
                   f"{', '.join(p.name for p in feed.files)} ({len(feed.lines):,} messages)")
    click.echo("Ctrl-C to stop")
    done = asyncio.ensure_future(venue.replay_done.wait())
    last = time.monotonic()
    while not stop.is_set():
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiter, done}, timeout=PROGRESS_EVERY_S, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if done.done() and not stop.is_set():
            _progress(venue)
            click.echo("replay finished (no --loop); still serving REST and orders. Ctrl-C to stop")
            done = asyncio.ensure_future(asyncio.Event().wait())
        if time.monotonic() - last >= PROGRESS_EVERY_S:
            last = time.monotonic()
            _progress(venue)
    click.echo("stopping...")
    await venue.stop()
    _progress(venue)


def _progress(venue: Venue) -> None:
    s = venue.stats
    parts = [f"{f.market.name.lower()} {f.stats.sent:,} msgs pass {f.loop_index + 1}"
             + (f" (behind {f.stats.behind_ms:.0f} ms)" if f.stats.behind_ms > 250 else "")
             for f in venue.feeds.values()]
    click.echo(f"[venue] {'; '.join(parts)}; clients {s.ws_open}; REST {s.rest_requests:,} "
               f"({s.rest_errors} errors, {s.not_found} unknown paths); orders {s.orders}; "
               f"bad frames {s.ws_bad_frames}" + (f"; faults injected {s.faults}" if s.faults else ""))

"""The peer end of the Provider throughput benchmark: a client that takes the
venue's streams and does nothing with them but count frames, so the venue's
own send rate (its ceiling for any consumer) is measured beside the Provider.

    python bfx_bench_ws_count.py PORT WINDOW_S

Subscribes to what the Provider subscribes to (per market: depth@100ms, trade
and the price stream), counts frames until WINDOW_S of flow (0: no limit) or
a second with none, prints one JSON line: frames, seconds (first to last).
"""
from __future__ import annotations

import asyncio
import json
import sys
import time

import websockets

STREAMS = {"": "btcusdt@depth@100ms/btcusdt@miniTicker/btcusdt@trade",
           "/usdm": "btcusdt@depth@100ms/btcusdt@markPrice@1s/btcusdt@trade"}
QUIET_S = 1.0


async def main(port: int, window: float) -> dict:
    seen = {"frames": 0, "first": 0.0, "last": 0.0}

    async def take(path: str, streams: str) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port}{path}/stream?streams={streams}",
                                      max_size=2 ** 24, max_queue=None, compression=None) as ws:
            while True:
                try:
                    await asyncio.wait_for(ws.recv(decode=False), QUIET_S if seen["frames"] else 60)
                except asyncio.TimeoutError:
                    return
                now = time.monotonic()
                seen["first"] = seen["first"] or now
                seen["last"] = now
                seen["frames"] += 1
                if window and now - seen["first"] >= window:
                    return

    await asyncio.gather(*(take(path, streams) for path, streams in STREAMS.items()))
    return {"frames": seen["frames"], "seconds": seen["last"] - seen["first"]}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))), flush=True)

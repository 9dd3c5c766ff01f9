"""Follow bus events from every publisher of a topology (`barfinex tail`)."""
from __future__ import annotations

import json
import time
from typing import Callable

import zmq

from barfinex.model.codec import to_builtins

from . import sockets
from .subscriber import Receiver


def _line(event, as_json: bool) -> str:
    h = event.header
    payload = to_builtins(event.msg)
    if as_json:
        return json.dumps({
            "topic": event.topic, "type": type(event.msg).__name__, "source": h.source.decode(),
            "seq": h.seq, "ts_ns": h.ts_ns, "exch_ts_ns": h.exch_ts_ns, "event_id": h.event_id.hex(),
            "correlation_id": h.correlation_id.hex(), "causation_id": h.causation_id.hex(),
            "payload": payload})
    ts = time.strftime("%H:%M:%S", time.gmtime(h.ts_ns / 1e9)) + f".{h.ts_ns // 1_000_000 % 1000:03d}"
    body = " ".join(f"{k}={v}" for k, v in payload.items())
    return f"{ts} {event.topic} #{h.seq} {type(event.msg).__name__} {body}"


def follow(topology, prefix: str, *, count: int | None, timeout: float | None, as_json: bool,
           echo: Callable[[str], None]) -> int:
    """Print events until ``count`` arrived or ``timeout`` passed; returns how many."""
    endpoints = [topology.supervisor_pub, *topology.pub_endpoints()]
    ctx = sockets.context()
    sock = sockets.sub_socket(endpoints, [prefix.encode()], ctx=ctx)
    receiver = Receiver()
    seen = 0
    deadline = time.monotonic() + timeout if timeout is not None else None
    try:
        while count is None or seen < count:
            wait_ms = 500 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            if deadline is not None and wait_ms == 0:
                break
            if not sock.poll(min(wait_ms, 500), zmq.POLLIN):
                continue
            event = receiver.feed(sock.recv(), "tail")
            if event is None:
                continue
            echo(_line(event, as_json))
            seen += 1
    except KeyboardInterrupt:
        pass
    finally:
        sock.close(linger=0)
        sockets.term_context()
    return seen

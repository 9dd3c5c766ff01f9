"""Echo ends for the bus-hop benchmark, run in a separate process.

``Echo`` is a real barfinex Actor (uvloop, ZMQ fd on the loop, our decoder and
dispatch, in the polling mode its topology gives it): it re-publishes every
trade it receives. ``bare_echo`` is the peer: a plain pyzmq loop doing
recv -> send on the same transport. With a spin window it is the same peer
polling like our spin mode (NOBLOCK recv and sched_yield for up to that long
after each message, then a blocking recv): a like-for-like reference for the
spin mode, not the budget's peer.
"""
from __future__ import annotations

import os
import sys
import time

import zmq

from barfinex.runtime import Actor


class Echo(Actor):
    KIND = "DETECTOR"

    async def on_start(self) -> None:
        # The echo reuses the trade payload on its own channel: the benchmark
        # measures transport and dispatch, not a signal's content.
        self.subscribe("PROVIDER_MARKETDATA_TRADE", lambda ev: self.publish("DETECTOR_SIGNAL_UPDATED.bench", ev.msg))


def bare_echo(sub_endpoint: str, pub_endpoint: str, spin_us: int = 0) -> None:
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(pub_endpoint)
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(sub_endpoint)
    if spin_us:
        window, last, clock = spin_us * 1000, 0, time.monotonic_ns
        while True:
            try:
                msg = sub.recv(zmq.NOBLOCK)
            except zmq.Again:
                if clock() - last < window:
                    os.sched_yield()
                    continue
                msg = sub.recv()
            if msg == b"STOP":
                break
            pub.send(msg)
            last = clock()
    else:
        while True:
            msg = sub.recv()
            if msg == b"STOP":
                break
            pub.send(msg)
    pub.close()
    sub.close()
    ctx.term()


if __name__ == "__main__":
    bare_echo(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)

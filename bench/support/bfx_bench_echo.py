"""Echo ends for the bus-hop benchmark, run in a separate process.

``Echo`` is a real barfinex Actor (uvloop, ZMQ fd on the loop, our decoder and
dispatch): it re-publishes every trade it receives. ``bare_echo`` is the peer:
a plain pyzmq loop doing recv -> send on the same transport.
"""
from __future__ import annotations

import sys

import zmq

from barfinex.runtime import Actor


class Echo(Actor):
    KIND = "DETECTOR"

    async def on_start(self) -> None:
        # The echo reuses the trade payload on its own channel: the benchmark
        # measures transport and dispatch, not a signal's content.
        self.subscribe("PROVIDER_MARKETDATA_TRADE", lambda ev: self.publish("DETECTOR_SIGNAL_UPDATED.bench", ev.msg))


def bare_echo(sub_endpoint: str, pub_endpoint: str) -> None:
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(pub_endpoint)
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(sub_endpoint)
    while True:
        msg = sub.recv()
        if msg == b"STOP":
            break
        pub.send(msg)
    pub.close()
    sub.close()
    ctx.term()


if __name__ == "__main__":
    bare_echo(sys.argv[1], sys.argv[2])

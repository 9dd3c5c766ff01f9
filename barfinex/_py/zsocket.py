"""Pure-Python twin of barfinex/_fast/zsocket.pyx: same API, through pyzmq."""
from __future__ import annotations

import zmq


class NoWaitSocket:
    """One frame in or out of ``socket`` (a pyzmq Socket) without blocking.

    ``recv()`` returns the next frame as bytes, or None when nothing is
    queued; ``send(frame)`` queues one frame with NOBLOCK. Both raise
    zmq.ZMQError(ENOTSOCK) once the socket is closed.
    """

    __slots__ = ("socket",)

    def __init__(self, socket: zmq.Socket) -> None:
        if socket.closed:
            raise zmq.ZMQError(zmq.ENOTSOCK)
        self.socket = socket

    def recv(self) -> bytes | None:
        """The next frame (bytes), or None if none is queued."""
        try:
            return self.socket.recv(zmq.NOBLOCK)
        except zmq.Again:
            return None

    def send(self, frame: bytes) -> int:
        """Queue one frame; never blocks."""
        self.socket.send(frame, zmq.NOBLOCK)
        return 0

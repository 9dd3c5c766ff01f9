"""Request/reply: deadlines, retries with one idempotency key, no duplicate execution."""
from __future__ import annotations

import threading
import time

import pytest
import zmq

from barfinex.bus import Rejected, RpcClient, RpcError, RpcServer, RpcTimeout
from barfinex.bus.rpc import Reply, _dec_reply

pytestmark = pytest.mark.integration


class ServerThread:
    """A real ROUTER server on its own thread, with a slow handler that counts runs."""

    def __init__(self, endpoint: str, ctx: zmq.Context, delay: float) -> None:
        self.ctx, self.endpoint, self.delay = ctx, endpoint, delay
        self.executions = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self._ready.wait(5)

    def _place(self, params):
        self.executions += 1
        time.sleep(self.delay)   # a venue that answers slowly
        return {"order": params["client_order_id"], "run": self.executions}

    def _run(self) -> None:
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(self.endpoint)
        server = RpcServer(sock, "test")
        server.register("place", self._place)
        server.register("fail", lambda p: (_ for _ in ()).throw(ValueError("qty must be positive")))
        server.register("reject", lambda p: (_ for _ in ()).throw(
            Rejected("venue said no", object() if p.get("opaque") else p)))
        self.server = server
        self._ready.set()
        while not self._stop.is_set():
            if sock.poll(20):
                server.handle_frames(sock.recv_multipart())
        sock.close(linger=0)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)


@pytest.fixture
def endpoint(run_dir):
    return f"ipc://{run_dir}/rpc.sock"


def test_slow_reply_is_retried_but_executed_once(endpoint, zctx):
    # Each attempt waits 0.1 s; the handler takes 0.25 s: the client retries twice
    # with the same key, the server runs the handler once and answers every copy.
    server = ServerThread(endpoint, zctx, delay=0.25)
    try:
        with RpcClient(endpoint, ctx=zctx) as client:
            result = client.call("place", {"client_order_id": "abc"}, timeout=1.0, attempts=10, key="order-abc")
        assert result == {"order": "abc", "run": 1}
        assert server.executions == 1
        assert server.server.deduplicated >= 1
        # A later retry with the same key (a client that restarted) gets the stored reply.
        with RpcClient(endpoint, ctx=zctx) as client:
            again = client.call("place", {"client_order_id": "abc"}, timeout=1.0, key="order-abc")
        assert again == result and server.executions == 1
    finally:
        server.stop()


def test_errors_come_back_with_a_code(endpoint, zctx):
    server = ServerThread(endpoint, zctx, delay=0)
    try:
        with RpcClient(endpoint, ctx=zctx) as client:
            with pytest.raises(RpcError, match="qty must be positive") as info:
                client.call("fail", {}, timeout=2)
            assert info.value.code == "bad_request"
            with pytest.raises(RpcError, match="unknown method 'nope'; this server has: fail, place, reject"):
                client.call("nope", timeout=2)
            # A structured body travels as detail; one that cannot be encoded is
            # dropped and the error itself still arrives.
            with pytest.raises(RpcError, match="venue said no") as info:
                client.call("reject", {"code": -2010, "msg": "Duplicate order sent."}, timeout=2)
            assert info.value.code == "rejected"
            assert info.value.detail == {"code": -2010, "msg": "Duplicate order sent."}
            with pytest.raises(RpcError, match="venue said no") as info:
                client.call("reject", {"opaque": True}, timeout=2)
            assert info.value.code == "rejected" and info.value.detail is None
    finally:
        server.stop()


def test_garbage_request_gets_an_error_reply_and_server_lives(endpoint, zctx):
    server = ServerThread(endpoint, zctx, delay=0)
    try:
        dealer = zctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(endpoint)
        dealer.send(b"\xc1 not msgpack")
        assert dealer.poll(2000)
        reply: Reply = _dec_reply.decode(dealer.recv())
        assert not reply.ok and reply.code == "bad_request"
        dealer.close(linger=0)
        with RpcClient(endpoint, ctx=zctx) as client:
            assert client.call("place", {"client_order_id": "x"}, timeout=2)["run"] == 1
        assert server.server.bad_requests == 1
    finally:
        server.stop()


def test_no_server_times_out_with_a_clear_message(endpoint, zctx):
    with RpcClient(endpoint, ctx=zctx) as client:
        t0 = time.monotonic()
        with pytest.raises(RpcTimeout, match=r"no reply from ipc://.* within 0.3s \(3 attempts"):
            client.call("place", {}, timeout=0.3)
        assert time.monotonic() - t0 < 2

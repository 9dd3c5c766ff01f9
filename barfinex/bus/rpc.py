"""Request/reply over DEALER -> ROUTER: deadlines, retries that reuse the
idempotency key, and replies the server de-duplicates.

A retried request carries the same key, so the server runs its handler once
and answers every copy with the stored reply: an order is never sent twice to
the venue because a reply was slow.
"""
from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable

import msgspec
import zmq

from .sockets import dealer_socket

log = logging.getLogger("barfinex.rpc")


class Request(msgspec.Struct, array_like=True):
    id: int
    key: str            # idempotency key; the same on every retry
    method: str
    params: Any
    deadline_ns: int    # wall clock; the server drops a request past it


class Reply(msgspec.Struct, array_like=True):
    id: int
    key: str
    ok: bool
    result: Any = None
    error: str = ""
    code: str = ""      # machine-readable error class: bad_request, unknown_method, rejected, ...
    detail: Any = None  # structured error body, e.g. the exchange's own {"code", "msg"}


class RpcError(RuntimeError):
    """The server answered with an error: ``code`` its class, ``detail`` its
    structured body when the server gave one (e.g. the exchange's own error)."""

    def __init__(self, method: str, code: str, message: str, detail: Any = None) -> None:
        super().__init__(f"{method}: {message}")
        self.code = code
        self.detail = detail


class RpcTimeout(TimeoutError):
    """No reply before the deadline, after every retry."""


class _HandlerError(Exception):
    code = "error"

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.detail = detail    # goes to the caller as RpcError.detail: plain data only


class BadRequest(_HandlerError, ValueError):
    """Raise in a handler for a request whose params are wrong (code bad_request)."""

    code = "bad_request"


class Refused(_HandlerError, RuntimeError):
    """Raise in a handler to refuse a valid request for now (code refused), e.g.
    an order while the exchange connection is not ready."""

    code = "refused"


class Rejected(_HandlerError, RuntimeError):
    """Raise in a handler when a downstream system refused the request (code
    rejected), e.g. the exchange refused an order; put its own error body in
    ``detail``."""

    code = "rejected"


_enc = msgspec.msgpack.Encoder()
_dec_request = msgspec.msgpack.Decoder(Request)
_dec_reply = msgspec.msgpack.Decoder(Reply)
_ids = itertools.count(1)


def new_key() -> str:
    return os.urandom(12).hex()


Handler = Callable[[Any], Any | Awaitable[Any]]


class RpcServer:
    """Serves methods on a ROUTER socket, de-duplicating by idempotency key.

    Completed replies are kept (bounded, LRU) so a retry gets the stored answer;
    a retry that arrives while the first copy is still running waits for it.
    """

    def __init__(self, sock: zmq.Socket, name: str, cache_size: int = 10_000) -> None:
        self._sock = sock
        self._name = name
        self._handlers: dict[str, Handler] = {}
        self._done: OrderedDict[str, bytes] = OrderedDict()
        self._running: dict[str, list[bytes]] = {}   # key -> identities waiting
        self._cache_size = cache_size
        self.handled = 0
        self.deduplicated = 0
        self.bad_requests = 0
        self.expired = 0

    def register(self, method: str, handler: Handler) -> None:
        self._handlers[method] = handler

    def methods(self) -> list[str]:
        return sorted(self._handlers)

    def _send(self, identity: bytes, payload: bytes) -> None:
        try:
            self._sock.send_multipart([identity, payload], flags=zmq.NOBLOCK)
        except zmq.Again:
            log.warning("rpc %s: reply dropped, peer queue full", self._name)

    def _finish(self, req: Request, reply: Reply) -> None:
        payload = _enc.encode(reply)
        self._done[req.key] = payload
        if len(self._done) > self._cache_size:
            self._done.popitem(last=False)
        for identity in self._running.pop(req.key, ()):
            self._send(identity, payload)

    def handle_frames(self, frames: list[bytes]) -> Awaitable[None] | None:
        """Process one ROUTER message. Returns an awaitable when the handler is async."""
        if len(frames) != 2:
            self.bad_requests += 1
            log.warning("rpc %s: malformed request (%d frames), dropped", self._name, len(frames))
            return None
        identity, body = frames
        try:
            req = _dec_request.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.bad_requests += 1
            log.warning("rpc %s: undecodable request: %s", self._name, exc)
            self._send(identity, _enc.encode(Reply(0, "", False, error=f"undecodable request: {exc}",
                                                   code="bad_request")))
            return None
        stored = self._done.get(req.key)
        if stored is not None:
            self.deduplicated += 1
            self._done.move_to_end(req.key)
            self._send(identity, stored)
            return None
        if req.key in self._running:
            self.deduplicated += 1
            self._running[req.key].append(identity)
            return None
        if req.deadline_ns and time.time_ns() > req.deadline_ns:
            self.expired += 1
            log.info("rpc %s: %s expired before it was served, dropped", self._name, req.method)
            return None
        handler = self._handlers.get(req.method)
        if handler is None:
            self._send(identity, _enc.encode(Reply(req.id, req.key, False, code="unknown_method",
                       error=f"unknown method {req.method!r}; this server has: {', '.join(self.methods())}")))
            return None
        self._running[req.key] = [identity]
        self.handled += 1
        try:
            result = handler(req.params)
        except Exception as exc:  # a handler's failure is the caller's answer, not our crash
            self._finish(req, self._error_reply(req, exc))
            return None
        if inspect.isawaitable(result):
            return self._complete_async(req, result)
        self._finish(req, Reply(req.id, req.key, True, result))
        return None

    def _error_reply(self, req: Request, exc: Exception) -> Reply:
        code = getattr(exc, "code", None)
        if not isinstance(code, str) or not code:
            code = "bad_request" if isinstance(exc, (BadRequest, ValueError, TypeError, KeyError)) else "error"
        if code == "error":
            log.exception("rpc %s: %s failed", self._name, req.method)
        detail = exc.detail if isinstance(exc, _HandlerError) else None
        reply = Reply(req.id, req.key, False, error=str(exc) or type(exc).__name__, code=code, detail=detail)
        try:
            _enc.encode(reply)
        except (TypeError, ValueError):     # a detail that is not plain data must not lose the answer
            log.warning("rpc %s: %s error detail not encodable, dropped: %r", self._name, req.method, detail)
            reply.detail = None
        return reply

    async def _complete_async(self, req: Request, awaitable: Awaitable[Any]) -> None:
        try:
            reply = Reply(req.id, req.key, True, await awaitable)
        except Exception as exc:
            reply = self._error_reply(req, exc)
        self._finish(req, reply)


def _request_bytes(method: str, params: Any, key: str, timeout: float) -> tuple[int, bytes]:
    rid = next(_ids)
    deadline = time.time_ns() + int(timeout * 1e9)
    return rid, _enc.encode(Request(rid, key, method, params, deadline))


def _result(method: str, reply: Reply) -> Any:
    if not reply.ok:
        raise RpcError(method, reply.code, reply.error, reply.detail)
    return reply.result


class RpcClient:
    """Blocking client for tools and tests (the CLI's `status`, say)."""

    def __init__(self, endpoint: str, ctx: zmq.Context | None = None) -> None:
        self.endpoint = endpoint
        self._sock = dealer_socket(endpoint, ctx=ctx)

    def close(self) -> None:
        self._sock.close(linger=0)

    def __enter__(self) -> "RpcClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(self, method: str, params: Any = None, *, timeout: float = 2.0,
             attempts: int = 3, key: str | None = None) -> Any:
        """Call ``method``; each attempt waits timeout/attempts, all reuse one key."""
        key = key or new_key()
        per_try = timeout / max(1, attempts)
        _, body = _request_bytes(method, params, key, timeout)
        deadline = time.monotonic() + timeout
        for _ in range(max(1, attempts)):
            try:
                self._sock.send(body, flags=zmq.NOBLOCK)
            except zmq.Again:
                pass  # no peer connected yet: wait out this attempt, then retry
            try_end = min(deadline, time.monotonic() + per_try)
            while (left := try_end - time.monotonic()) > 0:
                if not self._sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                    break
                reply = _dec_reply.decode(self._sock.recv())
                if reply.key == key:
                    return _result(method, reply)
        raise RpcTimeout(f"{method}: no reply from {self.endpoint} within {timeout:.1f}s "
                         f"({attempts} attempts, key {key})")


class AsyncRpcClient:
    """Client for actors: same retry and key rules, on the actor's event loop."""

    def __init__(self, endpoint: str, loop: asyncio.AbstractEventLoop | None = None,
                 ctx: zmq.Context | None = None) -> None:
        self.endpoint = endpoint
        self._sock = dealer_socket(endpoint, ctx=ctx)
        self._loop = loop or asyncio.get_running_loop()
        self._waiting: dict[str, asyncio.Future] = {}
        self._loop.add_reader(self._sock.getsockopt(zmq.FD), self._drain)

    def close(self) -> None:
        self._loop.remove_reader(self._sock.getsockopt(zmq.FD))
        self._sock.close(linger=0)
        for fut in self._waiting.values():
            if not fut.done():
                fut.cancel()

    def _drain(self) -> None:
        # ZMQ_FD is edge-triggered: read until empty every time it fires.
        while self._sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            try:
                reply = _dec_reply.decode(self._sock.recv(zmq.NOBLOCK))
            except zmq.Again:
                return
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.warning("rpc client %s: undecodable reply: %s", self.endpoint, exc)
                continue
            fut = self._waiting.get(reply.key)
            if fut is not None and not fut.done():
                fut.set_result(reply)

    async def call(self, method: str, params: Any = None, *, timeout: float = 2.0,
                   attempts: int = 3, key: str | None = None) -> Any:
        key = key or new_key()
        per_try = timeout / max(1, attempts)
        _, body = _request_bytes(method, params, key, timeout)
        fut = self._loop.create_future()
        self._waiting[key] = fut
        try:
            for _ in range(max(1, attempts)):
                try:
                    self._sock.send(body, flags=zmq.NOBLOCK)
                except zmq.Again:
                    pass
                # A send can consume the edge the reader waits for: drain now.
                self._loop.call_soon(self._drain)
                try:
                    reply = await asyncio.wait_for(asyncio.shield(fut), per_try)
                    return _result(method, reply)
                except asyncio.TimeoutError:
                    continue
            raise RpcTimeout(f"{method}: no reply from {self.endpoint} within {timeout:.1f}s "
                             f"({attempts} attempts, key {key})")
        finally:
            self._waiting.pop(key, None)

"""ZeroMQ sockets with every option set on purpose.

One context per process, made lazily after the process starts (a context made
before fork is shared by accident). Every socket closes with linger 0: an
actor that stops must never hang on undelivered messages.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import zmq

# PUB drops at the high-water mark rather than block the hot path; subscribers
# see the loss as a sequence gap. 100k trade-sized frames is ~10 MB a socket.
PUB_SNDHWM = 100_000
SUB_RCVHWM = 100_000
# Request/reply queues stay small: a backlog of stale orders is worse than a refusal.
RPC_HWM = 1_000

_ctx: zmq.Context | None = None
_ctx_pid: int | None = None
_lock = threading.Lock()


def context() -> zmq.Context:
    """This process's one ZeroMQ context (re-made after a fork)."""
    global _ctx, _ctx_pid
    with _lock:
        if _ctx is None or _ctx_pid != os.getpid():
            _ctx = zmq.Context(io_threads=1)
            _ctx_pid = os.getpid()
        return _ctx


def term_context(timeout_ms: int = 2_000) -> None:
    """Close this process's context. Sockets must already be closed with linger 0."""
    global _ctx
    with _lock:
        if _ctx is not None and _ctx_pid == os.getpid():
            _ctx.destroy(linger=0)
        _ctx = None


def ipc_path(endpoint: str) -> Path | None:
    return Path(endpoint[len("ipc://"):]) if endpoint.startswith("ipc://") else None


def _prepare_bind(endpoint: str) -> None:
    path = ipc_path(endpoint)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def pub_socket(endpoint: str, *, bind: bool = True, ctx: zmq.Context | None = None) -> zmq.Socket:
    sock = (ctx or context()).socket(zmq.PUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, PUB_SNDHWM)
    if bind:
        _prepare_bind(endpoint)
        sock.bind(endpoint)
    else:
        sock.connect(endpoint)
    return sock


def sub_socket(endpoints: list[str], prefixes: list[bytes], *, ctx: zmq.Context | None = None) -> zmq.Socket:
    sock = (ctx or context()).socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, SUB_RCVHWM)
    for p in prefixes:
        sock.setsockopt(zmq.SUBSCRIBE, p)
    for ep in endpoints:
        sock.connect(ep)
    return sock


def router_socket(endpoint: str, *, ctx: zmq.Context | None = None) -> zmq.Socket:
    sock = (ctx or context()).socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, RPC_HWM)
    sock.setsockopt(zmq.RCVHWM, RPC_HWM)
    # A reply to a peer that went away is dropped, not an error.
    sock.setsockopt(zmq.ROUTER_MANDATORY, 0)
    _prepare_bind(endpoint)
    sock.bind(endpoint)
    return sock


def dealer_socket(endpoint: str, *, ctx: zmq.Context | None = None) -> zmq.Socket:
    sock = (ctx or context()).socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, RPC_HWM)
    sock.setsockopt(zmq.RCVHWM, RPC_HWM)
    # No ZMQ_IMMEDIATE: a request sent before the connection is up is queued
    # and delivered once it is. One that waits too long is dropped by the
    # server (past its deadline), and retries are de-duplicated by key.
    sock.connect(endpoint)
    return sock

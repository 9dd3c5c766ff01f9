"""The actor base class: lifecycle, sockets, heartbeats, control, dispatch.

An actor is one OS process running one asyncio loop on uvloop. It binds a PUB
socket (its events) and a ROUTER socket (control and requests), connects one
SUB socket to the actors it subscribes to, and reads sockets straight from the
loop's epoll via the ZeroMQ file descriptor: no extra thread.

Polling mode (the topology's ``poll``): in ``spin`` mode, after handling
events the actor keeps polling its SUB socket for a bounded, adaptive window
(barfinex.runtime.polling) before it sleeps in epoll again. Each poll is one
turn of the event loop (timers, control and signals are served between
polls) and yields the CPU, so the ZeroMQ I/O thread and other processes on
the core go first. ``epoll`` mode always sleeps. bench/RESULTS.md (Bus) has
the measurements behind the default.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import socket
import time
from typing import Any, Callable

import msgspec
import uvloop
import zmq

from barfinex import backend
from barfinex.bus import Publisher, Receiver, RpcServer, sockets
from barfinex.bus.subscriber import Event
from barfinex.model import ActorState, ActorStatus, BusGap, Codec, Heartbeat, Message, actor_topic
from barfinex.model.codec import to_builtins

from .lifecycle import Lifecycle, Trigger
from .polling import AdaptiveSpin
from .topology import ActorSpec, Topology

# Frames read per wake-up before yielding to other tasks (timers, control).
DRAIN_BATCH = 1024

NoWaitSocket = backend.load("zsocket").NoWaitSocket

Handler = Callable[[Event], Any]


class Actor:
    """Subclass, set KIND, and override on_start / on_stop / on_reload."""

    KIND = "SUPERVISOR"

    def __init__(self, spec: ActorSpec, topology: Topology, config: dict | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.topology = topology
        self.config = config or {}
        self.config_doc = None          # the parsed file, when it came from one (see launch)
        self.log = logging.getLogger(f"barfinex.{self.name}")
        self.lifecycle = Lifecycle(self._state_changed)
        self.codec = Codec()
        self.receiver = Receiver(self.codec, on_gap=self._report_gap)
        self.handler_errors = 0
        self._handlers: list[tuple[bytes, Handler]] = []
        self._stop: asyncio.Event | None = None  # made on the loop
        self._started_wall_ns = time.time_ns()
        self._started_mono_ns = time.monotonic_ns()
        self._last_heartbeat_ns = 0
        self._tasks: set[asyncio.Task] = set()
        self._sub: zmq.Socket | None = None
        self._sub_io = None             # NoWaitSocket over _sub
        # Spin mode: the adaptive window, whether a spin phase is under way,
        # and when the last event was handled (monotonic ns).
        self.spin = AdaptiveSpin(spec.spin_us * 1000) if spec.poll == "spin" else None
        self._spinning = False
        self._active_ns = 0
        self.spin_hits = 0              # events a spin phase caught (no wake-up)
        self.spin_misses = 0            # spin phases that ended with nothing
        self.wakeups = 0                # epoll wake-ups that brought events
        self.loop: asyncio.AbstractEventLoop | None = None
        self.exit_code = 0

    # ------------------------------------------------------------ for subclasses
    async def on_start(self) -> None:
        """Open connections, subscribe, warm up. Raise to fail the start."""

    async def on_stop(self) -> None:
        """Release what on_start opened. Bounded by the topology's stop timeout."""

    def health(self) -> dict[str, Any]:
        """Actor-specific counters for ``status`` (``barfinex status`` shows
        them): ``{section: {name: {counter: value}}}``, plain data only."""
        return {}

    async def on_reload(self) -> str:
        """Re-read configuration; return a line saying what changed."""
        return "nothing to reload"

    def load_config(self, schema: type):
        """This actor's config validated against a msgspec Struct schema; a
        ConfigError names the file, line and column of anything wrong."""
        if self.config_doc is not None:
            return self.config_doc.convert(schema)
        return msgspec.convert(self.config, schema)

    def subscribe(self, prefix: str, handler: Handler) -> None:
        """Call ``handler(event)`` for every event whose topic starts with ``prefix``
        from the actors this one subscribes to in the topology."""
        if self._sub is None:
            raise RuntimeError(f"{self.name} subscribes to no actor in {self.topology.path}")
        p = prefix.encode()
        self._sub.setsockopt(zmq.SUBSCRIBE, p)
        self._handlers.append((p, handler))

    def publish(self, topic: str, msg: Message, **kw) -> bytes:
        return self.publisher.publish(topic, msg, **kw)

    def spawn(self, coro) -> asyncio.Task:
        """Run a background task whose failure is logged, never silent."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def request_stop(self, why: str = "") -> None:
        if self._stop is not None and not self._stop.is_set():
            self.log.info("stopping%s", f" ({why})" if why else "")
            self._stop.set()

    @property
    def state(self) -> ActorState:
        return self.lifecycle.state

    # ------------------------------------------------------------------ running
    def run(self) -> int:
        """Run until stopped; returns the process exit code."""
        return uvloop.run(self._main())

    async def _main(self) -> int:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(sig, self.request_stop, signal.Signals(sig).name)
        self.lifecycle.fire(Trigger.START)
        try:
            self._open_sockets()
            await self.on_start()
        except Exception:
            self.log.exception("failed to start")
            self.lifecycle.fire(Trigger.FAULT)
            self._close_sockets()
            return 1
        if self._stop.is_set():  # a signal arrived while starting
            return await self._shutdown()
        self.lifecycle.fire(Trigger.STARTED)
        self.spawn(self._heartbeat_loop())
        self.log.info("running: pub %s, control %s, pid %d", self.spec.pub, self.spec.control, os.getpid())
        await self._stop.wait()
        return await self._shutdown()

    async def _shutdown(self) -> int:
        self.lifecycle.fire(Trigger.STOP)
        self._publish_heartbeat()  # say STOPPING to whoever watches
        try:
            await asyncio.wait_for(self.on_stop(), self.topology.stop_timeout_s * 0.6)
        except asyncio.TimeoutError:
            self.log.error("on_stop did not finish in time; closing anyway")
        except Exception:
            self.log.exception("on_stop failed; closing anyway")
        for task in list(self._tasks):
            task.cancel()
        self._close_sockets()
        self.lifecycle.fire(Trigger.STOPPED)
        self.log.info("stopped (in %d, out %d, gaps %d, bad frames %d; poll %s: %d wake-ups, %d spin hits, "
                      "%d spin misses)", self.receiver.received,
                      self.publisher.sent if hasattr(self, "publisher") else 0,
                      self.receiver.seq.gaps, self.receiver.bad_frames, self.spec.poll,
                      self.wakeups, self.spin_hits, self.spin_misses)
        return self.exit_code

    def _open_sockets(self) -> None:
        ctx = sockets.context()
        self._pub = sockets.pub_socket(self.spec.pub, ctx=ctx)
        self.publisher = Publisher(self._pub, self.KIND, self.name, self.codec.encode)
        self._ctl = sockets.router_socket(self.spec.control, ctx=ctx)
        self.rpc = RpcServer(self._ctl, self.name)
        for method, fn in (("status", self._cmd_status), ("stop", self._cmd_stop),
                           ("reload", self._cmd_reload), ("ping", lambda _: "pong")):
            self.rpc.register(method, fn)
        self.loop.add_reader(self._ctl.getsockopt(zmq.FD), self._drain_control)
        if self.spec.subscribe:
            eps = self.topology.pub_endpoints(list(self.spec.subscribe))
            self._sub = sockets.sub_socket(eps, [], ctx=ctx)
            self._sub_io = NoWaitSocket(self._sub)
            self._sub_origin = "SUB " + ",".join(self.spec.subscribe)
            self._active_ns = time.monotonic_ns()
            self.loop.add_reader(self._sub.getsockopt(zmq.FD), self._drain_sub)

    def _close_sockets(self) -> None:
        for name in ("_ctl", "_sub", "_pub"):
            sock = getattr(self, name, None)
            if sock is None or sock.closed:
                continue
            if name != "_pub":
                try:
                    self.loop.remove_reader(sock.getsockopt(zmq.FD))
                except (zmq.ZMQError, ValueError):
                    pass
            sock.close(linger=0)
        sockets.term_context()

    # -------------------------------------------------------------- dispatching
    def _drain_sub(self) -> None:
        """The SUB socket's fd is readable: epoll woke us (or a drain was cut short)."""
        sock = self._sub
        if sock is None or sock.closed:
            return
        woke_ns = time.monotonic_ns()
        n = self._drain()
        if n == 0:
            return          # a command for the socket, not an event
        self.wakeups += 1
        spin = self.spin
        if spin is not None and not self._spinning:
            spin.woke_after(woke_ns - self._active_ns)
        self._active_ns = time.monotonic_ns()
        if n == DRAIN_BATCH:
            # More may be queued: the edge will not fire again, so come back soon.
            self.loop.call_soon(self._drain_sub)
        elif spin is not None and not self._spinning and spin.window_ns:
            self._spinning = True
            self.loop.call_soon(self._spin_step)

    def _spin_step(self) -> None:
        """One poll of a spin phase: yield the CPU, take what arrived, and
        come back next loop turn until the window passes with nothing."""
        sock = self._sub
        if sock is None or sock.closed or self._stop.is_set():
            self._spinning = False
            return
        os.sched_yield()
        if self._drain():
            self.spin_hits += 1
            self._active_ns = time.monotonic_ns()
        elif time.monotonic_ns() - self._active_ns >= self.spin.window_ns:
            self._spinning = False
            self.spin_misses += 1
            return
        self.loop.call_soon(self._spin_step)

    def _drain(self) -> int:
        """Handle what is queued on the SUB socket (at most DRAIN_BATCH frames);
        returns how many frames were read."""
        recv, feed, origin, handlers = self._sub_io.recv, self.receiver.feed, self._sub_origin, self._handlers
        n = 0
        while n < DRAIN_BATCH:
            raw = recv()
            if raw is None:
                break
            n += 1
            event = feed(raw, origin)
            if event is None:
                continue
            topic = event.header.topic
            for prefix, handler in handlers:
                if topic.startswith(prefix):
                    try:
                        result = handler(event)
                        if result is not None and inspect.isawaitable(result):
                            self.spawn(result)
                    except Exception:
                        self.handler_errors += 1
                        self.log.exception("handler for %s failed (event skipped, actor carries on)",
                                           event.topic)
        return n

    def _drain_control(self) -> None:
        sock = self._ctl
        if sock.closed:
            return
        while True:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            pending = self.rpc.handle_frames(frames)
            if pending is not None:
                task = self.spawn(pending)
                # The reply is sent later, which can eat the read edge: re-drain then.
                task.add_done_callback(lambda _t: self.loop.call_soon(self._drain_control))

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("background task failed: %r", task.exception(), exc_info=task.exception())

    # ---------------------------------------------------------------- heartbeat
    async def _heartbeat_loop(self) -> None:
        interval = self.topology.heartbeat_ms / 1000
        parent = os.getppid()
        supervised = os.environ.get("BARFINEX_SUPERVISED") == "1"
        while True:
            self._publish_heartbeat()
            if supervised and os.getppid() != parent:
                self.request_stop("supervisor went away")
            await asyncio.sleep(interval)

    def _heartbeat(self) -> Heartbeat:
        return Heartbeat(
            actor=self.name, kind=self.KIND, state=self.state, pid=os.getpid(), host=socket.gethostname(),
            started_ns=self._started_wall_ns, uptime_ns=time.monotonic_ns() - self._started_mono_ns,
            msgs_in=self.receiver.received, msgs_out=self.publisher.sent, gaps=self.receiver.seq.gaps,
            bad_frames=self.receiver.bad_frames, interval_ms=self.topology.heartbeat_ms)

    def _publish_heartbeat(self) -> None:
        if not hasattr(self, "publisher") or self._pub.closed:
            return
        self.publisher.publish(actor_topic(f"{self.KIND}_HEARTBEAT", self.name), self._heartbeat())
        self._last_heartbeat_ns = time.monotonic_ns()

    def _report_gap(self, gap: BusGap) -> None:
        self.publisher.publish(actor_topic(f"{self.KIND}_BUS_GAP", self.name), gap)

    def _state_changed(self, old: ActorState, new: ActorState) -> None:
        self.log.debug("state %s -> %s", old.name, new.name)

    # ------------------------------------------------------------------ control
    def status(self) -> ActorStatus:
        hb = self._heartbeat()
        age = (time.monotonic_ns() - self._last_heartbeat_ns) / 1e9 if self._last_heartbeat_ns else -1.0
        return ActorStatus(
            actor=hb.actor, kind=hb.kind, state=hb.state, pid=hb.pid, host=hb.host,
            uptime_s=hb.uptime_ns / 1e9, heartbeat_age_s=age, msgs_in=hb.msgs_in,
            msgs_out=hb.msgs_out, gaps=hb.gaps, bad_frames=hb.bad_frames, health=self._safe_health())

    def _safe_health(self) -> dict[str, Any]:
        # A bug in a health() override must not cost the operator the status reply.
        try:
            return self.health()
        except Exception as exc:
            self.log.exception("health() failed")
            return {"error": {"health": {"error": f"{type(exc).__name__}: {exc}"}}}

    def _cmd_status(self, _params: Any) -> dict:
        return to_builtins(self.status())

    def _cmd_stop(self, _params: Any) -> str:
        # Stop after the reply is on its way.
        self.loop.call_soon(self.request_stop, "stop command")
        return "stopping"

    async def _cmd_reload(self, _params: Any) -> str:
        return await self.on_reload()

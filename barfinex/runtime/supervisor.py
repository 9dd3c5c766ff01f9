"""The supervisor behind `barfinex up`: spawns every actor of a topology as its
own OS process, waits for each to report RUNNING, restarts a crashed actor
with backoff and jitter, gives up on a crash loop, and stops everything
within the topology's stop timeout on Ctrl-C or SIGTERM.

Actors run in their own session so a terminal's Ctrl-C reaches only the
supervisor, which then stops them in order; each child also gets
PR_SET_PDEATHSIG so it dies with a supervisor that was killed outright.
"""
from __future__ import annotations

import ctypes
import logging
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import zmq

from barfinex.bus import Receiver, RpcClient, RpcServer, RpcTimeout, Publisher, sockets
from barfinex.model import SOURCES, ActorState, ActorStatus, Codec, Heartbeat, actor_topic
from barfinex.model.codec import to_builtins

from .topology import Topology

log = logging.getLogger("barfinex.supervisor")
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class AlreadyRunning(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    proc: subprocess.Popen | None = None
    started_mono: float = 0.0
    last_beat: Heartbeat | None = None
    last_beat_mono: float = 0.0
    restarts: int = 0
    crashes: list[float] = field(default_factory=list)
    restart_at: float | None = None
    last_exit: int | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    def __init__(self, topology: Topology, *, python: str = sys.executable) -> None:
        self.topology = topology
        self.python = python
        self.children = {name: Child(name) for name in topology.actors}
        self._stop_reason: str | None = None
        self._codec = Codec()
        self._receiver = Receiver(self._codec)
        self.exit_code = 0

    # ------------------------------------------------------------------ set-up
    def _check_not_running(self) -> None:
        ctl = sockets.ipc_path(self.topology.supervisor_control)
        if ctl is not None and not ctl.exists():
            return
        try:
            with RpcClient(self.topology.supervisor_control) as c:
                pid = c.call("ping", timeout=0.6, attempts=1)
        except RpcTimeout:
            return  # a stale socket file from a run that was killed outright
        raise AlreadyRunning(f"topology {self.topology.name!r} is already running "
                             f"(supervisor pid {pid}); stop it first, or use another run_dir")

    def _clean_run_dir(self) -> None:
        for ep in self.topology.endpoints():
            path = sockets.ipc_path(ep)
            if path is not None:
                path.unlink(missing_ok=True)

    def _open(self) -> None:
        ctx = sockets.context()
        self._ctl = sockets.router_socket(self.topology.supervisor_control, ctx=ctx)
        self._pub = sockets.pub_socket(self.topology.supervisor_pub, ctx=ctx)
        self._publisher = Publisher(self._pub, "SUPERVISOR", "supervisor", self._codec.encode)
        self._sub = sockets.sub_socket(self.topology.pub_endpoints(),
                                       [f"{k}_HEARTBEAT.".encode() for k in SOURCES], ctx=ctx)
        self._rpc = RpcServer(self._ctl, "supervisor")
        self._rpc.register("ping", lambda _: os.getpid())
        self._rpc.register("status", lambda _: [to_builtins(s) for s in self.statuses()])
        self._rpc.register("stop", self._cmd_stop)
        self._poller = zmq.Poller()
        self._poller.register(self._ctl, zmq.POLLIN)
        self._poller.register(self._sub, zmq.POLLIN)

    def _close(self) -> None:
        for sock in (self._ctl, self._pub, self._sub):
            sock.close(linger=0)
        sockets.term_context()
        self._clean_run_dir()

    def _cmd_stop(self, _params) -> str:
        self._stop_reason = "stop command"
        return "stopping"

    # ---------------------------------------------------------------- children
    def _spawn(self, child: Child) -> None:
        cmd = [self.python, "-m", "barfinex", "actor", child.name, "-t", str(self.topology.path)]
        env = dict(os.environ, BARFINEX_SUPERVISED="1")
        child.proc = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=_die_with_parent)
        child.started_mono = time.monotonic()
        child.last_beat = None
        child.restart_at = None
        log.info("started %s (pid %d)", child.name, child.proc.pid)
        self._announce(child)

    def _announce(self, child: Child) -> None:
        status = self._status_of(child)
        self._publisher.publish(actor_topic("SUPERVISOR_ACTOR_STATE", child.name), status)

    def _on_exit(self, child: Child, now: float) -> None:
        code = child.proc.returncode
        child.last_exit = code
        child.crashes = [t for t in child.crashes if now - t < self.topology.restart.window_s] + [now]
        policy = self.topology.restart
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        if len(child.crashes) > policy.max_restarts:
            log.error("%s crashed %d times in %.0fs (last: %s); giving up and stopping the topology. "
                      "Run `barfinex actor %s -t %s` alone to see why it fails.",
                      child.name, len(child.crashes), policy.window_s, how, child.name, self.topology.path)
            self.exit_code = 1
            self._stop_reason = f"{child.name} is crash-looping"
            child.proc = None
            self._announce(child)
            return
        backoff = min(policy.max_backoff_ms, policy.backoff_ms * 2 ** (len(child.crashes) - 1)) / 1000
        backoff *= random.uniform(0.8, 1.2)  # jitter: restarts of several actors do not align
        child.restart_at = now + backoff
        log.warning("%s exited (%s); restarting in %.2fs (crash %d of %d allowed in %.0fs)",
                    child.name, how, backoff, len(child.crashes), policy.max_restarts, policy.window_s)
        child.proc = None
        self._announce(child)

    def _status_of(self, child: Child) -> ActorStatus:
        now = time.monotonic()
        beat = child.last_beat
        if child.alive and beat is not None:
            return ActorStatus(
                actor=child.name, kind=beat.kind, state=beat.state, pid=beat.pid, host=beat.host,
                uptime_s=beat.uptime_ns / 1e9 + (now - child.last_beat_mono),
                heartbeat_age_s=now - child.last_beat_mono, msgs_in=beat.msgs_in,
                msgs_out=beat.msgs_out, gaps=beat.gaps, bad_frames=beat.bad_frames,
                restarts=child.restarts)
        if child.alive:
            detail, state = "starting, no heartbeat yet", ActorState.STARTING
        elif child.restart_at is not None:
            detail, state = f"exited ({child.last_exit}); restart in {max(0, child.restart_at - now):.1f}s", \
                ActorState.FAULTED
        else:
            detail, state = ("gave up after a crash loop" if child.last_exit is not None else "not running"), \
                ActorState.STOPPED if child.last_exit is None else ActorState.FAULTED
        return ActorStatus(actor=child.name, kind="?", state=state,
                           pid=child.proc.pid if child.proc else 0, host="", uptime_s=0.0,
                           heartbeat_age_s=-1.0, msgs_in=0, msgs_out=0, gaps=0, bad_frames=0,
                           restarts=child.restarts, detail=detail)

    def statuses(self) -> list[ActorStatus]:
        return [self._status_of(c) for c in self.children.values()]

    # -------------------------------------------------------------------- loop
    def _pump(self, timeout_ms: int) -> None:
        events = dict(self._poller.poll(timeout_ms))
        if self._sub in events:
            while True:
                try:
                    raw = self._sub.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                ev = self._receiver.feed(raw, "SUB heartbeats")
                if ev is not None and isinstance(ev.msg, Heartbeat):
                    child = self.children.get(ev.msg.actor)
                    if child is not None and child.alive and ev.msg.pid == child.proc.pid:
                        child.last_beat, child.last_beat_mono = ev.msg, time.monotonic()
        if self._ctl in events:
            while True:
                try:
                    frames = self._ctl.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._rpc.handle_frames(frames)

    def _signal(self, signum, _frame) -> None:
        self._stop_reason = signal.Signals(signum).name

    def run(self) -> int:
        self._check_not_running()
        self._clean_run_dir()
        self.topology.run_dir.mkdir(parents=True, exist_ok=True)
        old = {s: signal.signal(s, self._signal) for s in (signal.SIGINT, signal.SIGTERM)}
        self._open()
        try:
            if self._start_all():
                log.info("topology %r running: %s. Ctrl-C stops it; `barfinex status` shows it.",
                         self.topology.name, ", ".join(self.children))
                self._watch()
        finally:
            self._stop_all()
            self._close()
            for s, h in old.items():
                signal.signal(s, h)
        return self.exit_code

    def _start_all(self) -> bool:
        for child in self.children.values():
            self._spawn(child)
        deadline = time.monotonic() + self.topology.startup_timeout_s
        waiting = set(self.children)
        while waiting and self._stop_reason is None:
            self._pump(100)
            for name in list(waiting):
                child = self.children[name]
                if child.proc.poll() is not None:
                    log.error("%s exited during start-up (exit code %s); see its log above",
                              name, child.proc.returncode)
                    self.exit_code = 1
                    return False
                if child.last_beat is not None and child.last_beat.state == ActorState.RUNNING:
                    waiting.discard(name)
                    log.info("%s is running (pid %d)", name, child.proc.pid)
                    self._announce(child)
            if time.monotonic() > deadline:
                log.error("start-up timed out after %.0fs waiting for %s", self.topology.startup_timeout_s,
                          ", ".join(sorted(waiting)))
                self.exit_code = 1
                return False
        return self._stop_reason is None

    def _watch(self) -> None:
        while self._stop_reason is None:
            self._pump(200)
            now = time.monotonic()
            for child in self.children.values():
                if child.proc is not None and child.proc.poll() is not None:
                    self._on_exit(child, now)
                elif child.proc is None and child.restart_at is not None and now >= child.restart_at \
                        and self._stop_reason is None:
                    child.restarts += 1
                    self._spawn(child)
        log.info("stopping topology %r (%s)", self.topology.name, self._stop_reason)

    def _stop_all(self) -> None:
        live = [c for c in self.children.values() if c.alive]
        for child in reversed(live):  # the last started stops first
            child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.topology.stop_timeout_s
        while any(c.alive for c in live) and time.monotonic() < deadline:
            time.sleep(0.02)
        for child in live:
            if child.alive:
                log.warning("%s did not stop within %.1fs; killing it", child.name, self.topology.stop_timeout_s)
                child.proc.kill()
        for child in live:
            if child.proc is not None:
                try:
                    child.proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    log.error("%s (pid %d) would not die", child.name, child.proc.pid)
        log.info("all actors stopped")

"""Upstream liveness: follow other actors' heartbeats, say when one goes silent.

An actor that acts on another's output must know when that output stopped
coming. Silence is judged on the monotonic clock, against three heartbeat
intervals, and logged once when it starts and once when it ends.
"""
from __future__ import annotations

import asyncio
import time

from barfinex.model import Heartbeat

SILENT_AFTER_BEATS = 3


class UpstreamWatch:
    def __init__(self, actor, *prefixes: str) -> None:
        self.actor = actor
        self.last_seen: dict[str, int] = {}   # actor name -> monotonic ns
        self.silent: set[str] = set()
        for p in prefixes:
            actor.subscribe(p, self._beat)
        actor.spawn(self._check())

    def _beat(self, event) -> None:
        msg = event.msg
        if not isinstance(msg, Heartbeat):
            return
        self.last_seen[msg.actor] = time.monotonic_ns()
        if msg.actor in self.silent:
            self.silent.discard(msg.actor)
            self.actor.log.info("%s is back (heartbeat received)", msg.actor)

    async def _check(self) -> None:
        interval = self.actor.topology.heartbeat_ms / 1000
        limit_ns = int(SILENT_AFTER_BEATS * interval * 1e9)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic_ns()
            for name, seen in self.last_seen.items():
                if name not in self.silent and now - seen > limit_ns:
                    self.silent.add(name)
                    self.actor.log.warning("%s is silent: no heartbeat for %.1fs", name, (now - seen) / 1e9)

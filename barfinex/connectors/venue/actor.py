"""The replay venue as a supervised process of a topology (the demo's exchange).

Config (the `config:` file its topology names)::

    port: 8765          # loopback port; the Provider's connector points here
    speed: 1.0          # 1 = recorded pace
    loop: true          # start over at the end (clients resync)
    captures: []        # default: the real data shipped in barfinex.datasets
    hold: false         # true: each market waits at its first message until a client subscribes
"""
from __future__ import annotations

import msgspec

from barfinex.runtime import Actor

from .server import Venue


class _VenueConfig(msgspec.Struct, forbid_unknown_fields=True):
    port: int = 8765
    speed: float = 1.0
    loop: bool = True
    captures: list[str] = msgspec.field(default_factory=list)
    hold: bool = False


class VenueActor(Actor):
    KIND = "VENUE"

    async def on_start(self) -> None:
        cfg = self.load_config(_VenueConfig)
        base = self.spec.config_path.parent if self.spec.config_path else None
        captures = [str(base / c) if base else c for c in cfg.captures] or None
        self.venue = Venue(captures, speed=cfg.speed, loop=cfg.loop, port=cfg.port, hold=cfg.hold)
        port = await self.venue.start()
        self.log.info("replay venue on http://127.0.0.1:%d (speed %s, loop %s)", port, cfg.speed, cfg.loop)

    async def on_stop(self) -> None:
        await self.venue.stop()

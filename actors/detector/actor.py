"""Detector: YAML strategies compiled to Cython, scored signals (issue 5).

Today it runs the actor runtime and follows Provider's heartbeat, so a
Detector that loses its Provider says so in its log.
"""
from barfinex.runtime import Actor
from barfinex.runtime.watch import UpstreamWatch


class Detector(Actor):
    KIND = "DETECTOR"

    async def on_start(self) -> None:
        self.upstream = UpstreamWatch(self, "PROVIDER_HEARTBEAT")

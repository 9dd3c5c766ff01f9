"""Advisor: the 8-stage decision pipeline from signal to execution intent.

Today it runs the actor runtime and follows Detector's heartbeat.
"""
from barfinex.runtime import Actor
from barfinex.runtime.watch import UpstreamWatch


class Advisor(Actor):
    KIND = "ADVISOR"

    async def on_start(self) -> None:
        self.upstream = UpstreamWatch(self, "DETECTOR_HEARTBEAT")

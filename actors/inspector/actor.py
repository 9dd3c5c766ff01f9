"""Inspector: the risk governor (sizing, limits, kill switch, protective stops).

Today it runs the actor runtime and follows Advisor's and Provider's heartbeats.
"""
from barfinex.runtime import Actor
from barfinex.runtime.watch import UpstreamWatch


class Inspector(Actor):
    KIND = "INSPECTOR"

    async def on_start(self) -> None:
        self.upstream = UpstreamWatch(self, "ADVISOR_HEARTBEAT", "PROVIDER_HEARTBEAT")

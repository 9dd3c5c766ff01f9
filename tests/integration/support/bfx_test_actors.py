"""Actors used only by the integration tests (loaded by dotted path from a
topology, exactly like the real ones)."""
from __future__ import annotations

import os

from barfinex.model import MarketType, RiskEvent, RiskSeverity, Side, Trade, actor_topic
from barfinex.runtime import Actor


class Echo(Actor):
    """Subscribes to PROVIDER trades and counts them; answers `seen` over control."""

    KIND = "DETECTOR"

    async def on_start(self) -> None:
        self.seen: list[int] = []
        self.beats = 0
        self.subscribe("PROVIDER_MARKETDATA_TRADE", self._trade)
        self.subscribe("PROVIDER_HEARTBEAT", self._beat)
        self.rpc.register("seen", lambda _p: {"trade_ids": self.seen, "bad_frames": self.receiver.bad_frames,
                                               "beats": self.beats,
                                               "gaps": self.receiver.seq.gaps,
                                               "missing": self.receiver.seq.missing})
        self.rpc.register("poll", lambda _p: {"mode": self.spec.poll, "spinning": self._spinning,
                                               "window_ns": self.spin.window_ns if self.spin else 0,
                                               "wakeups": self.wakeups, "spin_hits": self.spin_hits,
                                               "spin_misses": self.spin_misses})

    def _beat(self, _event) -> None:
        self.beats += 1

    def _trade(self, event) -> None:
        self.seen.append(event.msg.trade_id)


class TradeSource(Actor):
    """Publishes trades on request (control method `emit`), skipping ids on purpose."""

    KIND = "PROVIDER"

    async def on_start(self) -> None:
        self.rpc.register("emit", self._emit)

    def _emit(self, params: dict) -> int:
        topic = "PROVIDER_MARKETDATA_TRADE.binance.usdm.BTCUSDT"
        skip = set(params.get("skip", ()))
        for i in range(1, params["n"] + 1):
            msg = Trade("binance", MarketType.USDM, "BTCUSDT", i, 6_000_000 + i, 10, 2, 3, Side.BUY, 0)
            if i in skip:
                # Consume the sequence number without sending: a message lost on the wire.
                self.publisher._topics.setdefault(topic, [topic.encode(), 0])[1] += 1
                continue
            self.publish(topic, msg)
        return params["n"]


class CrashOnStart(Actor):
    KIND = "INSPECTOR"

    async def on_start(self) -> None:
        raise RuntimeError("configured to fail at start-up")


class Quiet(Actor):
    KIND = "ADVISOR"


class SlowStop(Actor):
    """Ignores the first stop for longer than the stop timeout (the supervisor must kill it)."""

    KIND = "ADVISOR"

    async def on_stop(self) -> None:
        import asyncio
        await asyncio.sleep(float(os.environ.get("SLOW_STOP_S", "30")))


class KillSwitch(Actor):
    """An Inspector stand-in: control method `kill` {scope, engaged} publishes
    INSPECTOR_RISK_KILL_SWITCH as the Inspector does."""

    KIND = "INSPECTOR"

    async def on_start(self) -> None:
        self.rpc.register("kill", self._kill)

    def _kill(self, params: dict) -> str:
        kind = "engaged" if params["engaged"] else "released"
        self.publish(actor_topic("INSPECTOR_RISK_KILL_SWITCH", self.name),
                     RiskEvent(kind, RiskSeverity.KILL, params["scope"], params.get("message", "test")))
        return kind

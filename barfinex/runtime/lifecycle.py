"""The actor lifecycle: one table keyed by (state, trigger)."""
from __future__ import annotations

from enum import Enum

from barfinex.model import ActorState as S


class Trigger(Enum):
    START = "start"
    STARTED = "started"
    STOP = "stop"
    STOPPED = "stopped"
    FAULT = "fault"


TRANSITIONS: dict[tuple[S, Trigger], S] = {
    (S.INIT, Trigger.START): S.STARTING,
    (S.STARTING, Trigger.STARTED): S.RUNNING,
    (S.STARTING, Trigger.STOP): S.STOPPING,
    (S.STARTING, Trigger.FAULT): S.FAULTED,
    (S.RUNNING, Trigger.STOP): S.STOPPING,
    (S.RUNNING, Trigger.FAULT): S.FAULTED,
    (S.STOPPING, Trigger.STOPPED): S.STOPPED,
    (S.STOPPING, Trigger.FAULT): S.FAULTED,
    (S.FAULTED, Trigger.STOP): S.STOPPING,
}


class InvalidTransition(RuntimeError):
    pass


class Lifecycle:
    def __init__(self, on_change=None) -> None:
        self.state = S.INIT
        self._on_change = on_change

    def fire(self, trigger: Trigger) -> S:
        try:
            new = TRANSITIONS[(self.state, trigger)]
        except KeyError:
            raise InvalidTransition(f"{trigger.value} is not allowed in state {self.state.name}") from None
        old, self.state = self.state, new
        if self._on_change is not None:
            self._on_change(old, new)
        return new

    def can(self, trigger: Trigger) -> bool:
        return (self.state, trigger) in TRANSITIONS

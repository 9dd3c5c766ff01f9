"""Enumerations shared by every actor. IntEnum so they cost one byte on the wire."""
from __future__ import annotations

from enum import IntEnum


class MarketType(IntEnum):
    SPOT = 1
    USDM = 2      # USD-margined futures
    COINM = 3     # coin-margined futures

    @property
    def label(self) -> str:
        """The name in topics and configs: spot, usdm, coinm."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "MarketType":
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            raise ValueError(f"unknown market {text!r}; choose one of spot, usdm, coinm") from None


class Side(IntEnum):
    BUY = 1
    SELL = 2


class OrderType(IntEnum):
    MARKET = 1
    LIMIT = 2
    STOP_MARKET = 3
    TAKE_PROFIT_MARKET = 4


class TimeInForce(IntEnum):
    GTC = 1
    IOC = 2
    FOK = 3


class OrderStatus(IntEnum):
    NEW = 1
    PARTIALLY_FILLED = 2
    FILLED = 3
    CANCELED = 4
    REJECTED = 5
    EXPIRED = 6


class Direction(IntEnum):
    LONG = 1
    SHORT = 2
    FLAT = 3


class BookStatus(IntEnum):
    SYNCING = 1
    VALID = 2
    RESYNCING = 3


class RiskSeverity(IntEnum):
    INFO = 1
    WARNING = 2
    BREACH = 3
    KILL = 4


class ActorState(IntEnum):
    INIT = 1
    STARTING = 2
    RUNNING = 3
    STOPPING = 4
    STOPPED = 5
    FAULTED = 6


class Timeframe(IntEnum):
    """Bar length; the value is the length in seconds."""

    S1 = 1
    S5 = 5
    S15 = 15
    M1 = 60
    M3 = 180
    M5 = 300
    M15 = 900
    M30 = 1800
    H1 = 3600
    H2 = 7200
    H4 = 14400
    D1 = 86400
    W1 = 604800

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def ns(self) -> int:
        return int(self) * 1_000_000_000

    @classmethod
    def parse(cls, text: str) -> "Timeframe":
        """'1s', '15m', '4h', '1d', '1w' to a Timeframe; ValueError names the choices."""
        try:
            return _BY_LABEL[text.strip().lower()]
        except KeyError:
            raise ValueError(
                f"unknown timeframe {text!r}; choose one of {', '.join(_BY_LABEL)}"
            ) from None


_LABELS = {
    Timeframe.S1: "1s", Timeframe.S5: "5s", Timeframe.S15: "15s",
    Timeframe.M1: "1m", Timeframe.M3: "3m", Timeframe.M5: "5m", Timeframe.M15: "15m",
    Timeframe.M30: "30m", Timeframe.H1: "1h", Timeframe.H2: "2h", Timeframe.H4: "4h",
    Timeframe.D1: "1d", Timeframe.W1: "1w",
}
_BY_LABEL = {label: tf for tf, label in _LABELS.items()}

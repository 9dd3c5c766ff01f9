"""Channel names, the source that owns each, and topic strings.

A topic is ``CHANNEL.connector.market.SYMBOL`` for market data, or
``CHANNEL.<actor name>`` for an actor's own events; subscribers filter by
prefix. A channel's prefix names the only actor kind allowed to publish it.
"""
from __future__ import annotations

SOURCES = ("PROVIDER", "DETECTOR", "ADVISOR", "INSPECTOR", "SUPERVISOR", "VENUE")

# Every kind also has <KIND>_HEARTBEAT (liveness + the figures `barfinex status`
# shows) and <KIND>_BUS_GAP (a sequence gap it saw: the source-prefix rule means
# each kind reports its own gaps on its own channel).
_COMMON = ("HEARTBEAT", "BUS_GAP")

CHANNELS: dict[str, tuple[str, ...]] = {
    "PROVIDER": (
        "MARKETDATA_TRADE", "MARKETDATA_ORDERBOOK", "MARKETDATA_CANDLE",
        "MARKETDATA_BOOK_STATE", "ACCOUNT_EVENT", "ORDER_CREATE", "ORDER_UPDATE",
        "ORDER_FILL", "ORDER_CLOSE", "INSTRUMENTS", "INSTRUMENT_PRICES", *_COMMON,
    ),
    "DETECTOR": (
        "SIGNAL_GENERATED", "SIGNAL_UPDATED", "SIGNAL_INVALIDATED",
        "POSITION_OPEN_REQUEST", "POSITION_CLOSE_REQUEST", *_COMMON,
    ),
    "ADVISOR": (
        "DECISION_RESPONSE", "DECISION_CONTEXT_SNAPSHOT", "EXECUTION_INTENT_OPEN",
        "CONFIDENCE_LOW", "HALLUCINATION_DETECTED", *_COMMON,
    ),
    "INSPECTOR": (
        "RISK_LIMIT_BREACH", "RISK_KILL_SWITCH", "RISK_MARGIN_UPDATE", "TREND_DETECTED",
        "RANGE_DETECTED", "VOLATILITY_SPIKE", "LIQUIDITY_DROPPED", "DATA_GAP_DETECTED",
        "TRADE_OUTCOME", *_COMMON,
    ),
    "SUPERVISOR": ("ACTOR_STATE", *_COMMON),
    # The replay venue runs under the supervisor in the demo topology; it talks
    # Binance's protocol, not the bus, so it only reports its own liveness.
    "VENUE": _COMMON,
}

ALL_CHANNELS: frozenset[str] = frozenset(
    f"{src}_{name}" for src, names in CHANNELS.items() for name in names
)


def source_of(channel: str) -> str:
    """The actor kind that owns ``channel``; ValueError for an unknown channel."""
    if channel not in ALL_CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    return channel.split("_", 1)[0]


def channel_of(topic: str) -> str:
    return topic.split(".", 1)[0]


def market_topic(channel: str, connector: str, market: str, symbol: str) -> str:
    """``PROVIDER_MARKETDATA_TRADE.binance.usdm.BTCUSDT``"""
    return f"{channel}.{connector}.{market}.{symbol}"


def actor_topic(channel: str, actor: str) -> str:
    """``DETECTOR_HEARTBEAT.detector``"""
    return f"{channel}.{actor}"

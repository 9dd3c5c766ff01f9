"""Typed messages, channel names and enums: the vocabulary every actor shares."""
from .channels import (  # noqa: F401
    ALL_CHANNELS, CHANNELS, SOURCES, actor_topic, channel_of, market_topic, source_of,
)
from .enums import (  # noqa: F401
    ActorState, BookStatus, Direction, MarketType, OrderStatus, OrderType,
    RiskSeverity, Side, TimeInForce, Timeframe,
)
from .messages import *  # noqa: F401,F403
from .messages import Message, all_message_types, message_type, register  # noqa: F401
from .codec import Codec, DecodeError  # noqa: F401

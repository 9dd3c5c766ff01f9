"""Connector plugin API: protocols, events, errors and shared machinery."""
from .backoff import Backoff
from .errors import (
    AuthError, ConnectorConfigError, ConnectorError, ExchangeError, ExchangeUnavailableError,
    NotReadyError, OrderRejectedError, OrderStatusUnknownError, RateLimitedError, RegistryError,
)
from .health import StreamHealth
from .protocols import (
    CONNECTED, DISCONNECTED, ERROR, RESUBSCRIBED, SILENT, USER_STREAM_RENEWED,
    AccountAPI, Adapters, ConnectionEvent, ConnectionState, Connector, DepthDiff, Liquidation,
    MarketAPI, MarketSession, OrderAPI, StreamManager, TimeframeMap, Unsubscribe, UserEvent,
)
from .ratelimit import WeightLimiter

__all__ = [
    "AccountAPI", "Adapters", "AuthError", "Backoff", "CONNECTED", "ConnectionEvent",
    "ConnectionState", "Connector", "ConnectorConfigError", "ConnectorError", "DISCONNECTED",
    "DepthDiff", "ERROR", "ExchangeError", "ExchangeUnavailableError", "Liquidation",
    "MarketAPI", "MarketSession", "NotReadyError", "OrderAPI", "OrderRejectedError",
    "OrderStatusUnknownError", "RESUBSCRIBED", "RateLimitedError", "RegistryError", "SILENT",
    "StreamHealth", "StreamManager", "TimeframeMap", "USER_STREAM_RENEWED", "Unsubscribe",
    "UserEvent", "WeightLimiter",
]

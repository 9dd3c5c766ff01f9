"""Exceptions every connector raises. The Provider catches these by class.

Messages name the connector, market and endpoint; they never contain API keys,
secrets, signatures or signed query strings.
"""
from __future__ import annotations


class ConnectorError(Exception):
    """Base of every connector error."""


class ConnectorConfigError(ConnectorError, ValueError):
    """A connector's configuration is invalid (unknown key, bad value, missing credential)."""


class RegistryError(ConnectorError, LookupError):
    """A connector name is unknown, or its plugin could not be loaded."""


class NotReadyError(ConnectorError):
    """The connector (or the market asked for) is not connected and ready."""


class ExchangeError(ConnectorError):
    """The exchange answered with an error.

    ``code`` is the exchange's own error code (Binance: negative ints such as
    -1121), ``status`` the HTTP status, ``endpoint`` e.g. ``"GET /api/v3/depth"``.
    """

    def __init__(self, connector: str, endpoint: str, status: int, code: int | None,
                 message: str) -> None:
        self.connector = connector
        self.endpoint = endpoint
        self.status = status
        self.code = code
        self.message = message
        where = f"{connector} {endpoint}"
        what = f"{code} {message}" if code is not None else message
        super().__init__(f"{where}: {what} (HTTP {status})")


class RateLimitedError(ExchangeError):
    """HTTP 429 (slow down) or 418 (IP banned): nothing may be sent before ``retry_after_s``."""

    def __init__(self, connector: str, endpoint: str, status: int, code: int | None,
                 message: str, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(connector, endpoint, status, code,
                         f"{message}; retry after {retry_after_s:.1f}s")


class AuthError(ExchangeError):
    """Signature, key or permission refused; also raised locally when no credentials are set."""


class OrderRejectedError(ExchangeError):
    """The exchange (or a local pre-check against instrument filters) refused an order."""


class OrderStatusUnknownError(ExchangeError):
    """The request may or may not have reached the matching engine (5xx, timeout).

    Never retry blindly: query the order by its client order id first.
    """


class ExchangeUnavailableError(ExchangeError):
    """The exchange could not be reached or answered 5xx for a read-only call."""

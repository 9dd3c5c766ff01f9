"""Binance REST transport: weight limiting, server-time offset, signing, error shapes.

One ``BinanceRest`` per market (spot and USD-M are separate hosts with
separate weight budgets). Every call waits on the market's ``WeightLimiter``,
feeds it ``X-MBX-USED-WEIGHT-1M`` from the answer, and turns Binance's error
shape ``{"code": -1121, "msg": "Invalid symbol."}`` into an ``ExchangeError``
subclass naming the endpoint (never the query string: it holds the signature).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from barfinex.model.enums import MarketType

from ..base.errors import (
    AuthError, ExchangeError, ExchangeUnavailableError, OrderRejectedError,
    OrderStatusUnknownError, RateLimitedError,
)
from ..base.ratelimit import WeightLimiter
from .config import BinanceConfig
from .signing import Credentials, encode_params

log = logging.getLogger("barfinex.connectors.binance")

CONNECTOR = "binance"
WEIGHT_HEADER = "x-mbx-used-weight-1m"
_AUTH_CODES = {-1002, -1022, -2014, -2015}       # unauthorized, bad signature, bad key format, key/IP/permission
_ORDER_CODES = {-1013, -1111, -1116, -1117, -1121, -2010, -2011, -2013, -2019, -2021, -2022, -4164, -4003}
TIMESTAMP_OUTSIDE_RECV_WINDOW = -1021


@dataclass(frozen=True)
class Paths:
    """Endpoint paths of one market."""

    time: str
    exchange_info: str
    depth: str
    klines: str
    ticker_price: str
    account: str
    open_orders: str
    order: str
    listen_key: str
    leverage: str = ""
    position_risk: str = ""
    kline_limit: int = 1000


SPOT_PATHS = Paths("/api/v3/time", "/api/v3/exchangeInfo", "/api/v3/depth", "/api/v3/klines",
                   "/api/v3/ticker/price", "/api/v3/account", "/api/v3/openOrders", "/api/v3/order",
                   "/api/v3/userDataStream", kline_limit=1000)
USDM_PATHS = Paths("/fapi/v1/time", "/fapi/v1/exchangeInfo", "/fapi/v1/depth", "/fapi/v1/klines",
                   "/fapi/v1/ticker/price", "/fapi/v2/account", "/fapi/v1/openOrders", "/fapi/v1/order",
                   "/fapi/v1/listenKey", "/fapi/v1/leverage", "/fapi/v2/positionRisk", kline_limit=1500)


def depth_weight(market: MarketType, limit: int) -> int:
    """Request weight of a depth snapshot (Binance: grows with ``limit``)."""
    if market == MarketType.SPOT:
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


def klines_weight(market: MarketType, limit: int) -> int:
    if market == MarketType.SPOT:
        return 2
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


class BinanceRest:
    """Async REST client of one Binance market.

    ``credentials`` may be None (public data only); signed calls then raise
    ``AuthError`` before anything is sent.
    """

    def __init__(self, market: MarketType, config: BinanceConfig,
                 credentials: Credentials | None, *, client: httpx.AsyncClient | None = None) -> None:
        self.market = market
        self.paths = SPOT_PATHS if market == MarketType.SPOT else USDM_PATHS
        self.base_url = config.rest_url(market)
        self._recv_window = config.recv_window_ms
        self._credentials = credentials
        self._client = client or httpx.AsyncClient(
            base_url=self.base_url, timeout=config.request_timeout_s,
            headers={"User-Agent": "barfinex"})
        self.time_offset_ms = 0
        self.limiter = WeightLimiter(config.weight_limit(market), safety=config.weight_safety,
                                     clock=self.exchange_time)
        self.requests = 0
        self._name = f"{CONNECTOR} {market.name.lower()}"

    @property
    def has_credentials(self) -> bool:
        return self._credentials is not None

    def exchange_time(self) -> float:
        """The exchange's clock in seconds (local clock + measured offset)."""
        return time.time() + self.time_offset_ms / 1000.0

    def timestamp_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.time_offset_ms

    async def close(self) -> None:
        await self._client.aclose()

    async def sync_time(self) -> int:
        """Measure the server-time offset (ms, server minus local, at mid-flight) and keep it."""
        t0 = time.time_ns()
        body = await self.request("GET", self.paths.time, weight=1)
        t1 = time.time_ns()
        server_ms = int(body["serverTime"])
        self.time_offset_ms = server_ms - (t0 + t1) // 2 // 1_000_000
        return self.time_offset_ms

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None, *,
                      weight: int = 1, signed: bool = False, api_key: bool = False,
                      places_order: bool = False) -> Any:
        """Send one request; return the decoded JSON body or raise an ExchangeError.

        ``signed`` adds timestamp, recvWindow and signature; ``api_key`` sends
        the key header only (listenKey endpoints). ``places_order`` marks a
        call whose outcome is unknown when no answer arrives.
        """
        endpoint = f"{method} {path}"
        retried_clock = False
        while True:
            try:
                return await self._send(method, path, dict(params or {}), weight, signed,
                                        api_key, places_order, endpoint)
            except ExchangeError as exc:
                if exc.code == TIMESTAMP_OUTSIDE_RECV_WINDOW and signed and not retried_clock:
                    # Our clock drifted from the exchange's: remeasure and retry
                    # once. The request was refused, so nothing was placed.
                    retried_clock = True
                    await self.sync_time()
                    continue
                raise

    async def _send(self, method: str, path: str, params: dict[str, Any], weight: int, signed: bool,
                    api_key: bool, places_order: bool, endpoint: str) -> Any:
        headers = {}
        if signed or api_key:
            if self._credentials is None:
                raise AuthError(self._name, endpoint, 0, None,
                                "no API credentials configured (set the key/secret environment variables)")
            headers["X-MBX-APIKEY"] = self._credentials.api_key
        if signed:
            params["recvWindow"] = self._recv_window
            params["timestamp"] = self.timestamp_ms()
        query = encode_params(params)
        if signed:
            query = f"{query}&signature={self._credentials.sign(query)}"
        await self.limiter.acquire(weight)
        self.requests += 1
        url = f"{path}?{query}" if query else path
        try:
            if method in ("POST", "PUT") and query:
                # Form body, as Binance's own examples send it; signature covers exactly this text.
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                resp = await self._client.request(method, path, content=query.encode(), headers=headers)
            else:
                resp = await self._client.request(method, url, headers=headers)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            cls = OrderStatusUnknownError if places_order else ExchangeUnavailableError
            raise cls(self._name, endpoint, 0, None,
                      f"no answer ({type(exc).__name__}): {_safe(exc)}") from None
        used = resp.headers.get(WEIGHT_HEADER)
        if used is not None and used.isdigit():
            self.limiter.observe(int(used))
        if resp.status_code < 400:
            try:
                return msgspec.json.decode(resp.content)
            except msgspec.DecodeError:
                raise ExchangeUnavailableError(self._name, endpoint, resp.status_code, None,
                                               f"answer is not JSON: {resp.content[:80]!r}") from None
        raise self._error(resp, endpoint, places_order)

    def _error(self, resp: httpx.Response, endpoint: str, places_order: bool) -> ExchangeError:
        status = resp.status_code
        code: int | None = None
        msg = resp.reason_phrase or "error"
        try:
            body = msgspec.json.decode(resp.content)
            if isinstance(body, dict):
                code = body.get("code") if isinstance(body.get("code"), int) else None
                msg = str(body.get("msg", msg))
        except msgspec.DecodeError:
            if resp.content:
                msg = f"{msg}: {resp.content[:120].decode('utf-8', 'replace')}"
        if status in (418, 429):
            retry = resp.headers.get("retry-after", "")
            retry_s = float(retry) if retry.replace(".", "", 1).isdigit() else 60.0
            self.limiter.block(retry_s)
            return RateLimitedError(self._name, endpoint, status, code, msg, retry_s)
        if status >= 500 or status == 503:
            cls = OrderStatusUnknownError if places_order else ExchangeUnavailableError
            return cls(self._name, endpoint, status, code, msg)
        if status in (401, 403) or code in _AUTH_CODES:
            return AuthError(self._name, endpoint, status, code, msg)
        if places_order or code in _ORDER_CODES and endpoint.endswith("order"):
            return OrderRejectedError(self._name, endpoint, status, code, msg)
        return ExchangeError(self._name, endpoint, status, code, msg)


def _safe(exc: BaseException) -> str:
    """An httpx error's text without the URL (a signed URL carries the signature)."""
    text = str(exc)
    return text.split("?", 1)[0] if "?" in text else text



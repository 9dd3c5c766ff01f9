"""Binance connector configuration: strict, with every default in one place.

Base URLs are per market (spot REST, spot WebSocket, USD-M REST, USD-M
WebSocket). ``venue: http://127.0.0.1:PORT`` derives all four for the local
replay venue (REST on the root, spot WebSocket on the root, USD-M WebSocket
under ``/usdm``); ``testnet: true`` picks Binance's test networks. Explicit
URL keys win over both.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping
from urllib.parse import urlsplit

from barfinex.model.enums import MarketType

from ..base.errors import ConnectorConfigError

PRODUCTION = {
    "spot_rest": "https://api.binance.com",
    "spot_ws": "wss://stream.binance.com:9443",
    "usdm_rest": "https://fapi.binance.com",
    "usdm_ws": "wss://fstream.binance.com",
}
TESTNET = {
    "spot_rest": "https://testnet.binance.vision",
    "spot_ws": "wss://stream.testnet.binance.vision",
    "usdm_rest": "https://testnet.binancefuture.com",
    "usdm_ws": "wss://fstream.binancefuture.com",
}
MARKET_NAMES = {"spot": MarketType.SPOT, "usdm": MarketType.USDM, "futures": MarketType.USDM}


# The replay venue's paper-trading credentials. They are public (the venue is
# a local simulator, not an account), so a connector pointed at a venue with
# no credentials in its environment uses them rather than refusing orders.
PAPER_VENUE_API_KEY = "barfinex-venue-key"
PAPER_VENUE_API_SECRET = "barfinex-venue-secret"


@dataclass(frozen=True)
class BinanceConfig:
    """Validated settings. Build with ``BinanceConfig.from_mapping(cfg)``."""

    markets: tuple[MarketType, ...] = (MarketType.SPOT, MarketType.USDM)
    venue: str = ""                      # http://127.0.0.1:PORT: derive all four URLs
    testnet: bool = False
    spot_rest: str = ""
    spot_ws: str = ""
    usdm_rest: str = ""
    usdm_ws: str = ""
    api_key_env: str = "BINANCE_API_KEY"
    api_secret_env: str = "BINANCE_API_SECRET"
    recv_window_ms: int = 5000
    request_timeout_s: float = 10.0
    weight_limit_spot: int = 6000        # per minute; replaced by exchangeInfo's rateLimits
    weight_limit_usdm: int = 2400
    weight_safety: float = 0.9           # never spend more than this share of the limit
    silence_timeout_s: float = 30.0      # no message for this long: reconnect that connection
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    stable_after_s: float = 30.0         # a connection up this long resets the backoff
    max_connection_age_s: float = 23.5 * 3600   # Binance cuts connections at 24 h: rotate first
    max_streams_per_connection: int = 200
    depth_speed: str = "100ms"           # depth diff cadence: "100ms" (or USD-M "0ms"/"250ms"/"500ms")
    listen_key_keepalive_s: float = 1800.0   # keys expire after 60 min without a keepalive
    time_sync_interval_s: float = 300.0
    connect_timeout_s: float = 10.0

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> "BinanceConfig":
        raw = dict(raw or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise ConnectorConfigError(f"binance: unknown config keys {unknown}; known: {sorted(names)}")
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in raw:
                continue
            value = raw[f.name]
            if f.name == "markets":
                value = _markets(value)
            elif f.type in ("int", "float"):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConnectorConfigError(f"binance: {f.name} must be a number, got {value!r}")
                value = int(value) if f.type == "int" else float(value)
                if value <= 0:
                    raise ConnectorConfigError(f"binance: {f.name} must be > 0, got {value!r}")
            elif f.type == "bool":
                if not isinstance(value, bool):
                    raise ConnectorConfigError(f"binance: {f.name} must be true or false, got {value!r}")
            elif f.type == "str":
                if not isinstance(value, str):
                    raise ConnectorConfigError(f"binance: {f.name} must be a string, got {value!r}")
            kw[f.name] = value
        if kw.get("weight_safety", 0.9) > 1:
            raise ConnectorConfigError("binance: weight_safety must be within (0, 1]")
        cfg = cls(**kw)
        cfg._resolve_urls()
        return cfg

    def _resolve_urls(self) -> None:
        if self.venue and self.testnet:
            raise ConnectorConfigError("binance: set either venue or testnet, not both")
        if self.venue:
            parts = urlsplit(self.venue)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConnectorConfigError(f"binance: venue must look like http://127.0.0.1:PORT, "
                                           f"got {self.venue!r}")
            ws = ("wss" if parts.scheme == "https" else "ws") + "://" + parts.netloc
            base = {"spot_rest": f"{parts.scheme}://{parts.netloc}", "spot_ws": ws,
                    "usdm_rest": f"{parts.scheme}://{parts.netloc}", "usdm_ws": ws + "/usdm"}
        else:
            base = TESTNET if self.testnet else PRODUCTION
        for key, default in base.items():
            url = getattr(self, key) or default
            scheme = urlsplit(url).scheme
            want = ("http", "https") if key.endswith("_rest") else ("ws", "wss")
            if scheme not in want or not urlsplit(url).netloc:
                raise ConnectorConfigError(f"binance: {key} must be a {'/'.join(want)} URL, got {url!r}")
            object.__setattr__(self, key, url.rstrip("/"))

    def rest_url(self, market: MarketType) -> str:
        return self.spot_rest if market == MarketType.SPOT else self.usdm_rest

    def ws_url(self, market: MarketType) -> str:
        return self.spot_ws if market == MarketType.SPOT else self.usdm_ws

    def weight_limit(self, market: MarketType) -> int:
        return self.weight_limit_spot if market == MarketType.SPOT else self.weight_limit_usdm


def _markets(value: Any) -> tuple[MarketType, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConnectorConfigError(f"binance: markets must be a non-empty list of "
                                   f"{sorted(MARKET_NAMES)}, got {value!r}")
    out: list[MarketType] = []
    for item in value:
        market = MARKET_NAMES.get(str(item).lower()) if not isinstance(item, MarketType) else item
        if market is None or market not in (MarketType.SPOT, MarketType.USDM):
            raise ConnectorConfigError(f"binance: unknown market {item!r}; choose from "
                                       f"{sorted(MARKET_NAMES)}")
        if market not in out:
            out.append(market)
    return tuple(out)

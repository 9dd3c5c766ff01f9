"""The exchange catalog: what each registered connector offers, for people and for Studio.

Each connector class declares one ``CatalogEntry`` as its ``CATALOG`` attribute;
``exchange_catalog()`` collects them through the registry, so a third-party
connector appears here as soon as its package is installed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from barfinex.model.enums import MarketType

SEGMENTS = ("crypto-cex", "crypto-dex", "equities", "futures", "fx", "other")
MATURITIES = ("experimental", "beta", "stable")
# Features a connector may declare; the Provider checks these before asking.
FEATURES = frozenset({
    "trades", "agg_trades", "book_diffs", "book_snapshot", "book_ticker", "candles",
    "candle_history", "instruments", "prices", "mark_price", "liquidations",
    "user_data", "account", "orders", "leverage", "testnet",
})


@dataclass(frozen=True)
class CredentialField:
    """One credential a connector needs; ``env`` is where its value is read from by default."""

    name: str                 # "api_key"
    label: str                # "API key"
    env: str                  # "BINANCE_API_KEY"
    secret: bool = True       # never displayed, logged or returned
    required_for: tuple[str, ...] = ("account", "orders")


@dataclass(frozen=True)
class CatalogEntry:
    """One exchange as the catalog shows it."""

    name: str                              # registry name, e.g. "binance"
    display_name: str                      # "Binance"
    segment: str                           # one of SEGMENTS
    markets: tuple[MarketType, ...]
    credentials: tuple[CredentialField, ...] = ()
    features: frozenset[str] = field(default_factory=frozenset)
    maturity: str = "experimental"         # one of MATURITIES
    homepage: str = ""

    def __post_init__(self) -> None:
        if self.segment not in SEGMENTS:
            raise ValueError(f"catalog entry {self.name!r}: segment {self.segment!r} not in {SEGMENTS}")
        if self.maturity not in MATURITIES:
            raise ValueError(f"catalog entry {self.name!r}: maturity {self.maturity!r} not in {MATURITIES}")
        unknown = set(self.features) - FEATURES
        if unknown:
            raise ValueError(f"catalog entry {self.name!r}: unknown features {sorted(unknown)}; "
                             f"known: {sorted(FEATURES)}")
        if not self.markets:
            raise ValueError(f"catalog entry {self.name!r}: no markets")

    def to_dict(self) -> dict:
        """JSON-ready form (market names lower-case, features sorted)."""
        d = asdict(self)
        d["markets"] = [m.name.lower() for m in self.markets]
        d["features"] = sorted(self.features)
        d["credentials"] = [asdict(c) | {"required_for": list(c.required_for)} for c in self.credentials]
        return d


def exchange_catalog() -> list[CatalogEntry]:
    """Every registered connector's entry, sorted by segment then display name.

    A plugin that fails to load raises (RegistryError): a broken install is
    reported, not hidden by a shorter catalog.
    """
    from .registry import available, load_connector

    entries = [load_connector(name).CATALOG for name in available()]
    return sorted(entries, key=lambda e: (e.segment, e.display_name.lower()))


def catalog_by_segment() -> dict[str, list[CatalogEntry]]:
    """``exchange_catalog()`` grouped by segment (Studio's catalog view)."""
    grouped: dict[str, list[CatalogEntry]] = {}
    for entry in exchange_catalog():
        grouped.setdefault(entry.segment, []).append(entry)
    return grouped

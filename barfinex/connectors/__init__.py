"""Exchange connectors: the plugin API, the registry, the catalog, and built-ins.

Load one by name (built in, or any installed package's entry point under
``barfinex.connectors``)::

    from barfinex.connectors import create_connector
    conn = create_connector("binance", {"markets": ["usdm"], "venue": "http://127.0.0.1:8765"})
    await conn.start()
    usdm = conn.session(MarketType.USDM)
    stop = usdm.streams.subscribe_trades("BTCUSDT", on_trade)

See docs/connectors.md for the author's guide.
"""
from .base import *  # noqa: F401,F403  (the plugin API is this package's API)
from .base import __all__ as _base_all
from .catalog import CatalogEntry, CredentialField, catalog_by_segment, exchange_catalog
from .registry import GROUP, available, create_connector, load_connector

__all__ = [*_base_all, "CatalogEntry", "CredentialField", "GROUP", "available",
           "catalog_by_segment", "create_connector", "exchange_catalog", "load_connector"]

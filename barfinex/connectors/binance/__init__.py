"""Binance spot and USD-M futures connector (built in; registry name ``binance``)."""
from .adapters import BinanceAdapters
from .api import BinanceAccountAPI, BinanceMarketAPI, BinanceOrderAPI, InstrumentTable
from .config import BinanceConfig
from .connector import BinanceConnector
from .rest import BinanceRest
from .signing import Credentials, sign
from .streams import BinanceStreams
from .timeframes import BinanceTimeframes

__all__ = ["BinanceAccountAPI", "BinanceAdapters", "BinanceConfig", "BinanceConnector",
           "BinanceMarketAPI", "BinanceOrderAPI", "BinanceRest", "BinanceStreams",
           "BinanceTimeframes", "Credentials", "InstrumentTable", "sign"]

"""Instruments of a replayed capture: precision and filters inferred from the data.

How each exchangeInfo value is obtained (the capture carries no exchangeInfo):

- ``price_text`` / ``qty_text``: the most decimals any price / size string in
  the capture has. Binance pads spot values to 8 ("61837.63000000") and sends
  futures values at the symbol's precision ("61800.30", "0.006"); the venue
  formats everything it sends the same way (futures ``pricePrecision`` /
  ``quantityPrecision`` are these).
- ``tickSize`` (PRICE_FILTER) and ``stepSize`` (LOT_SIZE, MARKET_LOT_SIZE):
  the largest power of ten every price / size in the capture (snapshot, diffs,
  trades, bookTickers) is a multiple of: the data's own granularity. For the
  shipped data: spot BTCUSDT 0.01 / 0.000001 (book sizes finer than Binance's
  order step 0.00001 occur in the recording), USD-M BTCUSDT 0.10 / 0.001.
  ``minPrice`` = tickSize, ``minQty`` = stepSize.
- Values a recording cannot show (the smallest notional allowed, the largest
  quantity, leverage brackets) come from ``MarketDefaults``: Binance's
  published BTCUSDT values (spot NOTIONAL minNotional 5, USD-M MIN_NOTIONAL
  notional 100; maxQty 9000 spot, 1000 USD-M limit / 120 USD-M market),
  overridable per venue.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from barfinex import backend
from barfinex.model.enums import MarketType

_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "USD", "EUR", "TRY", "BTC", "ETH", "BNB")


@dataclass(frozen=True)
class MarketDefaults:
    """exchangeInfo values that no recording reveals (Binance's BTCUSDT values)."""

    min_notional: str
    max_qty: str
    market_max_qty: str
    max_price: str = "1000000"
    max_num_orders: int = 200


SPOT_DEFAULTS = MarketDefaults(min_notional="5", max_qty="9000", market_max_qty="9000")
USDM_DEFAULTS = MarketDefaults(min_notional="100", max_qty="1000", market_max_qty="120")


def split_symbol(symbol: str) -> tuple[str, str]:
    """BTCUSDT -> (BTC, USDT) by the known quote assets; unknown -> (symbol, USDT)."""
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol, "USDT"


def _decimals(text: str) -> tuple[int, int]:
    """(decimals written, significant decimals) of a decimal string."""
    _, _, frac = text.partition(".")
    return len(frac), len(frac.rstrip("0"))


@dataclass
class PrecisionScan:
    """Accumulates the decimals of one symbol's prices and sizes."""

    price_text: int = 0
    price_sig: int = 0
    qty_text: int = 0
    qty_sig: int = 0

    def price(self, text) -> None:
        if isinstance(text, str):
            w, s = _decimals(text)
            self.price_text, self.price_sig = max(self.price_text, w), max(self.price_sig, s)

    def qty(self, text) -> None:
        if isinstance(text, str):
            w, s = _decimals(text)
            # a size of 0 ("0.00000000") says nothing about the step
            self.qty_text = max(self.qty_text, w)
            if text.strip("0.") != "":
                self.qty_sig = max(self.qty_sig, s)

    def levels(self, levels) -> None:
        if isinstance(levels, list):
            for lv in levels:
                if isinstance(lv, (list, tuple)) and len(lv) == 2:
                    self.price(lv[0])
                    self.qty(lv[1])

    def message(self, data: dict) -> None:
        """Learn from one payload (depth diff, snapshot, trade, bookTicker)."""
        e = data.get("e")
        if e in ("trade", "aggTrade"):
            self.price(data.get("p"))
            self.qty(data.get("q"))
        elif e == "depthUpdate":
            self.levels(data.get("b"))
            self.levels(data.get("a"))
        elif "lastUpdateId" in data:
            self.levels(data.get("bids"))
            self.levels(data.get("asks"))
        elif "u" in data and "b" in data and "a" in data:      # bookTicker
            self.price(data.get("b"))
            self.price(data.get("a"))
            self.qty(data.get("B"))
            self.qty(data.get("A"))


@dataclass
class Instrument:
    """One tradable symbol: precision in fixed point and the text Binance would send.

    Internally prices are integers in units of 10**-price_dec (the tick is one
    unit) and sizes in units of 10**-qty_dec (the step is one unit); text
    output pads to ``price_text`` / ``qty_text`` decimals as the exchange does.
    """

    symbol: str
    market: MarketType
    price_dec: int
    qty_dec: int
    price_text: int
    qty_text: int
    defaults: MarketDefaults
    base: str = ""
    quote: str = ""
    _fp: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.base, self.quote = split_symbol(self.symbol)
        self._fp = backend.load("fixedpoint")
        self.price_text = max(self.price_text, self.price_dec)
        self.qty_text = max(self.qty_text, self.qty_dec)

    @classmethod
    def from_scan(cls, symbol: str, market: MarketType, scan: PrecisionScan,
                  defaults: MarketDefaults | None = None) -> "Instrument":
        if defaults is None:
            defaults = SPOT_DEFAULTS if market == MarketType.SPOT else USDM_DEFAULTS
        return cls(symbol, market, scan.price_sig, scan.qty_sig, scan.price_text, scan.qty_text, defaults)

    @property
    def futures(self) -> bool:
        return self.market != MarketType.SPOT

    # -- text <-> fixed point --

    def parse_price(self, text: str) -> int:
        """Exact price in ticks; ValueError when not a decimal on the tick grid."""
        return self._fp.parse_fixed(text, self.price_dec)

    def parse_qty(self, text: str) -> int:
        """Exact size in steps; ValueError when not a decimal on the step grid."""
        return self._fp.parse_fixed(text, self.qty_dec)

    def fmt_price(self, ticks: int) -> str:
        return self._fp.format_fixed(ticks * 10 ** (self.price_text - self.price_dec), self.price_text)

    def fmt_qty(self, steps: int) -> str:
        return self._fp.format_fixed(steps * 10 ** (self.qty_text - self.qty_dec), self.qty_text)

    def fmt_quote(self, value: int, decimals: int) -> str:
        """A quote amount (price * qty) held with ``decimals`` decimals, written
        with the quote precision Binance uses (8 on spot, price+qty decimals on futures)."""
        want = 8 if not self.futures else self.price_text + self.qty_text
        if decimals <= want:
            return self._fp.format_fixed(value * 10 ** (want - decimals), want)
        return self._fp.format_fixed(value, decimals)

    def unit(self, decimals: int) -> str:
        return self._fp.format_fixed(1, decimals) if decimals else "1"

    # -- exchangeInfo --

    def filters(self) -> list[dict]:
        d = self.defaults
        tick, step = self.unit(self.price_dec), self.unit(self.qty_dec)
        price_filter = {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": d.max_price, "tickSize": tick}
        lot = {"filterType": "LOT_SIZE", "minQty": step, "maxQty": d.max_qty, "stepSize": step}
        market_lot = {"filterType": "MARKET_LOT_SIZE", "minQty": step, "maxQty": d.market_max_qty,
                      "stepSize": step}
        if self.futures:
            return [price_filter, lot, market_lot,
                    {"filterType": "MAX_NUM_ORDERS", "limit": d.max_num_orders},
                    {"filterType": "MIN_NOTIONAL", "notional": d.min_notional}]
        return [price_filter, lot, market_lot,
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": d.max_num_orders},
                {"filterType": "NOTIONAL", "minNotional": d.min_notional, "applyMinToMarket": True,
                 "maxNotional": "9000000", "applyMaxToMarket": False, "avgPriceMins": 5}]

    def exchange_info(self) -> dict:
        """This symbol's entry in exchangeInfo ``symbols``, in Binance's shape."""
        if self.futures:
            return {
                "symbol": self.symbol, "pair": self.symbol, "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
                "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
                "baseAsset": self.base, "quoteAsset": self.quote, "marginAsset": self.quote,
                "pricePrecision": self.price_text, "quantityPrecision": self.qty_text,
                "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
                "underlyingSubType": [], "triggerProtect": "0.0500", "liquidationFee": "0.012500",
                "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
                "filters": self.filters(),
                "orderTypes": ["LIMIT", "MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
            }
        return {
            "symbol": self.symbol, "status": "TRADING", "baseAsset": self.base, "baseAssetPrecision": 8,
            "quoteAsset": self.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "TAKE_PROFIT"],
            "icebergAllowed": False, "ocoAllowed": False, "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": False, "allowTrailingStop": False, "cancelReplaceAllowed": False,
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": self.filters(), "permissions": [], "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": ["NONE"],
        }

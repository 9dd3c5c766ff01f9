"""Barfinex ``Timeframe`` <-> Binance kline interval labels."""
from __future__ import annotations

from barfinex.model.enums import MarketType, Timeframe

from ..base.errors import ConnectorConfigError

# Binance's intervals that have a Barfinex Timeframe. 1s klines exist on spot
# only; Binance's 6h/8h/12h/3d/1M have no Timeframe yet and are not offered.
_LABELS: dict[Timeframe, str] = {
    Timeframe.S1: "1s", Timeframe.M1: "1m", Timeframe.M3: "3m", Timeframe.M5: "5m",
    Timeframe.M15: "15m", Timeframe.M30: "30m", Timeframe.H1: "1h", Timeframe.H2: "2h",
    Timeframe.H4: "4h", Timeframe.D1: "1d", Timeframe.W1: "1w",
}
_BY_LABEL = {label: tf for tf, label in _LABELS.items()}
_SPOT_ONLY = {Timeframe.S1}


class BinanceTimeframes:
    """The ``TimeframeMap`` of Binance spot and USD-M."""

    def to_exchange(self, timeframe: Timeframe, market: MarketType) -> str:
        tf = Timeframe(timeframe)
        label = _LABELS.get(tf)
        if label is None or (tf in _SPOT_ONLY and market != MarketType.SPOT):
            choices = ", ".join(t.label for t in self.supported(market))
            raise ConnectorConfigError(f"binance {MarketType(market).name.lower()} has no "
                                       f"{tf.label} klines; choose one of {choices}")
        return label

    def from_exchange(self, label: str) -> Timeframe:
        try:
            return _BY_LABEL[label]
        except KeyError:
            raise ValueError(f"binance kline interval {label!r} has no Barfinex timeframe") from None

    def supported(self, market: MarketType) -> tuple[Timeframe, ...]:
        return tuple(tf for tf in _LABELS if market == MarketType.SPOT or tf not in _SPOT_ONLY)


TIMEFRAMES = BinanceTimeframes()

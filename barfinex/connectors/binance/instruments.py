"""exchangeInfo -> ``Instrument``, and order prices/quantities rounded to its filters.

An instrument's precision is the number of decimals of its tick (price) and
step (quantity): BTCUSDT spot has tickSize "0.01000000" -> 2 and stepSize
"0.00001000" -> 5, so prices and sizes are exact int64 mantissas at those
scales (``barfinex.model``'s fixed point).
"""
from __future__ import annotations

from typing import Any, Iterable

from barfinex import backend
from barfinex.model.enums import MarketType, Side
from barfinex.model.messages import Instrument

from ..base.errors import OrderRejectedError

_fp = backend.load("fixedpoint")
parse_fixed = _fp.parse_fixed
parse_levels = _fp.parse_levels
format_fixed = _fp.format_fixed

CONNECTOR = "binance"


def decimals_of(step: str) -> int:
    """Decimals needed to write ``step`` exactly: "0.01000000" -> 2, "1.00000000" -> 0, "10" -> 0."""
    whole, _, frac = step.strip().partition(".")
    frac = frac.rstrip("0")
    if not (whole or frac) or not (whole + frac).isdigit():
        raise ValueError(f"not a decimal step: {step!r}")
    return len(frac)


def _filters(sym: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f.get("filterType"): f for f in sym.get("filters", ()) if isinstance(f, dict)}


def instrument_from_exchange_info(sym: dict[str, Any], market: MarketType) -> Instrument:
    """One ``symbols[]`` entry of exchangeInfo (spot or USD-M) -> Instrument.

    Filters used: PRICE_FILTER.tickSize, LOT_SIZE.stepSize/minQty, and the
    minimum notional from NOTIONAL.minNotional or MIN_NOTIONAL.minNotional
    (spot) or MIN_NOTIONAL.notional (USD-M). Raises ValueError naming the
    symbol and the missing piece.
    """
    name = sym.get("symbol", "?")
    f = _filters(sym)
    try:
        tick = f["PRICE_FILTER"]["tickSize"]
        lot = f["LOT_SIZE"]
        step, min_qty = lot["stepSize"], lot["minQty"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"exchangeInfo {name}: missing filter field {exc}") from None
    notional = (f.get("NOTIONAL", {}).get("minNotional")
                or f.get("MIN_NOTIONAL", {}).get("minNotional")
                or f.get("MIN_NOTIONAL", {}).get("notional") or "0")
    pp, qp = decimals_of(tick), decimals_of(step)
    return Instrument(
        connector=CONNECTOR, market=market, symbol=name,
        base=sym.get("baseAsset", ""), quote=sym.get("quoteAsset", ""),
        price_prec=pp, qty_prec=qp,
        tick_size=parse_fixed(tick, pp), step_size=parse_fixed(step, qp),
        min_qty=parse_fixed(min_qty, qp),
        # notional is price*qty: keep it at price precision, rounding a finer
        # published minimum up so the check never admits a too-small order.
        min_notional=_ceil_fixed(notional, pp),
        status=str(sym.get("status", "TRADING")),
    )


def _ceil_fixed(text: str, prec: int) -> int:
    whole, _, frac = text.partition(".")
    head, tail = frac[:prec].ljust(prec, "0"), frac[prec:]
    value = int((whole or "0") + head)
    return value + (1 if tail.strip("0") else 0)


def instruments_from_exchange_info(body: dict[str, Any], market: MarketType,
                                   errors: list[str] | None = None) -> list[Instrument]:
    """Every parsable symbol of an exchangeInfo body; unparsable ones are listed in ``errors``."""
    out = []
    for sym in body.get("symbols", ()):
        try:
            out.append(instrument_from_exchange_info(sym, market))
        except (ValueError, TypeError) as exc:
            if errors is not None:
                errors.append(str(exc))
    return out


def rescale(value: int, from_prec: int, to_prec: int) -> tuple[int, int]:
    """``value`` at ``from_prec`` as (mantissa at ``to_prec``, remainder lost).

    The remainder is in ``from_prec`` units; non-zero means ``value`` had
    digits finer than ``to_prec`` (the caller rounds).
    """
    if to_prec >= from_prec:
        return value * 10 ** (to_prec - from_prec), 0
    q, r = divmod(value, 10 ** (from_prec - to_prec))
    return q, r


def round_price(inst: Instrument, price: int, price_prec: int, side: Side) -> int:
    """A limit/stop price at the instrument's precision, on its tick grid.

    Rounds toward the passive side (buy down, sell up), so rounding never
    makes an order pay more or sell for less than its author asked.
    """
    value, rem = rescale(price, price_prec, inst.price_prec)
    tick = inst.tick_size
    down = value - value % tick
    exact = rem == 0 and down == value
    if exact or side == Side.BUY:
        return down
    return down + tick


def round_qty(inst: Instrument, qty: int, qty_prec: int) -> int:
    """A quantity at the instrument's precision, floored to its step (never more than asked)."""
    value, _ = rescale(qty, qty_prec, inst.qty_prec)
    return value - value % inst.step_size


# The codes Binance answers these refusals with, so a caller branches on one
# code whether the connector or the exchange refused (status 0: never sent).
SPOT_FILTER_FAILURE = -1013
USDM_QTY_NOT_POSITIVE = -4003
USDM_QTY_BELOW_MIN = -4004
USDM_NOTIONAL_BELOW_MIN = -4164


def check_order_size(inst: Instrument, qty: int, price: int, *, endpoint: str) -> None:
    """Refuse locally what Binance would refuse (LOT_SIZE min, notional min); ``price`` 0 skips notional."""
    spot = inst.market == MarketType.SPOT
    if qty <= 0 or qty < inst.min_qty:
        code = SPOT_FILTER_FAILURE if spot else USDM_QTY_NOT_POSITIVE if qty <= 0 else USDM_QTY_BELOW_MIN
        raise OrderRejectedError(CONNECTOR, endpoint, 0, code,
                                 f"{inst.symbol}: quantity {format_fixed(qty, inst.qty_prec)} after "
                                 f"rounding to step {format_fixed(inst.step_size, inst.qty_prec)} is "
                                 f"below the minimum {format_fixed(inst.min_qty, inst.qty_prec)}")
    if price and inst.min_notional:
        notional = price * qty // 10 ** inst.qty_prec      # at price_prec
        if notional < inst.min_notional:
            code = SPOT_FILTER_FAILURE if spot else USDM_NOTIONAL_BELOW_MIN
            raise OrderRejectedError(CONNECTOR, endpoint, 0, code,
                                     f"{inst.symbol}: notional {format_fixed(notional, inst.price_prec)} "
                                     f"is below the minimum {format_fixed(inst.min_notional, inst.price_prec)}")


def index(instruments: Iterable[Instrument]) -> dict[str, Instrument]:
    return {i.symbol: i for i in instruments}

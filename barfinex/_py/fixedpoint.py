"""Pure-Python twin of barfinex/_fast/fixedpoint.pyx."""
from __future__ import annotations

_LIMIT = 2**63 - 1


def parse_fixed(text, prec: int) -> int:
    """``parse_fixed("61800.30", 2) == 6180030``. ValueError for text that is not
    a plain decimal, has non-zero digits beyond ``prec``, or overflows int64."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise ValueError(f"expected a decimal string, got {type(text).__name__}")
    bad = ValueError(f"not a decimal with at most {prec} places: {text!r}")
    if not 0 <= prec <= 18 or not text:
        raise bad
    s = text
    neg = s[0] == "-"
    if s[0] in "+-":
        s = s[1:]
    whole, dot, frac = s.partition(".")
    if "." in frac or not (whole + frac) or not (whole + frac).isascii() or not (whole + frac).isdigit():
        raise bad
    if len(frac) > prec:
        if frac[prec:].strip("0"):
            raise bad
        frac = frac[:prec]
    v = int((whole or "0") + frac.ljust(prec, "0"))
    if v > _LIMIT:
        raise bad
    return -v if neg else v


def format_fixed(value: int, prec: int) -> str:
    """``format_fixed(6180030, 2) == "61800.30"``"""
    if prec == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(prec + 1, "0")
    return f"{sign}{digits[:-prec]}.{digits[-prec:]}"


def parse_levels(levels, price_prec: int, qty_prec: int) -> list:
    """A whole message's ``[[price_str, qty_str], ...]`` to ``[(price, qty), ...]``
    in fixed point. ValueError names the index and the text of the first bad level."""
    if not isinstance(levels, list):
        raise ValueError(f"expected a list of [price, qty] pairs, got {type(levels).__name__}")
    out = []
    for i, entry in enumerate(levels):
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            raise ValueError(f"level {i}: expected a [price, qty] pair, got {entry!r}")
        p, q = entry
        if not isinstance(p, str) or not isinstance(q, str):
            raise ValueError(f"level {i}: price and qty must be decimal strings, got {entry!r}")
        try:
            price = parse_fixed(p, price_prec)
        except ValueError:
            raise ValueError(f"level {i}: price {p!r} is not a decimal with at most {price_prec} places") from None
        try:
            qty = parse_fixed(q, qty_prec)
        except ValueError:
            raise ValueError(f"level {i}: qty {q!r} is not a decimal with at most {qty_prec} places") from None
        out.append((price, qty))
    return out

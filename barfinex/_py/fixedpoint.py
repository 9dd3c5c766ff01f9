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

# cython: language_level=3
"""Exact decimal strings to int64 fixed point, and back.

Exchanges send prices and sizes as decimal strings ("61800.30"). Parsing them
straight to an integer mantissa avoids float rounding: 0.1 + 0.2 never
happens inside the hot path.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.list cimport PyList_CheckExact, PyList_GET_ITEM, PyList_GET_SIZE, PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from libc.stdint cimport int64_t, uint64_t

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL

cdef uint64_t _LIMIT = 9223372036854775807ULL


cdef int64_t parse_fixed_c(const char* s, Py_ssize_t n, int prec, int* ok) noexcept nogil:
    cdef Py_ssize_t i = 0
    cdef bint neg = False
    cdef bint seen_digit = False
    cdef bint in_frac = False
    cdef int frac = 0
    cdef int ndigits = 0        # digits folded into v; below 19, v < 10**18 cannot overflow
    cdef uint64_t v = 0
    cdef uint64_t d
    cdef char c
    ok[0] = 0
    if n == 0 or prec < 0 or prec > 18:
        return 0
    if s[0] == c'-' or s[0] == c'+':
        neg = s[0] == c'-'
        i = 1
    while i < n:
        c = s[i]
        if c == c'.':
            if in_frac:
                return 0
            in_frac = True
        elif c'0' <= c <= c'9':
            seen_digit = True
            if in_frac:
                if frac == prec:
                    # digits past the precision are allowed only as zeros
                    if c != c'0':
                        return 0
                    i += 1
                    continue
                frac += 1
            d = <uint64_t>(c - c'0')
            # The per-digit overflow test costs a division: only pay it once
            # v could reach 2**63 (19 digits); prices and sizes never do.
            if ndigits >= 18 and v > (_LIMIT - d) // 10:
                return 0
            v = v * 10 + d
            if v:
                ndigits += 1
        else:
            return 0
        i += 1
    if not seen_digit:
        return 0
    while frac < prec:
        if ndigits >= 18 and v > _LIMIT // 10:
            return 0
        v *= 10
        if v:
            ndigits += 1
        frac += 1
    ok[0] = 1
    return -<int64_t>v if neg else <int64_t>v


cpdef int64_t parse_fixed(object text, int prec) except? -1:
    """``parse_fixed("61800.30", 2) == 6180030``. ValueError for text that is not
    a plain decimal, has non-zero digits beyond ``prec``, or overflows int64."""
    cdef Py_ssize_t n
    cdef const char* s
    cdef int ok = 0
    cdef int64_t v
    if isinstance(text, str):
        s = PyUnicode_AsUTF8AndSize(text, &n)
    elif isinstance(text, bytes):
        s = PyBytes_AS_STRING(text)
        n = PyBytes_GET_SIZE(text)
    else:
        raise ValueError(f"expected a decimal string, got {type(text).__name__}")
    v = parse_fixed_c(s, n, prec, &ok)
    if not ok:
        raise ValueError(f"not a decimal with at most {prec} places: {text!r}")
    return v


cpdef str format_fixed(int64_t value, int prec):
    """``format_fixed(6180030, 2) == "61800.30"``"""
    if prec == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    digits = str(-value if value < 0 else value).rjust(prec + 1, "0")
    return f"{sign}{digits[:-prec]}.{digits[-prec:]}"


cpdef list parse_levels(object levels, int price_prec, int qty_prec):
    """A whole message's ``[[price_str, qty_str], ...]`` to ``[(price, qty), ...]``
    in fixed point, in one call (the per-level Python call is what costs).
    ValueError names the index and the text of the first bad level.

    The result is what a BookDelta carries and what ``OrderBook.apply_diff``
    takes without parsing again. Most of the cost per level is building the
    tuple and its two ints, not the parse (bench/RESULTS.md, Binance adapters)."""
    cdef Py_ssize_t i, n, pn, qn
    cdef const char* ps
    cdef const char* qs
    cdef int ok_p = 0, ok_q = 0
    cdef int64_t price, qty
    cdef object entry, p, q
    cdef tuple level
    if not PyList_CheckExact(levels):
        if not isinstance(levels, list):
            raise ValueError(f"expected a list of [price, qty] pairs, got {type(levels).__name__}")
        levels = list(levels)
    n = PyList_GET_SIZE(levels)
    # Filled below before anyone sees it; a list dropped half-filled on an
    # error is safe (its empty slots are NULL, which list_dealloc skips).
    cdef list out = PyList_New(n)
    for i in range(n):
        entry = <object>PyList_GET_ITEM(levels, i)
        # Binance sends lists of two str: take that path without the generic
        # sequence protocol.
        if PyList_CheckExact(entry) and PyList_GET_SIZE(entry) == 2:
            p = <object>PyList_GET_ITEM(entry, 0)
            q = <object>PyList_GET_ITEM(entry, 1)
        elif isinstance(entry, (list, tuple)) and len(entry) == 2:
            p = entry[0]
            q = entry[1]
        else:
            raise ValueError(f"level {i}: expected a [price, qty] pair, got {entry!r}")
        if not isinstance(p, str) or not isinstance(q, str):
            raise ValueError(f"level {i}: price and qty must be decimal strings, got {entry!r}")
        ps = PyUnicode_AsUTF8AndSize(p, &pn)
        qs = PyUnicode_AsUTF8AndSize(q, &qn)
        price = parse_fixed_c(ps, pn, price_prec, &ok_p)
        qty = parse_fixed_c(qs, qn, qty_prec, &ok_q)
        if not ok_p:
            raise ValueError(f"level {i}: price {p!r} is not a decimal with at most {price_prec} places")
        if not ok_q:
            raise ValueError(f"level {i}: qty {q!r} is not a decimal with at most {qty_prec} places")
        level = (price, qty)
        Py_INCREF(level)                # PyList_SET_ITEM steals the reference
        PyList_SET_ITEM(out, i, level)
    return out

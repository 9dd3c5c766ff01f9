"""Batch trade input, shared by the compiled modules and their twins: the
four columns as contiguous arrays of the dtypes the hot loops read, with one
length check and one error message for all of them."""
from __future__ import annotations

import numpy as np


def trade_columns(ts_ns, price, qty, is_buyer_maker) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(int64 ns, int64 price, int64 qty, bool buyer-is-maker), contiguous.
    ValueError when the arrays differ in length."""
    ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
    px = np.ascontiguousarray(price, dtype=np.int64)
    qt = np.ascontiguousarray(qty, dtype=np.int64)
    mk = np.ascontiguousarray(is_buyer_maker, dtype=np.bool_)
    n = len(ts)
    if len(px) != n or len(qt) != n or len(mk) != n:
        raise ValueError(f"batch arrays differ in length: ts {n}, price {len(px)}, "
                         f"qty {len(qt)}, is_buyer_maker {len(mk)}")
    return ts, px, qt, mk

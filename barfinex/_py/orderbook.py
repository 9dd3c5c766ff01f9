"""Pure-Python twin of barfinex/_fast/orderbook.pyx: same API, same results.

Each side is a dict (key -> size) plus a sorted list of keys kept with bisect.
A key is ``price // tick`` for asks and ``-(price // tick)`` for bids, so the
best level of either side is the lowest key, as in the compiled book.
"""
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort

from barfinex._py.fixedpoint import parse_fixed

BID = 0
ASK = 1
BUY = 1     # barfinex.model.enums.Side.BUY: a taker buy walks the asks
SELL = 2    # barfinex.model.enums.Side.SELL: a taker sell walks the bids
DEFAULT_WINDOW = 16384
_INT64_MAX = 2**63 - 1


class BookError(ValueError):
    """A message or argument the book refuses; the book is left unchanged."""


class _Ladder:
    __slots__ = ("sizes", "keys")

    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}
        self.keys: list[int] = []

    def clear(self) -> None:
        self.sizes.clear()
        self.keys.clear()

    def set(self, key: int, size: int) -> None:
        if size == 0:
            if self.sizes.pop(key, None) is not None:
                del self.keys[bisect_left(self.keys, key)]
            return
        if key not in self.sizes:
            insort(self.keys, key)
        self.sizes[key] = size

    def walk(self, n: int, key_limit: int = _INT64_MAX) -> list[tuple[int, int]]:
        keys = self.keys[: bisect_right(self.keys, key_limit)]
        if n >= 0:
            keys = keys[:n]
        return [(k, self.sizes[k]) for k in keys]


def _is_text(o) -> bool:
    return isinstance(o, (str, bytes))


def _is_mantissa(o) -> bool:
    return isinstance(o, int) and not isinstance(o, bool)


_INT64_MIN = -2**63


class OrderBook:
    """An L2 book for one instrument.

    ``OrderBook("BTCUSDT", price_decimals=2, size_decimals=5, tick_size=1, step_size=1)``:
    prices are integers in units of 10**-price_decimals (61800.30 -> 6180030),
    sizes in units of 10**-size_decimals; ``tick_size`` and ``step_size`` are in
    those units. ``window`` is accepted for parity with the compiled book
    (which holds that many ticks a side densely); the twin has no window.
    """

    def __init__(self, symbol: str, price_decimals: int, size_decimals: int,
                 tick_size: int = 1, step_size: int = 1, window: int = DEFAULT_WINDOW) -> None:
        if not isinstance(symbol, str):
            raise TypeError(f"symbol must be str, not {type(symbol).__name__}")
        if not symbol:
            raise BookError("symbol must be non-empty")
        if not 0 <= price_decimals <= 18 or not 0 <= size_decimals <= 18:
            raise BookError("price_decimals and size_decimals must be within 0..18")
        if tick_size < 1 or step_size < 1:
            raise BookError("tick_size and step_size must be >= 1 (mantissa units)")
        if window < 64:
            raise BookError("window must be at least 64 ticks")
        self.symbol = symbol
        self.price_decimals = price_decimals
        self.size_decimals = size_decimals
        self.tick_size = tick_size
        self.step_size = step_size
        self.window = (window + 63) // 64 * 64
        self.recenters = 0    # the twin has no window to move
        self.last_update_id = 0
        self.updates = 0
        self.messages = 0
        self.crossed = False
        self.crossed_count = 0
        self._price_scale = 10.0 ** price_decimals
        self._bids = _Ladder()
        self._asks = _Ladder()

    def __repr__(self) -> str:
        return (f"OrderBook({self.symbol!r}, bids={self.bid_count}, asks={self.ask_count}, "
                f"bbo={self.bbo()}, last_update_id={self.last_update_id})")

    @property
    def bid_count(self) -> int:
        """Number of bid levels."""
        return len(self._bids.keys)

    @property
    def ask_count(self) -> int:
        """Number of ask levels."""
        return len(self._asks.keys)

    # -- validation: the whole message is checked before anything mutates --

    def _check_level(self, price: int, size: int, what: str, i: int) -> None:
        if price <= 0:
            raise BookError(f"{self.symbol} {what}[{i}]: price {price} must be positive")
        if price % self.tick_size:
            raise BookError(f"{self.symbol} {what}[{i}]: price {price} is not a multiple of "
                            f"tick {self.tick_size}")
        if size < 0:
            raise BookError(f"{self.symbol} {what}[{i}]: negative size {size}")
        if size % self.step_size:
            raise BookError(f"{self.symbol} {what}[{i}]: size {size} is not a multiple of "
                            f"step {self.step_size}")

    def _parse(self, levels, what: str) -> list[tuple[int, int]]:
        """One side of a message: pairs of decimal strings (parsed here) or of
        int mantissas (parsed upstream by ``fixedpoint.parse_levels``), checked."""
        if not isinstance(levels, (list, tuple)):
            raise BookError(f"{self.symbol} {what}: expected a list of [price, size] pairs, "
                            f"got {type(levels).__name__}")
        out = []
        for i, entry in enumerate(levels):
            if not isinstance(entry, (list, tuple)) or len(entry) != 2:
                raise BookError(f"{self.symbol} {what}[{i}]: expected a [price, size] pair, got {entry!r}")
            p, q = entry
            if _is_mantissa(p) and _is_mantissa(q):
                if not _INT64_MIN <= p <= _INT64_MAX:
                    raise BookError(f"{self.symbol} {what}[{i}]: price {p} does not fit in int64")
                if not _INT64_MIN <= q <= _INT64_MAX:
                    raise BookError(f"{self.symbol} {what}[{i}]: size {q} does not fit in int64")
                price, size = int(p), int(q)
            elif _is_text(p) and _is_text(q):
                try:
                    price = parse_fixed(p, self.price_decimals)
                except ValueError:
                    raise BookError(f"{self.symbol} {what}[{i}]: price {p!r} is not a decimal "
                                    f"with at most {self.price_decimals} places") from None
                try:
                    size = parse_fixed(q, self.size_decimals)
                except ValueError:
                    raise BookError(f"{self.symbol} {what}[{i}]: size {q!r} is not a decimal "
                                    f"with at most {self.size_decimals} places") from None
            else:
                raise BookError(f"{self.symbol} {what}[{i}]: price and size must be two decimal strings "
                                f"or two int mantissas, got {entry!r}")
            self._check_level(price, size, what, i)
            out.append((price, size))
        return out

    def _check_arrays(self, prices, sizes, what: str) -> list[tuple[int, int]]:
        if len(prices) != len(sizes):
            raise BookError(f"{self.symbol} {what}: {len(prices)} prices but {len(sizes)} sizes")
        out = []
        for i, (price, size) in enumerate(zip(prices, sizes)):
            price, size = int(price), int(size)
            self._check_level(price, size, what, i)
            out.append((price, size))
        return out

    # -- mutation --

    def _commit(self, bids, asks, update_id: int) -> int:
        tick = self.tick_size
        for price, size in bids:
            self._bids.set(-(price // tick), size)
        for price, size in asks:
            self._asks.set(price // tick, size)
        self.updates += len(bids) + len(asks)
        self.messages += 1
        self.last_update_id = update_id
        b, a = self._bids.keys, self._asks.keys
        self.crossed = bool(b and a and -b[0] >= a[0])
        if self.crossed:
            self.crossed_count += 1
        return len(bids) + len(asks)

    def apply_snapshot(self, bids, asks, last_update_id: int) -> int:
        """Replace the book with a REST snapshot: ``bids``/``asks`` are lists of
        ``[price_str, size_str]`` (Binance's text) or of ``(price, size)`` int
        mantissas. Returns the number of levels read. Raises BookError (book
        unchanged) on any malformed level."""
        b, a = self._parse(bids, "bids"), self._parse(asks, "asks")
        self._bids.clear()
        self._asks.clear()
        return self._commit(b, a, last_update_id)

    def apply_diff(self, bids, asks, update_id: int) -> int:
        """Apply one whole depth-diff message: every bid and ask level of it, in
        one call. A level is ``[price_str, size_str]`` or ``(price, size)`` in
        int mantissas, as ``fixedpoint.parse_levels`` returns them (no second
        parse); size 0 deletes the level. Returns the number of levels
        applied. Raises BookError (book unchanged) on any malformed level."""
        b, a = self._parse(bids, "bids"), self._parse(asks, "asks")
        return self._commit(b, a, update_id)

    def apply_snapshot_arrays(self, bid_prices, bid_sizes, ask_prices, ask_sizes,
                              last_update_id: int) -> int:
        """``apply_snapshot`` from int64 arrays of mantissas (numpy or array('q'))."""
        b = self._check_arrays(bid_prices, bid_sizes, "bids")
        a = self._check_arrays(ask_prices, ask_sizes, "asks")
        self._bids.clear()
        self._asks.clear()
        return self._commit(b, a, last_update_id)

    def apply_diff_arrays(self, bid_prices, bid_sizes, ask_prices, ask_sizes, update_id: int) -> int:
        """``apply_diff`` from int64 arrays of mantissas (numpy or array('q'))."""
        b = self._check_arrays(bid_prices, bid_sizes, "bids")
        a = self._check_arrays(ask_prices, ask_sizes, "asks")
        return self._commit(b, a, update_id)

    def clear(self) -> None:
        """Drop every level and reset the update id and the crossed flag."""
        self._bids.clear()
        self._asks.clear()
        self.last_update_id = 0
        self.crossed = False

    # -- queries --

    def bbo(self) -> tuple[int, int, int, int]:
        """``(bid_price, bid_size, ask_price, ask_size)``; 0s for an empty side."""
        bid = self.best_bid() or (0, 0)
        ask = self.best_ask() or (0, 0)
        return (bid[0], bid[1], ask[0], ask[1])

    def best_bid(self):
        """``(price, size)`` of the best bid, or None."""
        if not self._bids.keys:
            return None
        k = self._bids.keys[0]
        return (-k * self.tick_size, self._bids.sizes[k])

    def best_ask(self):
        """``(price, size)`` of the best ask, or None."""
        if not self._asks.keys:
            return None
        k = self._asks.keys[0]
        return (k * self.tick_size, self._asks.sizes[k])

    def _side(self, side: int) -> tuple[_Ladder, int]:
        if side == BID:
            return self._bids, -self.tick_size
        if side == ASK:
            return self._asks, self.tick_size
        raise BookError(f"side must be BID ({BID}) or ASK ({ASK}), got {side}")

    def top(self, n: int):
        """``(bids, asks)``: up to ``n`` levels a side as ``(price, size)``, best first."""
        if n < 0:
            raise BookError(f"n must be >= 0, got {n}")
        t = self.tick_size
        return ([(-k * t, s) for k, s in self._bids.walk(n)],
                [(k * t, s) for k, s in self._asks.walk(n)])

    def depth(self, side: int, band: int) -> int:
        """Total size of ``side`` within ``band`` (price units, >= 0) of its best price."""
        ladder, _ = self._side(side)
        if band < 0:
            raise BookError(f"band must be >= 0, got {band}")
        if not ladder.keys:
            return 0
        return sum(s for _, s in ladder.walk(-1, ladder.keys[0] + band // self.tick_size))

    def imbalance(self, n: int) -> float:
        """``(bid size - ask size) / (bid size + ask size)`` over the best ``n``
        levels a side, in [-1, 1]; 0.0 on an empty book."""
        if n < 1:
            raise BookError(f"n must be >= 1, got {n}")
        b = sum(s for _, s in self._bids.walk(n))
        a = sum(s for _, s in self._asks.walk(n))
        if a + b == 0:
            return 0.0
        return float(b - a) / float(b + a)

    def microprice(self) -> float:
        """Size-weighted mid in price units (a float, e.g. 61800.25):
        ``(bid * ask_size + ask * bid_size) / (bid_size + ask_size)``; NaN
        when a side is empty."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return math.nan
        bp, bs = float(bid[0]), float(bid[1])
        ap, asz = float(ask[0]), float(ask[1])
        return (bp * asz + ap * bs) / (asz + bs) / self._price_scale

    def fill_price(self, taker_side: int, quantity: int):
        """Walk the book for a taker order of ``quantity`` (size units):
        ``(average price as a float in price units, size filled)``. BUY (1)
        walks the asks, SELL (2) the bids. The average is NaN when nothing
        fills; ``filled < quantity`` when the book is too thin."""
        if taker_side == BUY:
            ladder, sign = self._asks, self.tick_size
        elif taker_side == SELL:
            ladder, sign = self._bids, -self.tick_size
        else:
            raise BookError(f"taker_side must be BUY (1) or SELL (2), got {taker_side}")
        if quantity <= 0:
            raise BookError(f"quantity must be positive, got {quantity}")
        left = quantity
        notional = 0.0
        for k in ladder.keys:
            take = min(left, ladder.sizes[k])
            notional += float(k * sign) * float(take)
            left -= take
            if left == 0:
                break
        if left == quantity:
            return (math.nan, 0)
        return (notional / float(quantity - left) / self._price_scale, quantity - left)

    def walls(self, side: int, k: int, levels: int = 1000) -> list[tuple[int, int]]:
        """The ``k`` largest levels by size among the best ``levels`` of
        ``side``, as ``(price, size)``, largest first (ties: nearer the touch first)."""
        ladder, sign = self._side(side)
        if k < 1 or levels < 1:
            raise BookError(f"k and levels must be >= 1, got k={k}, levels={levels}")
        near = ladder.walk(levels)
        # sorted() is stable: equal sizes keep book order, nearer the touch first
        biggest = sorted(near, key=lambda ks: -ks[1])[:k]
        return [(key * sign, size) for key, size in biggest]

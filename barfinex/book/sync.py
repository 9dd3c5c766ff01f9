"""Binance order book sync: snapshot + sequenced diffs, per symbol.

The procedure (Binance's "how to manage a local order book correctly"):

1. Buffer the diff stream while there is no book (SYNCING / RESYNCING).
2. Take a REST snapshot (``lastUpdateId`` = L). Drop buffered diffs it already
   contains: spot ``u <= L``, futures ``u < L``.
3. The first diff applied must bridge the snapshot: spot ``U <= L+1 <= u``,
   futures (USD-M and COIN-M) ``U <= L <= u``.
4. Then continuity: spot ``U == prev_u + 1``, futures ``pu == prev_u``. A diff
   at or below ``prev_u`` is a duplicate and is dropped; anything else is a
   gap: the symbol goes RESYNCING and asks for a new snapshot (this symbol
   alone), buffering diffs meanwhile.

A crossed book after a diff, or a diff the book rejects (bad price, negative
size...) while in sequence, is handled like a gap: the local book can no
longer be trusted, so it is rebuilt.

Why Python and not Cython: per message this is a few integer comparisons and
a dict lookup or two; the per-level work (checking and applying every level)
happens inside the compiled book's one ``apply_diff`` call. The state machine
runs once per message, the book once per level.

Levels (``b``/``a`` of a diff, ``bids``/``asks`` of a snapshot) go to the book
as they come: the exchange's ``[price_str, size_str]`` (a raw capture, a REST
snapshot) or ``(price, size)`` int mantissas already parsed upstream (the
Provider's ``DepthDiff.sync_input()``), so nothing is parsed twice.

Every state change, every snapshot request and every rejection is a
``BookEvent``: returned from the call that caused it, and passed to the
``on_event`` callback when one is given (the Provider fetches the snapshot and
publishes ``MARKETDATA_BOOK_STATE``).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from barfinex.model.enums import BookStatus, MarketType

STATUS_CHANGED = "status_changed"     # status moved; see previous/status
SNAPSHOT_NEEDED = "snapshot_needed"   # fetch a REST snapshot for this symbol, pass it to on_snapshot
REJECTED = "rejected"                 # a message was refused; the book is unchanged

DEFAULT_MAX_BUFFER = 10_000


@dataclass(frozen=True, slots=True)
class BookEvent:
    """Something the owner of a BookSync must know about."""

    kind: str                       # STATUS_CHANGED, SNAPSHOT_NEEDED or REJECTED
    symbol: str
    status: BookStatus              # status after the event
    previous: BookStatus | None     # status before (STATUS_CHANGED only)
    reason: str                     # for people: why it happened
    update_id: int                  # the book's last applied update id at the time


@dataclass(slots=True)
class SyncStats:
    """Counters for monitoring and for ``barfinex data check``."""

    diffs_applied: int = 0      # diffs applied to the book
    levels_applied: int = 0     # price levels in those diffs
    snapshots: int = 0          # snapshots applied
    stale_dropped: int = 0      # diffs already contained in the book (duplicates, pre-snapshot)
    buffered: int = 0           # diffs buffered while waiting for a snapshot
    buffer_overflow: int = 0    # buffered diffs dropped because the buffer was full
    gaps: int = 0               # sequence gaps detected
    crossed: int = 0            # diffs that left the book crossed
    resyncs: int = 0            # times the book was thrown away and a snapshot requested
    stale_snapshots: int = 0    # snapshots older than the buffered stream (refetched)
    rejected: int = 0           # messages refused (malformed, other symbol, bad levels)


class _Diff:
    __slots__ = ("first", "last", "prev", "bids", "asks")

    def __init__(self, first: int, last: int, prev: int, bids, asks) -> None:
        self.first, self.last, self.prev, self.bids, self.asks = first, last, prev, bids, asks


class BookSync:
    """Keeps one symbol's ``OrderBook`` in sync with Binance's depth stream.

    ``book`` is an OrderBook from either backend (``backend.load("orderbook")``);
    ``market`` picks the sequencing rules (spot: U/u; USD-M and COIN-M: U/u/pu).
    Call ``start()`` once, ``on_depth(data)`` for every depthUpdate payload and
    ``on_snapshot(rest_body)`` with each REST snapshot asked for.
    """

    def __init__(self, book, market: MarketType, *,
                 on_event: Callable[[BookEvent], Any] | None = None,
                 max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        if market not in (MarketType.SPOT, MarketType.USDM, MarketType.COINM):
            raise ValueError(f"unknown market {market!r}")
        if max_buffer < 1:
            raise ValueError("max_buffer must be >= 1")
        self.book = book
        self.symbol: str = book.symbol
        self.market = MarketType(market)
        self.futures = self.market != MarketType.SPOT
        self.status = BookStatus.SYNCING
        self.stats = SyncStats()
        self.last_error = ""
        self._on_event = on_event
        self._buffer: deque[_Diff] = deque(maxlen=max_buffer)
        self._bridge_pending = False    # VALID on a snapshot; the next diff must bridge it

    @property
    def is_valid(self) -> bool:
        """True when the book may be acted on."""
        return self.status == BookStatus.VALID

    @property
    def holding(self) -> int:
        """Diffs buffered now, waiting for a snapshot (0 once VALID)."""
        return len(self._buffer)

    def start(self) -> list[BookEvent]:
        """Ask for the first snapshot (subscribe to the diff stream first)."""
        events: list[BookEvent] = []
        self._emit(events, SNAPSHOT_NEEDED, "initial sync")
        return events

    def resync(self, reason: str) -> list[BookEvent]:
        """Throw the book away and ask for a new snapshot: after a reconnect or a
        silent stream, diffs may have been lost without a visible gap."""
        events: list[BookEvent] = []
        self._resync(events, reason)
        return events

    # -- input --

    def on_depth(self, data: dict) -> list[BookEvent]:
        """Handle one depthUpdate payload (the ``data`` of a combined-stream
        message, or ``DepthDiff.sync_input()`` with its levels already parsed)."""
        events: list[BookEvent] = []
        diff = self._read_diff(data, events)
        if diff is None:
            return events
        if self.status != BookStatus.VALID:
            self._hold(diff)
        else:
            self._sequence(diff, events)
        return events

    def on_snapshot(self, snapshot: dict) -> list[BookEvent]:
        """Handle a REST depth snapshot body ``{"lastUpdateId", "bids", "asks"}``."""
        events: list[BookEvent] = []
        last_id = snapshot.get("lastUpdateId") if isinstance(snapshot, dict) else None
        if not isinstance(last_id, int) or isinstance(last_id, bool) \
                or "bids" not in snapshot or "asks" not in snapshot:
            self._reject(events, "snapshot without lastUpdateId/bids/asks")
            if self.status != BookStatus.VALID:
                self._emit(events, SNAPSHOT_NEEDED, "previous snapshot malformed")
            return events
        if self.status == BookStatus.VALID:
            # Nobody asked: applying it would silently rewind or skip the stream.
            self.stats.stale_snapshots += 1
            self._reject(events, f"snapshot {last_id} while VALID at {self.book.last_update_id}: ignored")
            return events
        buf = self._buffer
        while buf and self._contained(buf[0], last_id):
            buf.popleft()
            self.stats.stale_dropped += 1
        if buf and not self._bridges(buf[0], last_id):
            # The oldest diff held starts after the snapshot: updates in between
            # are lost to us, so this snapshot cannot be used. Fetch a newer one.
            self.stats.stale_snapshots += 1
            self._reject(events, f"stale snapshot: lastUpdateId {last_id} is older than the "
                                 f"buffered stream (first U={buf[0].first})")
            self._emit(events, SNAPSHOT_NEEDED, "stale snapshot")
            return events
        try:
            self.book.apply_snapshot(snapshot["bids"], snapshot["asks"], last_id)
        except ValueError as exc:
            self._reject(events, f"snapshot refused by the book: {exc}")
            self._emit(events, SNAPSHOT_NEEDED, "previous snapshot refused")
            return events
        self.stats.snapshots += 1
        if self.book.crossed:
            self._resync(events, f"snapshot {last_id} is crossed")
            return events
        self._bridge_pending = True
        self._set_status(events, BookStatus.VALID, f"snapshot {last_id} applied")
        while buf and self.status == BookStatus.VALID:
            self._sequence(buf.popleft(), events)
        return events

    # -- internals --

    def _read_diff(self, data: Any, events: list[BookEvent]) -> _Diff | None:
        if not isinstance(data, dict):
            self._reject(events, f"depth message is not an object: {type(data).__name__}")
            return None
        symbol = data.get("s")
        if symbol != self.symbol:
            self._reject(events, f"depth message for {symbol!r}, this book is {self.symbol!r}")
            return None
        first, last = data.get("U"), data.get("u")
        prev = data.get("pu", -1) if self.futures else -1
        bids, asks = data.get("b"), data.get("a")
        # `type(x) is int` refuses bool too, without a generator per message (the hot path).
        if type(first) is not int or type(last) is not int or type(prev) is not int \
                or bids is None or asks is None:
            need = "U, u, pu, b, a" if self.futures else "U, u, b, a"
            self._reject(events, f"truncated depth message (needs {need}): keys {sorted(data)}")
            return None
        if first > last:
            self._reject(events, f"depth message with U={first} > u={last}")
            return None
        return _Diff(first, last, prev, bids, asks)

    def _contained(self, diff: _Diff, last_id: int) -> bool:
        # Binance: spot drops u <= lastUpdateId, futures u < lastUpdateId
        return diff.last < last_id if self.futures else diff.last <= last_id

    def _bridges(self, diff: _Diff, last_id: int) -> bool:
        if self.futures:
            return diff.first <= last_id <= diff.last
        return diff.first <= last_id + 1 <= diff.last

    def _hold(self, diff: _Diff) -> None:
        if len(self._buffer) == self._buffer.maxlen:
            self.stats.buffer_overflow += 1
        self._buffer.append(diff)
        self.stats.buffered += 1

    def _sequence(self, diff: _Diff, events: list[BookEvent]) -> None:
        """Apply ``diff`` if it is next in sequence (VALID only)."""
        last = self.book.last_update_id
        if self._bridge_pending:
            if self._contained(diff, last):
                self.stats.stale_dropped += 1
                return
            if not self._bridges(diff, last):
                self.stats.gaps += 1
                self._resync(events, f"no bridging diff: snapshot {last}, next U={diff.first}", diff)
                return
        elif diff.last <= last:
            self.stats.stale_dropped += 1      # duplicate or out-of-order: already applied
            return
        elif (diff.prev != last) if self.futures else (diff.first != last + 1):
            self.stats.gaps += 1
            seen = f"pu={diff.prev}" if self.futures else f"U={diff.first}"
            self._resync(events, f"gap: book at {last}, next diff {seen} u={diff.last}", diff)
            return
        try:
            levels = self.book.apply_diff(diff.bids, diff.asks, diff.last)
        except ValueError as exc:
            # The book is unchanged but this update is lost to it: rebuild.
            self._reject(events, f"depth u={diff.last} refused by the book: {exc}")
            self._resync(events, "in-sequence diff refused")
            return
        self._bridge_pending = False
        self.stats.diffs_applied += 1
        self.stats.levels_applied += levels
        if self.book.crossed:
            self.stats.crossed += 1
            self._resync(events, f"book crossed after u={diff.last}")

    def _resync(self, events: list[BookEvent], reason: str, keep: _Diff | None = None) -> None:
        """Throw the book away and ask for a snapshot of this symbol alone."""
        self.stats.resyncs += 1
        self._buffer.clear()
        self._bridge_pending = False
        if keep is not None:
            # The diff that showed the gap is newer than anything applied: the
            # next snapshot may well bridge to it.
            self._hold(keep)
        self._set_status(events, BookStatus.RESYNCING, reason)
        self._emit(events, SNAPSHOT_NEEDED, reason)

    def _set_status(self, events: list[BookEvent], status: BookStatus, reason: str) -> None:
        if status == self.status:
            return
        previous, self.status = self.status, status
        self._emit(events, STATUS_CHANGED, reason, previous)

    def _reject(self, events: list[BookEvent], reason: str) -> None:
        self.stats.rejected += 1
        self.last_error = reason
        self._emit(events, REJECTED, reason)

    def _emit(self, events: list[BookEvent], kind: str, reason: str,
              previous: BookStatus | None = None) -> None:
        event = BookEvent(kind, self.symbol, self.status, previous, reason, self.book.last_update_id)
        events.append(event)
        if self._on_event is not None:
            self._on_event(event)

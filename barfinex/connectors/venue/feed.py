"""Replay of one market's captures: the venue's own books, derived streams, pacing, loops.

A ``Feed`` holds the messages of one market (spot or USD-M) read from the
captures of one session, and plays them to a ``sink`` (the server's stream
hub) at a speed factor. Per symbol it keeps what the venue needs to answer
REST consistently with the stream: an order book rebuilt from the recorded
REST snapshot and the replayed diffs (Binance's sync rule, ``BookSync``), a
candle aggregator over the replayed trades (``/klines`` and ``@kline_*``),
and the last trade and mark price (for the paper exchange).

Start of a pass: messages before the venue's book is synced (the recorded
snapshot plus its bridging diff) are applied silently; the stream starts at
the sync point, so the first REST snapshot a client can fetch is consistent
with the first diff it can receive.

Loops: pass ``k`` adds ``k * id_step`` to every book update id (``U``, ``u``,
``pu``, bookTicker ``u``, the snapshot's ``lastUpdateId``), ``k * trade_step``
to trade ids and ``k * time_step`` ms to event times. The ids jump, as they do
when an exchange restarts a book, so a client following Binance's procedure
detects a gap and resyncs; the snapshot it then fetches is the restarted book.
Times keep moving forward so candles stay ordered.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Protocol

import msgspec

from barfinex import backend
from barfinex.book.sync import BookSync
from barfinex.capture import CaptureError, CaptureLine, CaptureStats, read_capture
from barfinex.model.enums import BookStatus, MarketType, Timeframe

from .instruments import Instrument, MarketDefaults, PrecisionScan

log = logging.getLogger("barfinex.venue.feed")

# Binance kline intervals the candle aggregator also has (6h, 8h, 12h, 3d, 1M it has not).
KLINE_INTERVALS = {tf.label: tf for tf in (
    Timeframe.S1, Timeframe.M1, Timeframe.M3, Timeframe.M5, Timeframe.M15, Timeframe.M30,
    Timeframe.H1, Timeframe.H2, Timeframe.H4, Timeframe.D1, Timeframe.W1)}
KLINE_HISTORY = 5000                 # closed bars kept per interval for /klines
_WEEK_ANCHOR_NS = 4 * 86400 * 1_000_000_000   # Monday 1970-01-05, as the aggregator
_MS = 1_000_000
_encode = msgspec.json.Encoder().encode


class Sink(Protocol):
    """Where a feed delivers (the server's stream hub)."""

    def wants(self, market: MarketType, key: str) -> bool: ...

    def publish(self, market: MarketType, key: str, payload: str) -> None: ...

    async def drain(self) -> None: ...


class Listener(Protocol):
    """Who watches the replayed market (the paper exchange)."""

    def on_book(self, sym: "SymbolState") -> None: ...

    def on_trade(self, sym: "SymbolState", price: int, qty: int, time_ms: int) -> None: ...


def detect_market(lines: Iterable[CaptureLine]) -> MarketType:
    """USD-M when depth diffs carry ``pu`` (or, without depth, futures-only
    fields: ``e`` in bookTicker, ``X`` in trades); otherwise spot."""
    hint = None
    for line in lines:
        d = line.data
        if d.get("e") == "depthUpdate":
            return MarketType.USDM if "pu" in d else MarketType.SPOT
        if hint is None and (d.get("e") == "bookTicker" or (d.get("e") == "trade" and "X" in d)):
            hint = MarketType.USDM
    return hint or MarketType.SPOT


@dataclass
class ReplayStats:
    """Progress, for people and tests."""

    sent: int = 0                 # messages delivered to the hub (all passes)
    loops: int = 0                # completed passes
    recorded_gaps: int = 0        # diffs out of sequence in the recording itself
    rejected: int = 0             # recorded messages the venue could not use
    behind_ms: float = 0.0        # how far the paced replay runs behind the recording


class SymbolState:
    """One symbol of a feed: the venue's book, candles, last prices."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.lower = instrument.symbol.lower()
        self.book = backend.load("orderbook").OrderBook(
            instrument.symbol, instrument.price_dec, instrument.qty_dec, 1, 1)
        self.sync: BookSync | None = None
        self.has_depth = False
        self.live = False             # book synced: diffs are applied and sent
        candles = backend.load("candles")
        self.candle_error = candles.CandleError
        self.candles = candles.CandleAggregator(tuple(KLINE_INTERVALS.values()), instrument.price_dec,
                                                instrument.qty_dec, instrument.symbol, True, False)
        self.history: dict[int, deque] = {int(tf): deque(maxlen=KLINE_HISTORY) for tf in KLINE_INTERVALS.values()}
        self.bar_open: dict[int, int] = {}       # tf seconds -> open ns of the bar in progress
        self.bar_first_id: dict[int, int] = {}   # tf seconds -> its first trade id
        self.last_trade_id = -1
        self.last_price = 0                      # last trade price, ticks
        self.clock_ms = 0                        # replay clock: event time of the last message
        self.agg_id = 0
        self.last_kline_push: dict[int, int] = {}
        self.last_mark_push = {1000: 0, 3000: 0}

    def reset_book(self) -> None:
        self.book.clear()
        self.sync = BookSync(self.book, self.instrument.market)
        self.sync.start()
        self.live = not self.has_depth

    def mark_ticks_e8(self) -> int:
        """Mid of the venue's book with 8 decimals (0 when a side is empty)."""
        bid, _, ask, _ = self.book.bbo()
        if not bid or not ask:
            return self.last_price * 10 ** (8 - self.instrument.price_dec)
        return (bid + ask) * 10 ** (8 - self.instrument.price_dec) // 2

    def depth(self, limit: int) -> tuple[list, list]:
        """The book's top ``limit`` levels a side as Binance text pairs."""
        ins = self.instrument
        bids, asks = self.book.top(limit)
        return ([[ins.fmt_price(p), ins.fmt_qty(q)] for p, q in bids],
                [[ins.fmt_price(p), ins.fmt_qty(q)] for p, q in asks])

    def kline_row(self, bar) -> list:
        """A BAR_DTYPE row as Binance's kline array."""
        ins = self.instrument
        qdec = ins.price_dec + ins.qty_dec
        return [int(bar["open_ns"]) // _MS, ins.fmt_price(int(bar["open"])), ins.fmt_price(int(bar["high"])),
                ins.fmt_price(int(bar["low"])), ins.fmt_price(int(bar["close"])), ins.fmt_qty(int(bar["volume"])),
                int(bar["close_ns"]) // _MS, ins.fmt_quote(int(bar["quote_volume"]), qdec), int(bar["count"]),
                ins.fmt_qty(int(bar["taker_buy_volume"])),
                ins.fmt_quote(int(bar["taker_buy_quote_volume"]), qdec), "0"]

    def klines(self, tf: Timeframe, start_ms: int | None, end_ms: int | None, limit: int) -> list[list]:
        """Closed bars then the bar in progress, Binance's selection rules."""
        rows = list(self.history[int(tf)])
        for bar in self.candles.snapshot():
            if int(bar["timeframe_s"]) == int(tf):
                rows.append(self.kline_row(bar))
        if start_ms is not None:
            rows = [r for r in rows if r[0] >= start_ms]
        if end_ms is not None:
            rows = [r for r in rows if r[0] <= end_ms]
        return rows[:limit] if start_ms is not None else rows[-limit:]


def _shift(data: dict, keys: tuple, by: int) -> None:
    for k in keys:
        v = data.get(k)
        if isinstance(v, int) and not isinstance(v, bool):
            data[k] = v + by


class Feed:
    """The recorded messages of one market and their replay."""

    def __init__(self, market: MarketType, files: list[Path], lines: list[CaptureLine],
                 defaults: MarketDefaults | None = None) -> None:
        self.market = market
        self.files = files
        self.lines = lines
        self.stats = ReplayStats()
        self.loop_index = 0
        self.symbols: dict[str, SymbolState] = {}
        scans: dict[str, PrecisionScan] = {}
        snapshot_scan = PrecisionScan()
        id_lo, id_hi, t_lo, t_hi, tr_lo, tr_hi = {}, {}, None, None, None, None
        for line in lines:
            d = line.data
            sym = d.get("s")
            if line.stream == "" and "lastUpdateId" in d:
                snapshot_scan.message(d)
                continue
            if not isinstance(sym, str):
                continue
            scans.setdefault(sym, PrecisionScan()).message(d)
            if d.get("e") == "depthUpdate" and isinstance(d.get("U"), int) and isinstance(d.get("u"), int):
                id_lo[sym] = min(id_lo.get(sym, d["U"]), d["U"])
                id_hi[sym] = max(id_hi.get(sym, d["u"]), d["u"])
            ts = d.get("T") if isinstance(d.get("T"), int) else d.get("E")
            if isinstance(ts, int):
                t_lo = ts if t_lo is None else min(t_lo, ts)
                t_hi = ts if t_hi is None else max(t_hi, ts)
            if d.get("e") == "trade" and isinstance(d.get("t"), int):
                tr_lo = d["t"] if tr_lo is None else min(tr_lo, d["t"])
                tr_hi = d["t"] if tr_hi is None else max(tr_hi, d["t"])
        if not scans:
            raise CaptureError(f"{', '.join(p.name for p in files)}: no market data messages")
        for sym, scan in scans.items():
            if len(scans) == 1:
                # the unlabelled REST snapshot belongs to the only symbol
                for attr in ("price_text", "price_sig", "qty_text", "qty_sig"):
                    setattr(scan, attr, max(getattr(scan, attr), getattr(snapshot_scan, attr)))
            state = SymbolState(Instrument.from_scan(sym, market, scan, defaults))
            state.has_depth = sym in id_lo
            self.symbols[sym] = state
        snapshots = sum(1 for ln in lines if ln.stream == "" and "lastUpdateId" in ln.data)
        with_depth = [s for s in self.symbols.values() if s.has_depth]
        if with_depth and snapshots < len(with_depth):
            raise CaptureError(
                f"{', '.join(p.name for p in files)}: depth diffs for {len(with_depth)} symbol(s) but "
                f"{snapshots} REST snapshot(s); the venue needs each book's recorded snapshot "
                f"(pass the session's first file too)")
        # Each pass must start strictly after the last id/time of the previous one.
        self.id_step = max((id_hi[s] - id_lo[s] for s in id_lo), default=0) + 1_000_000
        self.trade_step = (tr_hi - tr_lo + 1_000) if tr_lo is not None else 0
        self.time_step = (t_hi - t_lo + 1_000) if t_lo is not None else 0
        self.first_time_ms = t_lo or 0

    @classmethod
    def load(cls, paths: Iterable[str | Path], defaults: dict[MarketType, MarketDefaults] | None = None,
             ) -> list["Feed"]:
        """Read captures and group them by market, in the order given (the files
        of one market are one session). CaptureError for an unreadable file."""
        groups: dict[MarketType, tuple[list[Path], list[CaptureLine]]] = {}
        for p in paths:
            path = Path(p)
            stats = CaptureStats()
            lines = list(read_capture([path], stats))
            if not lines:
                raise CaptureError(f"{path}: no readable messages ({stats.bad_lines} bad lines)")
            market = detect_market(lines)
            files, acc = groups.setdefault(market, ([], []))
            files.append(path)
            acc.extend(lines)
            log.info("capture %s: %s, %d messages, %d bad lines", path.name, market.name, len(lines),
                     stats.bad_lines)
        defaults = defaults or {}
        return [cls(m, files, lines, defaults.get(m)) for m, (files, lines) in groups.items()]

    # -- replay --

    @property
    def live(self) -> bool:
        return all(s.live for s in self.symbols.values())

    def _begin_pass(self) -> None:
        for s in self.symbols.values():
            s.reset_book()

    def _shifted(self, line: CaptureLine) -> dict:
        """The payload as pass ``loop_index`` sends it."""
        k = self.loop_index
        if k == 0:
            return line.data
        d = dict(line.data)
        if line.stream == "":
            _shift(d, ("lastUpdateId",), k * self.id_step)
        elif d.get("e") == "trade":
            _shift(d, ("t",), k * self.trade_step)
        else:
            _shift(d, ("U", "u", "pu"), k * self.id_step)
        _shift(d, ("E", "T"), k * self.time_step)
        return d

    def _preroll(self, line: CaptureLine, data: dict, listener: Listener | None) -> None:
        """Before the sync point: build the venue's books and candles, send nothing."""
        if line.stream == "" and "lastUpdateId" in data:
            waiting = [s for s in self.symbols.values() if s.has_depth and not s.live]
            if waiting:
                sym = waiting[0]
                sym.sync.on_snapshot(data)
                sym.live = sym.sync.status == BookStatus.VALID
            return
        sym = self.symbols.get(data.get("s"))
        if sym is None:
            return
        e = data.get("e")
        if e == "depthUpdate" and not sym.live:
            sym.sync.on_depth(data)
            sym.live = sym.sync.status == BookStatus.VALID
        elif e == "depthUpdate":
            self._apply_depth(sym, data)
        elif e == "trade":
            self._trade(sym, data, None, send=False)

    def _apply_depth(self, sym: SymbolState, data: dict) -> bool:
        book = sym.book
        last = book.last_update_id
        u, first = data.get("u"), data.get("U")
        if not isinstance(u, int) or not isinstance(first, int):
            self.stats.rejected += 1
            return False
        if u <= last:
            return False                      # recorded duplicate: already in the book
        expected = data.get("pu") == last if sym.instrument.futures else first == last + 1
        if not expected:
            # A gap in the recording: the venue's book carries on from the diff,
            # as the exchange's own book would; clients see the same gap.
            self.stats.recorded_gaps += 1
        try:
            book.apply_diff(data.get("b", []), data.get("a", []), u)
        except ValueError as exc:
            self.stats.rejected += 1
            log.warning("%s depth u=%s refused by the venue's book: %s", sym.symbol, u, exc)
            return False
        return True

    def _trade(self, sym: SymbolState, data: dict, listener: Listener | None, send: bool) -> None:
        ins = sym.instrument
        try:
            price = ins.parse_price(data["p"])
            qty = ins.parse_qty(data["q"])
            t_ms = int(data["T"])
            tid = int(data["t"])
            maker = bool(data["m"])
        except (KeyError, ValueError, TypeError):
            self.stats.rejected += 1
            return
        sym.last_price = price
        ts_ns = t_ms * _MS
        opened = []                           # intervals whose bar this trade opens
        for tf in sym.history:
            length = tf * 1_000_000_000
            start = ts_ns - (ts_ns - _WEEK_ANCHOR_NS) % length
            if sym.bar_open.get(tf) != start:
                opened.append((tf, start))
        try:
            sym.candles.update(ts_ns, price, qty, maker)
        except sym.candle_error:
            self.stats.rejected += 1
            return
        closed = sym.candles.drain()
        for bar in closed:
            tf = int(bar["timeframe_s"])
            row = sym.kline_row(bar)
            sym.history[tf].append(row)
            if send:
                label = Timeframe(tf).label
                key = f"{sym.lower}@kline_{label}"
                if self.sink.wants(self.market, key):
                    first = sym.bar_first_id.get(tf, -1) if int(bar["count"]) else -1
                    last = sym.last_trade_id if int(bar["count"]) else -1
                    self._send_kline(sym, key, label, row, first, last, True)
        for tf, start in opened:
            sym.bar_open[tf] = start
            sym.bar_first_id[tf] = tid
        sym.last_trade_id = tid
        sym.clock_ms = t_ms
        if not send:
            return
        if listener is not None:
            listener.on_trade(sym, price, qty, t_ms)
        key = f"{sym.lower}@aggTrade"
        if self.sink.wants(self.market, key):
            sym.agg_id += 1
            agg = {"e": "aggTrade", "E": data.get("E", t_ms), "s": sym.symbol, "a": tid, "p": data["p"],
                   "q": data["q"], "f": tid, "l": tid, "T": t_ms, "m": maker}
            if not ins.futures:
                agg["M"] = True
            self.sink.publish(self.market, key, _encode(agg).decode())
        self._push_kline_updates(sym, t_ms)

    def _send_kline(self, sym, key, label, row, first, last, closed) -> None:
        k = {"t": row[0], "T": row[6], "s": sym.symbol, "i": label, "f": first, "L": last,
             "o": row[1], "c": row[4], "h": row[2], "l": row[3], "v": row[5], "n": row[8], "x": closed,
             "q": row[7], "V": row[9], "Q": row[10], "B": "0"}
        self.sink.publish(self.market, key, _encode(
            {"e": "kline", "E": max(sym.clock_ms, row[0]), "s": sym.symbol, "k": k}).decode())

    def _push_kline_updates(self, sym: SymbolState, now_ms: int) -> None:
        """In-progress bars, at Binance's cadence (1 s for 1s klines, 2 s otherwise)."""
        wanted = [label for label in KLINE_INTERVALS
                  if self.sink.wants(self.market, f"{sym.lower}@kline_{label}")]
        if not wanted:
            return
        bars = {int(b["timeframe_s"]): b for b in sym.candles.snapshot()}
        for label in wanted:
            tf = int(KLINE_INTERVALS[label])
            every = 1000 if tf == 1 else 2000
            if now_ms - sym.last_kline_push.get(tf, 0) < every or tf not in bars:
                continue
            sym.last_kline_push[tf] = now_ms
            self._send_kline(sym, f"{sym.lower}@kline_{label}", label, sym.kline_row(bars[tf]),
                             sym.bar_first_id.get(tf, -1), sym.last_trade_id, False)

    def _push_mark(self, sym: SymbolState, now_ms: int) -> None:
        """USD-M ``@markPrice`` (every 3 s) and ``@markPrice@1s``, from the book's mid:
        the captures hold no mark price, index price or funding rate."""
        for every, key in ((3000, f"{sym.lower}@markPrice"), (1000, f"{sym.lower}@markPrice@1s")):
            if now_ms - sym.last_mark_push[every] < every or not self.sink.wants(self.market, key):
                continue
            sym.last_mark_push[every] = now_ms
            fp = sym.instrument._fp
            mark = fp.format_fixed(sym.mark_ticks_e8(), 8)
            eight_h = 8 * 3600 * 1000
            self.sink.publish(self.market, key, _encode({
                "e": "markPriceUpdate", "E": now_ms, "s": sym.symbol, "p": mark, "ap": mark, "i": mark,
                "P": mark, "r": "0.00010000", "T": (now_ms // eight_h + 1) * eight_h}).decode())

    def _play(self, line: CaptureLine, data: dict, listener: Listener | None) -> None:
        """Deliver one recorded message (after the sync point)."""
        if line.stream == "":
            return                          # a REST snapshot is not a stream message
        sym = self.symbols.get(data.get("s"))
        if sym is None:
            self.stats.rejected += 1
            return
        e = data.get("e")
        sink, market = self.sink, self.market
        if e == "depthUpdate":
            if not self._apply_depth(sym, data):
                return
            if isinstance(data.get("E"), int):
                sym.clock_ms = data["E"]
            key = f"{sym.lower}@depth"
            if sink.wants(market, key):
                sink.publish(market, key, _encode(data).decode())
            self._push_partial_depth(sym, data)
            if listener is not None:
                listener.on_book(sym)
            if sym.instrument.futures:
                self._push_mark(sym, sym.clock_ms)
        elif e == "trade":
            key = f"{sym.lower}@trade"
            if sink.wants(market, key):
                sink.publish(market, key, _encode(data).decode())
            self._trade(sym, data, listener, send=True)
        elif "u" in data and "b" in data:
            key = f"{sym.lower}@bookTicker"
            if sink.wants(market, key):
                sink.publish(market, key, _encode(data).decode())
        else:
            return
        self.stats.sent += 1

    def _push_partial_depth(self, sym: SymbolState, data: dict) -> None:
        for levels in (5, 10, 20):
            key = f"{sym.lower}@depth{levels}"
            if not self.sink.wants(self.market, key):
                continue
            bids, asks = sym.depth(levels)
            if sym.instrument.futures:
                msg = {"e": "depthUpdate", "E": data.get("E"), "T": data.get("T"), "s": sym.symbol,
                       "U": data.get("U"), "u": data.get("u"), "pu": data.get("pu"), "b": bids, "a": asks}
            else:
                msg = {"lastUpdateId": sym.book.last_update_id, "bids": bids, "asks": asks}
            self.sink.publish(self.market, key, _encode(msg).decode())

    async def run(self, sink: Sink, speed: float, loop: bool, listener: Listener | None = None,
                  ready: asyncio.Event | None = None, gate: asyncio.Event | None = None) -> None:
        """Play every pass; returns when the capture ends (never with ``loop``).

        With ``gate``, the first pass waits at its sync point until the gate is
        set (a client subscribed), so that client sees the recording from its start."""
        self.sink = sink
        paced = speed > 0 and speed != float("inf")
        while True:
            self._begin_pass()
            t0 = r0 = None
            n = 0
            for line in self.lines:
                data = self._shifted(line)
                if not self.live:
                    self._preroll(line, data, listener)
                    if self.live and ready is not None:
                        ready.set()
                    continue
                if gate is not None:
                    await gate.wait()
                    gate = None
                n += 1
                if paced:
                    if r0 is None:
                        r0, t0 = line.recv_ns, time.monotonic_ns()
                    due = t0 + (line.recv_ns - r0) / speed
                    delay = due - time.monotonic_ns()
                    if delay > 1_000_000:
                        await asyncio.sleep(delay / 1e9)
                    else:
                        self.stats.behind_ms = -delay / 1e6
                        if n % 256 == 0:
                            await asyncio.sleep(0)
                elif n % 64 == 0:
                    await sink.drain()        # as fast as the clients take it
                self._play(line, data, listener)
            if ready is not None:
                ready.set()
            await sink.drain()
            self.stats.loops += 1
            if not loop:
                return
            self.loop_index += 1
            log.info("%s replay: pass %d done, restarting (update ids jump by %d)",
                     self.market.name, self.loop_index, self.id_step)

    def get(self, symbol: Any) -> SymbolState | None:
        return self.symbols.get(symbol) if isinstance(symbol, str) else None

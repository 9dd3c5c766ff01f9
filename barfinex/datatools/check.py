"""``barfinex data check FILE...``: replay captures through the book sync and
compare the rebuilt best bid/ask with every recorded bookTicker.

A bookTicker carries the update id ``u`` of the book state it shows. Whenever a
depth diff with the same final ``u`` has been applied to a VALID book, the
rebuilt best bid price and size and best ask price and size must equal the
ticker's exactly (int64 fixed point, no float compare). Tickers whose ``u``
falls inside a diff (not at its end) show an intermediate state no diff stream
reveals, and are not compared.

Instrument precision is not in the capture: prices are parsed with the
decimals Binance pads them to (8 on spot, the symbol's own on futures) and
the tick is inferred from the symbol's first snapshot (and the diffs held
before it) as the largest power of ten all those prices are multiples of. A later price off that tick is refused by the
book, counted as rejected and forces a resync: visible in the report, never
silent.
"""
from __future__ import annotations

import json
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import click

from barfinex import backend
from barfinex.book.sync import DEFAULT_MAX_BUFFER, REJECTED, BookSync
from barfinex.capture import CaptureError, CaptureStats, read_capture, require_capture
from barfinex.model.enums import BookStatus, MarketType

# Recent diffs and tickers kept for pairing by update id. A ticker and the diff
# with its u arrive on different streams, a few messages apart at most.
PAIR_WINDOW = 4096
MAX_MISMATCH_DETAILS = 5


@dataclass
class SymbolReport:
    """Per-symbol figures; the keys of ``--json``."""

    symbol: str
    market: str = ""
    price_decimals: int = 0
    tick_size: int = 0
    size_decimals: int = 0
    snapshots: int = 0
    diffs_applied: int = 0
    levels_applied: int = 0
    stale_dropped: int = 0
    gaps: int = 0
    resyncs: int = 0
    crossed: int = 0
    rejected: int = 0
    tickers: int = 0
    compared: int = 0
    mismatches: int = 0
    status: str = ""
    first_mismatches: list[dict] = field(default_factory=list)
    first_rejections: list[str] = field(default_factory=list)


@dataclass
class CheckReport:
    files: list[str]
    lines: int = 0
    bad_lines: int = 0
    unassigned_snapshots: int = 0
    symbols: list[SymbolReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def compared(self) -> int:
        return sum(s.compared for s in self.symbols)

    @property
    def mismatches(self) -> int:
        return sum(s.mismatches for s in self.symbols)

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


def _decimals(text: str) -> int:
    _, _, frac = text.partition(".")
    return len(frac)


def _infer_precision(messages: list[dict]) -> tuple[int, int, int]:
    """(price_decimals, tick_size, size_decimals) from a snapshot and diffs."""
    levels = [lv for m in messages
              for lv in list(m.get("b") or m.get("bids") or []) + list(m.get("a") or m.get("asks") or [])
              if isinstance(lv, (list, tuple)) and len(lv) == 2
              and isinstance(lv[0], str) and isinstance(lv[1], str)]
    if not levels:
        raise ValueError("no price levels to learn the precision from")
    price_dec = max(_decimals(p) for p, _ in levels)
    size_dec = max(_decimals(q) for _, q in levels)
    # Significant decimals: the fraction without its zero padding.
    significant = max(len(p.partition(".")[2].rstrip("0")) for p, _ in levels)
    return price_dec, 10 ** (price_dec - significant), size_dec


class _Session:
    """One symbol's book, sync and ticker comparison.

    The book is built when the symbol's first snapshot arrives: its hundreds of
    levels (with the diffs held until then) show the price tick. Diffs before
    that are held, as the sync itself would buffer them."""

    def __init__(self, symbol: str, module) -> None:
        self.symbol = symbol
        self.module = module
        self.book = None
        self.sync: BookSync | None = None
        self.report = SymbolReport(symbol, status=BookStatus.SYNCING.name)
        self._held: deque[dict] = deque(maxlen=DEFAULT_MAX_BUFFER)
        self.parse = backend.load("fixedpoint", "py" if module.__name__.startswith("barfinex._py")
                                  else "fast").parse_fixed
        self._bbo_by_u: OrderedDict[int, tuple] = OrderedDict()
        self._tickers: OrderedDict[int, tuple] = OrderedDict()

    @property
    def waiting(self) -> bool:
        """True while the book is not VALID (a symbol-less snapshot may be its)."""
        return self.sync is None or self.sync.status != BookStatus.VALID

    def _build(self, snapshot: dict) -> None:
        first = self._held[0] if self._held else {}
        futures = "pu" in first
        market = (MarketType.COINM if self.symbol.endswith("_PERP") else MarketType.USDM) \
            if futures else MarketType.SPOT
        price_dec, tick, size_dec = _infer_precision([snapshot, *self._held])
        self.book = self.module.OrderBook(self.symbol, price_dec, size_dec, tick_size=tick)
        self.sync = BookSync(self.book, market, on_event=self._on_event)
        r = self.report
        r.market, r.price_decimals, r.tick_size, r.size_decimals = market.name.lower(), price_dec, tick, size_dec
        self.sync.start()
        for data in self._held:
            self.sync.on_depth(data)
        self._held.clear()

    def _on_event(self, event) -> None:
        if event.kind == REJECTED and len(self.report.first_rejections) < MAX_MISMATCH_DETAILS:
            self.report.first_rejections.append(event.reason)

    def depth(self, data: dict) -> None:
        if self.sync is None:
            self._held.append(data)
            return
        before = self.sync.stats.diffs_applied
        self.sync.on_depth(data)
        if self.sync.stats.diffs_applied != before:
            self._applied()

    def snapshot(self, data: dict) -> None:
        if self.sync is None:
            if not self._held:
                return      # futures or spot? The first diff tells: wait for it.
            try:
                self._build(data)
            except ValueError as exc:
                self.report.rejected += 1
                self.report.first_rejections.append(f"snapshot unusable: {exc}")
                return
        before = self.sync.stats.diffs_applied
        self.sync.on_snapshot(data)
        if self.sync.stats.diffs_applied != before:
            self._applied()

    def _applied(self) -> None:
        if self.sync.status != BookStatus.VALID:
            return
        u = self.book.last_update_id
        bbo = self.book.bbo()
        ticker = self._tickers.pop(u, None)
        if ticker is not None:
            self._compare(u, bbo, ticker)
        self._bbo_by_u[u] = bbo
        if len(self._bbo_by_u) > PAIR_WINDOW:
            self._bbo_by_u.popitem(last=False)

    def ticker(self, data: dict, where: str) -> None:
        self.report.tickers += 1
        if self.book is None:
            return
        try:
            u = data["u"]
            p, d = self.book.price_decimals, self.book.size_decimals
            seen = (self.parse(data["b"], p), self.parse(data["B"], d),
                    self.parse(data["a"], p), self.parse(data["A"], d))
        except (KeyError, TypeError, ValueError) as exc:
            self.report.rejected += 1
            if len(self.report.first_rejections) < MAX_MISMATCH_DETAILS:
                self.report.first_rejections.append(f"{where}: bad bookTicker ({exc!r})")
            return
        rebuilt = self._bbo_by_u.get(u)
        if rebuilt is not None:
            self._compare(u, rebuilt, seen)
        else:
            self._tickers[u] = seen
            if len(self._tickers) > PAIR_WINDOW:
                self._tickers.popitem(last=False)

    def _compare(self, u: int, rebuilt: tuple, seen: tuple) -> None:
        self.report.compared += 1
        if rebuilt != seen:
            self.report.mismatches += 1
            if len(self.report.first_mismatches) < MAX_MISMATCH_DETAILS:
                self.report.first_mismatches.append(
                    {"u": u, "rebuilt": list(rebuilt), "bookTicker": list(seen)})

    def finish(self) -> SymbolReport:
        if self.sync is None:
            return self.report
        r, s = self.report, self.sync.stats
        r.snapshots, r.diffs_applied, r.levels_applied = s.snapshots, s.diffs_applied, s.levels_applied
        r.stale_dropped, r.gaps, r.resyncs, r.crossed = s.stale_dropped, s.gaps, s.resyncs, s.crossed
        r.rejected += s.rejected
        r.status = self.sync.status.name
        return r


_format_fixed = backend.load("fixedpoint").format_fixed


def replay(paths: Iterable[str | Path], backend_name: str | None = None,
           progress: Callable[[str], None] | None = None) -> CheckReport:
    """Replay capture files (one session, in order) and return the figures.

    Raises CaptureError for a missing or non-gzip file."""
    paths = [Path(p) for p in paths]
    for p in paths:
        require_capture(p)
    module = backend.load("orderbook", backend_name)
    report = CheckReport([str(p) for p in paths])
    stats = CaptureStats()
    sessions: dict[str, _Session] = {}
    waiting_snapshots: list[dict] = []      # snapshots seen before their symbol's first diff
    current_file = ""
    for line in read_capture(paths, stats):
        name = line.source.rpartition(":")[0]
        if name != current_file:
            current_file = name
            if progress:
                progress(f"check: reading {name} ({len(sessions)} symbol(s) so far)")
        data = line.data
        if not line.stream:
            if "lastUpdateId" not in data:
                continue
            # REST snapshots carry no symbol: give it to the one book waiting for one.
            waiting = [s for s in sessions.values() if s.waiting]
            if len(waiting) == 1:
                waiting[0].snapshot(data)
            elif not sessions:
                waiting_snapshots.append(data)
            else:
                report.unassigned_snapshots += 1
                report.errors.append(f"{line.source}: snapshot with no symbol and "
                                     f"{len(waiting)} books waiting: not applied")
            continue
        stream = line.stream
        symbol = data.get("s")
        if not isinstance(symbol, str):
            continue
        if "@depth" in stream:
            session = sessions.get(symbol)
            if session is None:
                session = sessions[symbol] = _Session(symbol, module)
            session.depth(data)
            for snap in waiting_snapshots:
                session.snapshot(snap)
            waiting_snapshots.clear()
        elif stream.endswith("@bookTicker"):
            session = sessions.get(symbol)
            if session is not None:
                session.ticker(data, line.source)
    report.lines = stats.lines
    report.bad_lines = stats.bad_lines
    report.errors.extend(stats.errors)
    report.symbols = [sessions[s].finish() for s in sorted(sessions)]
    return report


def _human(report: CheckReport) -> str:
    out = [f"files: {', '.join(report.files)}",
           f"lines: {report.lines:,} ({report.bad_lines:,} unreadable)", ""]
    for s in report.symbols:
        verdict = "OK" if s.mismatches == 0 else "MISMATCH"
        tick = _format_fixed(s.tick_size, s.price_decimals)
        tick = tick.rstrip("0").rstrip(".") if "." in tick else tick
        out.append(f"{s.symbol} ({s.market}, tick {tick}, "
                   f"book {s.status}): {verdict}")
        out.append(f"  diffs applied    {s.diffs_applied:>10,}   levels {s.levels_applied:,}")
        out.append(f"  snapshots        {s.snapshots:>10,}   stale diffs dropped {s.stale_dropped:,}")
        out.append(f"  gaps             {s.gaps:>10,}   resyncs {s.resyncs:,}   crossed {s.crossed:,}"
                   f"   rejected {s.rejected:,}")
        out.append(f"  bookTicker       {s.tickers:>10,}   compared {s.compared:,}   "
                   f"mismatches {s.mismatches:,}")
        for m in s.first_mismatches:
            reb, seen = m["rebuilt"], m["bookTicker"]
            pd, sd = s.price_decimals, s.size_decimals
            out.append(f"    u={m['u']}: rebuilt {_format_fixed(reb[1], sd)} @ {_format_fixed(reb[0], pd)} / "
                       f"{_format_fixed(reb[3], sd)} @ {_format_fixed(reb[2], pd)}, bookTicker "
                       f"{_format_fixed(seen[1], sd)} @ {_format_fixed(seen[0], pd)} / "
                       f"{_format_fixed(seen[3], sd)} @ {_format_fixed(seen[2], pd)}")
        for why in s.first_rejections:
            out.append(f"    rejected: {why}")
    for err in report.errors[:10]:
        out.append(f"warning: {err}")
    if not report.symbols:
        out.append("no depth stream found: nothing to check")
    elif report.compared == 0:
        out.append("warning: no bookTicker shared an update id with a depth diff: nothing compared")
    out.append("")
    out.append(f"{'OK' if report.ok else 'FAILED'}: {len(report.symbols)} symbol(s), "
               f"{report.compared:,} bookTicker compared, {report.mismatches:,} mismatches")
    return "\n".join(out)


def _as_json(report: CheckReport) -> str:
    return json.dumps({
        "ok": report.ok,
        "files": report.files,
        "lines": report.lines,
        "bad_lines": report.bad_lines,
        "unassigned_snapshots": report.unassigned_snapshots,
        "compared": report.compared,
        "mismatches": report.mismatches,
        "symbols": [asdict(s) for s in report.symbols],
        "errors": report.errors,
    }, indent=2)


@click.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON (for scripts).")
def check_command(files: tuple[Path, ...], as_json: bool) -> None:
    """Replay captures through the book sync; compare with recorded bookTicker.

    FILES are gzip captures ('<recv_ns> <raw JSON>' per line); consecutive files
    of one session are given together, in order. Prints per symbol: diffs
    applied, gaps, resyncs, bookTicker messages compared, mismatches. Exit 0
    when every comparison matched, 1 on any mismatch, 2 on unreadable input.
    """
    try:
        report = replay(files, progress=lambda msg: click.echo(msg, err=True))
    except CaptureError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(_as_json(report) if as_json else _human(report))
    click.get_current_context().exit(0 if report.ok else 1)

"""`barfinex data candles`: recorded trades to candles in the exchange's kline columns.

Reads hftbacktest-format captures (gzip, one ``<recv_ns> <raw JSON>`` line per
message; consecutive files of one session together), folds every ``trade``
message of one symbol through the candle aggregator and prints the bars as
Binance publishes klines: ``open_time .. taker_buy_quote_volume`` with times
in ms and ``close_time = open_time + interval - 1 ms``. Prices and sizes keep
the exchange's decimals (``--price-prec`` / ``--qty-prec``, inferred from the
data when not given, see ``_infer``); quote volumes carry both, as in
Binance's files (USD-M BTCUSDT: "61766.20", "196.112", "12120132.41840").
"""
from __future__ import annotations

import gzip
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import click
import numpy as np

from barfinex import backend
from barfinex.capture import CaptureError, CaptureStats, read_capture, require_capture
from barfinex.model.enums import Timeframe

KLINE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time",
                 "quote_volume", "count", "taker_buy_volume", "taker_buy_quote_volume")
_MS = 1_000_000
_MAX_REPORTED = 10


@dataclass
class Trade:
    symbol: str
    ts_ns: int
    price: str
    qty: str
    is_buyer_maker: bool
    where: str


@dataclass
class CandleRun:
    """What one aggregation produced, with the counts people need to trust it."""

    symbol: str
    timeframe: Timeframe
    price_prec: int
    qty_prec: int
    bars: object                       # BAR_DTYPE array: closed bars, then the one still open
    trades: int = 0
    first_trade_ns: int = 0
    last_trade_ns: int = 0
    bad_lines: int = 0                 # capture lines that were not even JSON
    rejected: Counter = field(default_factory=Counter)   # trades refused, per reason
    errors: list = field(default_factory=list)           # the first few, with file:line


def _trades(paths, stats: CaptureStats, bad: list) -> Iterator[Trade]:
    """Every trade message; a trade line missing a field is reported in ``bad``."""
    for line in read_capture(paths, stats):
        d = line.data
        if d.get("e") != "trade":
            continue
        try:
            symbol, t, p, q, m = d["s"], d["T"], d["p"], d["q"], d["m"]
        except KeyError as exc:
            bad.append(f"{line.source}: trade without field {exc.args[0]!r}")
            continue
        if not isinstance(t, int) or isinstance(t, bool) or not isinstance(m, bool) \
                or not isinstance(symbol, str):
            bad.append(f"{line.source}: trade with a malformed T, m or s field")
            continue
        yield Trade(symbol, t * _MS, p, q, m, line.source)


def _decimals(text) -> tuple[int, int]:
    """(decimals as written, decimals that are not trailing zeros)."""
    if not isinstance(text, str):
        return 0, 0
    _, _, frac = text.partition(".")
    return (len(frac), len(frac.rstrip("0"))) if frac.isdigit() else (0, 0)


# Quote volume carries price_prec + qty_prec decimals in an int64: keep that sum
# small enough for a week of a liquid market (1e11 quote units * 10**7 < 2**63).
_MAX_QUOTE_DECIMALS = 7


def _infer(paths, symbol: str | None) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """First pass: the symbols present and, per symbol, the decimals of its prices
    and sizes. The exchange's own formatting wins (USD-M sends "61800.30": 2) unless
    it pads with zeros beyond int64 headroom (spot sends 8 decimals everywhere);
    then the decimals actually used are taken."""
    seen: dict[str, list[int]] = {}
    for tr in _trades(paths, CaptureStats(), []):
        if symbol and tr.symbol != symbol:
            continue
        acc = seen.setdefault(tr.symbol, [0, 0, 0, 0])
        (pw, ps), (qw, qs) = _decimals(tr.price), _decimals(tr.qty)
        acc[0], acc[1] = max(acc[0], pw), max(acc[1], ps)
        acc[2], acc[3] = max(acc[2], qw), max(acc[3], qs)
    precs = {}
    for sym, (pw, ps, qw, qs) in seen.items():
        precs[sym] = (pw, qw) if pw + qw <= _MAX_QUOTE_DECIMALS else (ps, qs)
    return list(seen), precs


def aggregate_capture(paths, timeframe: Timeframe, *, symbol: str | None = None,
                      price_prec: int | None = None, qty_prec: int | None = None,
                      gap_fill: bool = True) -> CandleRun:
    """Aggregate the trades of ``paths`` (one session) into ``timeframe`` bars.

    Raises CaptureError for an unreadable file and ValueError when the capture
    holds several symbols and none was chosen, or none at all."""
    paths = tuple(Path(p) for p in paths)
    for path in paths:
        require_capture(path)
    if symbol is None or price_prec is None or qty_prec is None:
        symbols, inferred = _infer(paths, symbol)
        if not symbols:
            raise ValueError("no trade messages" + (f" for {symbol}" if symbol else "")
                             + " in the capture")
        if symbol is None:
            if len(symbols) > 1:
                raise ValueError(f"the capture holds trades of {len(symbols)} symbols "
                                 f"({', '.join(symbols)}): choose one with --symbol")
            symbol = symbols[0]
        price_prec = inferred[symbol][0] if price_prec is None else price_prec
        qty_prec = inferred[symbol][1] if qty_prec is None else qty_prec
    mod = backend.load("candles")
    agg = mod.CandleAggregator((timeframe,), price_prec, qty_prec, symbol, gap_fill)
    stats, bad = CaptureStats(), []
    run = CandleRun(symbol, timeframe, price_prec, qty_prec, None)
    chunks = []
    for tr in _trades(paths, stats, bad):
        if tr.symbol != symbol:
            continue   # another symbol's trades in a shared capture: not an error
        try:
            agg.update_text(tr.symbol, tr.ts_ns, tr.price, tr.qty, tr.is_buyer_maker)
        except mod.CandleError as exc:
            run.rejected[exc.reason] += 1
            if len(run.errors) < _MAX_REPORTED:
                run.errors.append(f"{tr.where}: {exc}")
            continue
        run.trades += 1
        run.first_trade_ns = run.first_trade_ns or tr.ts_ns
        run.last_trade_ns = tr.ts_ns
        if agg.pending >= 4096:
            chunks.append(agg.drain())
    chunks.append(agg.drain())
    chunks.append(agg.snapshot())
    run.bars = np.concatenate(chunks)
    run.bad_lines = stats.bad_lines + len(bad)
    run.errors = stats.errors[:_MAX_REPORTED] + bad[:_MAX_REPORTED] + run.errors
    if bad:
        run.rejected["malformed"] += len(bad)
    return run


def _row(bar, pp: int, qp: int, fmt) -> list[str]:
    return [str(bar["open_ns"] // _MS), fmt(bar["open"], pp), fmt(bar["high"], pp),
            fmt(bar["low"], pp), fmt(bar["close"], pp), fmt(bar["volume"], qp),
            str(bar["close_ns"] // _MS), fmt(bar["quote_volume"], pp + qp), str(bar["count"]),
            fmt(bar["taker_buy_volume"], qp), fmt(bar["taker_buy_quote_volume"], pp + qp)]


def _utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def format_csv(run: CandleRun) -> str:
    fmt = backend.load("fixedpoint").format_fixed
    lines = [",".join(KLINE_COLUMNS)]
    lines += [",".join(_row(b, run.price_prec, run.qty_prec, fmt)) for b in run.bars]
    return "\n".join(lines)


def format_table(run: CandleRun) -> str:
    fmt = backend.load("fixedpoint").format_fixed
    rows = []
    for b in run.bars:
        r = _row(b, run.price_prec, run.qty_prec, fmt)
        r[0] = _utc(int(b["open_ns"]))[:19]
        r[6] = _utc(int(b["close_ns"]) // _MS * _MS)
        rows.append(r)
    head = list(KLINE_COLUMNS)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    lines.append(f"({len(rows)} {run.timeframe.label} bars of {run.symbol}, times UTC)")
    return "\n".join(lines)


def _notes(run: CandleRun) -> list[str]:
    out = [f"{run.symbol}: {run.trades:,} trades -> {len(run.bars)} {run.timeframe.label} bars "
           f"(price {run.price_prec} dp, qty {run.qty_prec} dp)"]
    if len(run.bars):
        first, last = run.bars[0], run.bars[-1]
        if run.first_trade_ns > int(first["open_ns"]):
            out.append(f"note: the first bar ({_utc(int(first['open_ns']))[:19]}) may be incomplete: "
                       f"the capture's first trade is at {_utc(run.first_trade_ns)}")
        if not last["closed"]:
            out.append(f"note: the last bar ({_utc(int(last['open_ns']))[:19]}) is still open: "
                       f"the capture ends at {_utc(run.last_trade_ns)}")
    if run.bad_lines or run.rejected:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(run.rejected.items()))
        out.append(f"warning: {run.bad_lines} unreadable line(s); trades rejected: {reasons or 'none'}")
        out += [f"  {e}" for e in run.errors]
    return out


def _interval(ctx, param, value: str) -> Timeframe:
    try:
        return Timeframe.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("candles")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--interval", "-i", default="1m", show_default=True, callback=_interval,
              help="Bar length: " + ", ".join(t.label for t in Timeframe) + ".")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV in the exchange's kline columns.")
@click.option("--symbol", "-s", default=None, help="Symbol to aggregate (needed when the capture has several).")
@click.option("--price-prec", type=click.IntRange(0, 18), default=None,
              help="Price decimals (default: inferred from the trades).")
@click.option("--qty-prec", type=click.IntRange(0, 18), default=None,
              help="Size decimals (default: inferred from the trades).")
@click.option("--gap-fill/--no-gap-fill", default=True, show_default=True,
              help="Emit flat zero-volume bars for periods with no trades, as the exchange does.")
def candles_command(files, interval, as_csv, symbol, price_prec, qty_prec, gap_fill) -> None:
    """Aggregate recorded trades into candles with the exchange's kline columns.

    FILES are gzip captures ('<recv_ns> <raw JSON>' per line); consecutive files
    of one session are given together, in order. Times are exchange trade
    times in ms, UTC. The first bar may start before the capture and the last
    is still open when it ends (both noted on stderr). Unreadable lines and
    refused trades are counted on stderr, never fatal. Exit 2 on unreadable
    input or a bad option.
    """
    try:
        run = aggregate_capture(files, interval, symbol=symbol, price_prec=price_prec,
                                qty_prec=qty_prec, gap_fill=gap_fill)
    except (CaptureError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise click.UsageError(f"cannot read the capture: {exc}") from None
    click.echo(format_csv(run) if as_csv else format_table(run))
    for note in _notes(run):
        click.echo(note, err=True)


if __name__ == "__main__":   # pragma: no cover - `barfinex data candles` is the entry point
    sys.exit(candles_command())

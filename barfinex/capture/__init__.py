"""Recorded exchange captures: one ``<recv_ns> <raw JSON>`` line per message, gzip.

This is the format hftbacktest's collector writes, `barfinex record` writes,
and the replay venue plays. Consecutive files of one session are read as one
stream. A line that does not parse is counted and reported with its file and
line number; reading carries on.
"""
from __future__ import annotations

import gzip
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

log = logging.getLogger("barfinex.capture")


class CaptureError(ValueError):
    """A capture file that cannot be read at all (missing, not gzip)."""


@dataclass(slots=True)
class CaptureLine:
    recv_ns: int
    stream: str          # "btcusdt@depth@100ms", or "" for a REST snapshot
    data: dict[str, Any]
    source: str          # "file.gz:123", for error messages


@dataclass
class CaptureStats:
    lines: int = 0
    bad_lines: int = 0
    errors: list[str] = field(default_factory=list)   # the first few, for people

    def reject(self, where: str, why: str) -> None:
        self.bad_lines += 1
        if len(self.errors) < 20:
            self.errors.append(f"{where}: {why}")
        log.warning("capture %s: %s (skipped)", where, why)


def require_capture(path: str | Path) -> Path:
    """``path`` as a Path if it is a readable gzip capture; CaptureError otherwise
    (the tools check every file up front so a bad last file fails before work)."""
    path = Path(path)
    if not path.is_file():
        raise CaptureError(f"{path}: no such capture file")
    with path.open("rb") as f:
        if f.read(2) != b"\x1f\x8b":
            raise CaptureError(f"{path}: not a gzip capture (expected '<recv_ns> <json>' lines, gzip)")
    return path


def _open(path: Path):
    if path.suffix == ".gz":
        require_capture(path)
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    if not path.is_file():
        raise CaptureError(f"{path}: no such capture file")
    return path.open("rt", encoding="utf-8", errors="replace")


def read_capture(paths: Iterable[str | Path], stats: CaptureStats | None = None) -> Iterator[CaptureLine]:
    """Yield every well-formed line of ``paths`` in order, as one stream."""
    stats = stats if stats is not None else CaptureStats()
    for p in paths:
        path = Path(p)
        with _open(path) as f:
            try:
                for lineno, raw in enumerate(f, 1):
                    where = f"{path.name}:{lineno}"
                    line = raw.strip()
                    if not line:
                        continue
                    stats.lines += 1
                    ts, sep, body = line.partition(" ")
                    if not sep or not ts.isdigit():
                        stats.reject(where, "expected '<recv_ns> <json>'")
                        continue
                    try:
                        msg = json.loads(body)
                    except ValueError as exc:
                        stats.reject(where, f"bad JSON ({exc.msg} at column {exc.colno})")
                        continue
                    if not isinstance(msg, dict):
                        stats.reject(where, "JSON is not an object")
                        continue
                    if "stream" in msg and "data" in msg:
                        data = msg["data"]
                        if not isinstance(data, dict):
                            stats.reject(where, "stream data is not an object")
                            continue
                        yield CaptureLine(int(ts), str(msg["stream"]), data, where)
                    else:
                        yield CaptureLine(int(ts), "", msg, where)
            except (EOFError, OSError, gzip.BadGzipFile) as exc:
                # A capture cut off mid-write: keep what was read, say where it ended.
                stats.reject(f"{path.name}", f"truncated or corrupt gzip ({exc})")

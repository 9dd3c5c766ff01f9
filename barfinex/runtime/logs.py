"""Logs a desk can read: UTC time to the millisecond, level, actor, message."""
from __future__ import annotations

import logging
import os
import sys
import time


class _Formatter(logging.Formatter):
    converter = time.gmtime

    def __init__(self, actor: str) -> None:
        super().__init__()
        self.actor = actor

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created))
        line = f"{ts}.{int(record.msecs):03d}Z {record.levelname:<7} {self.actor:<10} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup(actor: str, level: str | None = None) -> None:
    """Route every barfinex logger to stderr with the actor's name on each line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(actor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("BARFINEX_LOG_LEVEL", "INFO")).upper())

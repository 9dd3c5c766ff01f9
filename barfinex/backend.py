"""Backend selection for the hot path: explicit, and loud when it fails.

``BARFINEX_BACKEND=fast`` (the default) imports the Cython modules in
barfinex/_fast; ``BARFINEX_BACKEND=py`` imports their pure-Python twins from
barfinex/_py (for parity tests and debugging). A missing compiled module never
falls back silently to the slow twin.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

BACKENDS = ("fast", "py")

BUILD_HINT = (
    "barfinex's compiled core (barfinex/_fast) is not built. From the source "
    "tree run `pip install -e .` (or `python setup.py build_ext --inplace`); "
    "or set BARFINEX_BACKEND=py to run the slow pure-Python twins on purpose."
)


def selected() -> str:
    name = os.environ.get("BARFINEX_BACKEND", "fast").strip().lower() or "fast"
    if name not in BACKENDS:
        raise ImportError(f"BARFINEX_BACKEND={name!r}: choose one of {', '.join(BACKENDS)}")
    return name


def load(module: str, backend: str | None = None) -> ModuleType:
    """Import hot-path ``module`` (e.g. "frame") from the chosen backend."""
    backend = backend or selected()
    if backend == "py":
        return importlib.import_module(f"barfinex._py.{module}")
    try:
        return importlib.import_module(f"barfinex._fast.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"barfinex._fast.{module}":
            raise
        raise ImportError(f"{BUILD_HINT} (missing: barfinex._fast.{module})") from None

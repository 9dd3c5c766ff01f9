"""Shared fixtures: backends for parity tests, paths to shipped real data."""
from __future__ import annotations

from pathlib import Path

import pytest

from barfinex import backend

DATA = Path(__file__).parent / "data"


@pytest.fixture(params=backend.BACKENDS)
def impl(request):
    """Run a test once per backend: the Cython module and its pure-Python twin.

    Use as ``impl("frame")`` to get the module from the backend under test."""
    return lambda module: backend.load(module, request.param)

"""Benchmarks run two ways: by hand for figures (`--benchmark-only`), and in CI
once each as tests (`--benchmark-disable`, the default in pyproject.toml).
The `quick` fixture tells a benchmark
to shrink its workload for the CI run."""
from __future__ import annotations

import pytest


@pytest.fixture
def quick(request) -> bool:
    opt = request.config.getoption
    return bool(opt("benchmark_disable", False)) and not opt("benchmark_enable", False)

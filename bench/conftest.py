"""Benchmarks run two ways: by hand for figures (`--benchmark-only`), and in CI
once each as tests (`--benchmark-disable`). `bench_quick()` tells a benchmark
to shrink its workload for the CI run."""
from __future__ import annotations

import pytest


@pytest.fixture
def quick(request) -> bool:
    return bool(request.config.getoption("benchmark_disable", False))

"""Real recorded exchange data shipped with the package (the demo's default input).

See hftbacktest/SOURCES.md and hftbacktest/LICENSE (MIT) beside this file.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent
HFTBACKTEST = ROOT / "hftbacktest"

SPOT_BTCUSDT = (HFTBACKTEST / "spot_btcusdt_20240808.gz", HFTBACKTEST / "spot_btcusdt_20240809.gz")
USDM_BTCUSDT = (HFTBACKTEST / "usdm_btcusdt_20240808.gz",)

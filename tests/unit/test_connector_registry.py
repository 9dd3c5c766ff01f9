"""The connector registry and catalog: built-ins, the installed example plugin
(tests/data/example_connector, pip-installed into a temp dir and loaded in a
subprocess through the entry point), and loud failures for unknown names and
broken plugins (declared through real dist-info entry-point metadata)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from barfinex.connectors import (
    CatalogEntry, Connector, RegistryError, available, catalog_by_segment, exchange_catalog,
    load_connector,
)
from barfinex.connectors import registry
from barfinex.connectors.binance import BinanceConnector
from barfinex.model.enums import MarketType

from ..conftest import DATA

pytestmark = pytest.mark.unit

EXAMPLE = DATA / "example_connector"


def test_builtin_binance_loads_and_is_a_connector():
    assert "binance" in available()
    cls = load_connector("binance")
    assert cls is BinanceConnector and issubclass(cls, Connector)


def test_unknown_name_lists_what_exists():
    with pytest.raises(RegistryError) as err:
        load_connector("krakn")
    assert "unknown connector 'krakn'" in str(err.value) and "binance" in str(err.value)
    assert "barfinex.connectors" in str(err.value)


def test_catalog_entries():
    entries = {e.name: e for e in exchange_catalog()}
    b = entries["binance"]
    assert (b.display_name, b.segment, b.maturity) == ("Binance", "crypto-cex", "beta")
    assert b.markets == (MarketType.SPOT, MarketType.USDM)
    assert [c.env for c in b.credentials] == ["BINANCE_API_KEY", "BINANCE_API_SECRET"]
    assert all(c.secret for c in b.credentials)
    assert {"book_diffs", "orders", "user_data", "leverage"} <= b.features
    d = b.to_dict()
    assert d["markets"] == ["spot", "usdm"] and json.dumps(d)
    assert "crypto-cex" in catalog_by_segment()


def test_catalog_entry_validation():
    with pytest.raises(ValueError, match="unknown features"):
        CatalogEntry("x", "X", "crypto-cex", (MarketType.SPOT,), features=frozenset({"teleport"}))
    with pytest.raises(ValueError, match="segment"):
        CatalogEntry("x", "X", "moon", (MarketType.SPOT,))


def _dist_info(root: Path, name: str, entry: str) -> None:
    """Installed-package metadata declaring one connector entry point (what pip writes)."""
    info = root / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[barfinex.connectors]\n{entry}\n")


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.clear_cache()
    yield tmp_path
    registry.clear_cache()


def test_broken_plugins_fail_loudly_naming_the_package(plugin_path):
    (plugin_path / "half_done.py").write_text("import not_a_real_module_xyz\n")
    (plugin_path / "wrong_kind.py").write_text("class Thing:\n    pass\n")
    _dist_info(plugin_path, "bfx-half-done", "halfdone = half_done:Connector")
    _dist_info(plugin_path, "bfx-wrong-kind", "wrongkind = wrong_kind:Thing")
    _dist_info(plugin_path, "bfx-missing-attr", "missing = wrong_kind:Nope")
    _dist_info(plugin_path, "bfx-hijack", "binance = wrong_kind:Thing")
    assert {"halfdone", "wrongkind", "missing"} <= set(available())
    cases = {
        "halfdone": ["package bfx-half-done 0.1", "importing 'half_done' failed",
                     "ModuleNotFoundError", "not_a_real_module_xyz"],
        "wrongkind": ["package bfx-wrong-kind 0.1", "not a barfinex.connectors.Connector subclass"],
        "missing": ["package bfx-missing-attr 0.1", "has no attribute 'Nope'"],
        "binance": ["is built in", "bfx-hijack", "uninstall the conflicting plugin"],
    }
    for name, needles in cases.items():
        with pytest.raises(RegistryError) as err:
            load_connector(name)
        for needle in needles:
            assert needle in str(err.value), (name, str(err.value))
    # One broken plugin makes the catalog fail loudly rather than silently shrink.
    with pytest.raises(RegistryError):
        exchange_catalog()


def test_two_packages_claiming_one_name(plugin_path):
    (plugin_path / "twin_a.py").write_text("X = 1\n")
    _dist_info(plugin_path, "bfx-twin-a", "twin = twin_a:X")
    _dist_info(plugin_path, "bfx-twin-b", "twin = twin_b:Y")
    with pytest.raises(RegistryError, match="claimed by more than one package"):
        load_connector("twin")


def test_installed_example_connector_loads_through_the_registry(tmp_path):
    """The docs' worked example, pip-installed, found by entry point, run end to end."""
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                          "--disable-pip-version-check", "--target", str(target), str(EXAMPLE)],
                         capture_output=True, text=True, timeout=120)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    script = textwrap.dedent("""
        import asyncio, json
        from barfinex.connectors import available, create_connector, exchange_catalog
        from barfinex.model.enums import MarketType

        async def main():
            conn = create_connector("example", {"symbol": "DEMOUSDT", "interval_s": 0.001,
                                                "tape": [[10000, 5, "BUY"], [10001, 7, "SELL"]]})
            async with conn:
                session = conn.session(MarketType.SPOT)
                trades = []
                done = asyncio.Event()
                def on_trade(t):
                    trades.append([t.symbol, t.price, t.qty, t.taker_side.name])
                    if len(trades) == 2:
                        done.set()
                unsubscribe = session.streams.subscribe_trades("DEMOUSDT", on_trade)
                await asyncio.wait_for(done.wait(), 5)
                unsubscribe()
                instruments = await session.market_data.instruments()
            return {"available": available(), "trades": trades, "ready_after_stop": conn.ready,
                    "instrument": instruments[0].symbol, "class": type(conn).__module__,
                    "catalog": [e.display_name for e in exchange_catalog()]}
        print(json.dumps(asyncio.run(main())))
    """)
    env_path = str(target)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**__import__("os").environ, "PYTHONPATH": env_path})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "example" in out["available"] and "binance" in out["available"]
    assert out["class"] == "barfinex_example"
    assert out["trades"] == [["DEMOUSDT", 10000, 5, "BUY"], ["DEMOUSDT", 10001, 7, "SELL"]]
    assert out["instrument"] == "DEMOUSDT" and out["ready_after_stop"] is False
    assert set(out["catalog"]) >= {"Binance", "Example Exchange"}

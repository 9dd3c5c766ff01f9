"""The Detector in a real topology: the replay venue, the Provider on the real
Binance connector, the Detector on the shipped example strategies, and an
Inspector stand-in for the kill switch; real processes and sockets.

Signals with attribution arrive on the bus; a bad edit of a strategy file is
rejected with its file:line:col and the running version keeps going; a good
edit is swapped in without a restart; the kill switch silences a strategy
while its indicators keep updating."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from barfinex.model import Direction, Signal
from barfinex.runtime.topology import load_topology

from .conftest import BusRecorder, call, free_port, wait_for

pytestmark = pytest.mark.integration

STRATEGIES = Path(__file__).parents[2] / "configs" / "strategies"


@pytest.fixture
def desk(topology, run_dir, procs, env):
    port = free_port()
    strategies = run_dir / "strategies"
    strategies.mkdir()
    for name in ("ema-trend.yaml", "flow-imbalance.yaml"):
        shutil.copy(STRATEGIES / name, strategies / name)
    (run_dir / "venue.yaml").write_text(yaml.safe_dump({"port": port, "speed": 5.0, "loop": True}))
    (run_dir / "provider.yaml").write_text(yaml.safe_dump({
        "connectors": {"binance": {"options": {"venue": f"http://127.0.0.1:{port}", "markets": ["usdm"]},
                                   "symbols": {"usdm": ["BTCUSDT"]}}},
        "candles": ["1s", "1m"]}))
    (run_dir / "detector.yaml").write_text(yaml.safe_dump({"strategies": ["strategies"],
                                                           "reload_interval_s": 0.2}))
    path = topology({
        "venue": {"class": "barfinex.connectors.venue.actor:VenueActor", "config": "venue.yaml"},
        "provider": {"class": "actors.provider:Provider", "config": "provider.yaml"},
        "detector": {"class": "actors.detector:Detector", "config": "detector.yaml",
                     "subscribe": ["provider", "inspector"]},
        "inspector": {"class": "bfx_test_actors:KillSwitch"},
    })
    topo = load_topology(str(path), check_classes=False)
    procs.start("up", str(path), start_new_session=True)
    bus = BusRecorder(topo.actors["detector"].pub, (b"DETECTOR_SIGNAL_GENERATED",))
    try:
        yield topo, strategies, bus
    finally:
        bus.close()


def detector_health(topo) -> dict:
    try:
        return call(topo.actors["detector"].control, "status", timeout=2)["health"]
    except Exception:
        return {}


def signals(bus, mark=0, strategy=None) -> list[Signal]:
    return [m for _, _, m in bus.since(mark, kind=Signal) if strategy is None or m.strategy == strategy]


def test_signals_reload_and_kill_switch(desk):
    topo, strategies, bus = desk

    # 1. Signals from both example strategies, with the rules that fired.
    wait_for(lambda: signals(bus, strategy="ema-trend"), 90, "an ema-trend signal")
    wait_for(lambda: signals(bus, strategy="flow-imbalance"), 60, "a flow-imbalance signal")
    for s in signals(bus):
        assert s.symbol == "BTCUSDT" and s.score >= s.threshold > 0 and s.rules
        long = s.direction == Direction.LONG
        assert (s.stop_price < s.price) == long and all((t > s.price) == long for t in s.targets)
        for hit in s.rules:
            assert hit.terms and all(t.text for t in hit.terms)
    causes = [h.causation_id for h, (_, _, m) in zip(bus.headers, bus.events) if isinstance(m, Signal)]
    assert causes and all(c != bytes(16) for c in causes)      # the bar or trade that triggered it
    trend = signals(bus, strategy="ema-trend")[0]
    assert {h.rule for h in trend.rules} in ({"golden_cross", "above_trend"}, {"death_cross", "below_trend"})
    version = detector_health(topo)["strategies"]["ema-trend"]["version"]

    # 2. A bad edit is rejected with file:line:col; the running version stays.
    path = strategies / "ema-trend.yaml"
    good = path.read_text()
    path.write_text(good.replace("cross_above(fast, slow)", "cross_above(fast, slwo)"))
    rejected = wait_for(lambda: detector_health(topo)["strategies"].get("rejected:ema-trend.yaml"), 10,
                        "the bad edit to be rejected")
    assert f"{path}:" in rejected["error"] and "unknown name 'slwo'" in rejected["error"]
    health = detector_health(topo)
    assert health["strategies"]["ema-trend"]["version"] == version
    assert health["detector"]["reload_errors"] == 1
    mark = bus.mark()
    wait_for(lambda: signals(bus, mark, "ema-trend"), 60, "signals from the running version")

    # 3. A good edit is swapped in without a restart.
    path.write_text(good.replace("thresholds: {long: 3, short: 3}", "thresholds: {long: 2, short: 2}"))
    wait_for(lambda: detector_health(topo)["strategies"]["ema-trend"]["version"] != version, 10,
             "the new version to load")
    health = detector_health(topo)
    assert "rejected:ema-trend.yaml" not in health["strategies"] and health["detector"]["reloads"] == 1
    # the new version warmed up from the Provider's candle history, not from scratch
    wait_for(lambda: detector_health(topo)["strategies"]["ema-trend"]["history_bars"] > 0, 10, "a warm-up")
    mark = bus.mark()
    new = wait_for(lambda: signals(bus, mark, "ema-trend"), 60, "a signal from the new version")[0]
    assert new.threshold == 2 and new.strategy_version == health["strategies"]["ema-trend"]["version"]

    # 4. The kill switch silences one strategy; the other carries on.
    inspector = topo.actors["inspector"].control
    call(inspector, "kill", {"scope": "strategy:flow-imbalance", "engaged": True})
    wait_for(lambda: detector_health(topo)["strategies"]["flow-imbalance"]["killed"], 10, "the kill switch")
    mark = bus.mark()
    wait_for(lambda: detector_health(topo)["strategies"]["flow-imbalance"]["killed_signals"] > 0, 60,
             "a silenced flow-imbalance signal")
    assert not signals(bus, mark, "flow-imbalance")
    wait_for(lambda: signals(bus, mark, "ema-trend"), 60, "ema-trend signals while flow-imbalance is killed")
    call(inspector, "kill", {"scope": "strategy:flow-imbalance", "engaged": False})
    mark = bus.mark()
    wait_for(lambda: signals(bus, mark, "flow-imbalance"), 60, "flow-imbalance signals after the release")
    health = detector_health(topo)
    assert health["books"]["usdm:BTCUSDT"]["valid"]
    flow = health["strategies"]["flow-imbalance"]["BTCUSDT"]
    assert flow["evaluations"] > flow["bars"]          # evaluated on trades too (evaluate_on)
    assert health["flows"]["usdm:BTCUSDT"]["tick"] == 1 and health["flows"]["usdm:BTCUSDT"]["trades"] > 0

"""`barfinex up` end to end: real processes, real signals, real sockets."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from barfinex.bus import RpcClient, RpcTimeout
from barfinex.runtime.topology import load_topology

from .conftest import cli, free_port, pid_alive, wait_for

pytestmark = pytest.mark.integration

FOUR = {
    "provider": {"class": "actors.provider:Provider"},
    "detector": {"class": "actors.detector:Detector", "subscribe": ["provider"]},
    "advisor": {"class": "actors.advisor:Advisor", "subscribe": ["detector", "provider"]},
    "inspector": {"class": "actors.inspector:Inspector", "subscribe": ["advisor", "provider"]},
}


def supervisor_status(topo, timeout=1.0):
    try:
        with RpcClient(topo.supervisor_control) as c:
            return c.call("status", timeout=timeout, attempts=1)
    except RpcTimeout:
        return None


def all_running(topo):
    rows = supervisor_status(topo)
    return rows if rows and all(r["state"] == "RUNNING" for r in rows) else None


def start_up(procs, path):
    # Own session, like a terminal's foreground job: killpg reaches it as Ctrl-C would.
    return procs.start("up", str(path), start_new_session=True)


def test_up_status_tail_and_ctrl_c(topology, procs, env, run_dir):
    path = topology(FOUR)
    topo = load_topology(str(path), check_classes=False)
    up = start_up(procs, path)
    rows = wait_for(lambda: all_running(topo), 30, "all four actors RUNNING")
    pids = {r["actor"]: r["pid"] for r in rows}
    assert set(pids) == set(FOUR) and all(pid_alive(p) for p in pids.values())

    # status, for people and for scripts
    human = cli(env, "status", "-t", str(path))
    assert human.returncode == 0, human.stdout + human.stderr
    assert "answered by: supervisor" in human.stdout
    for name in FOUR:
        assert name in human.stdout
    doc = json.loads(cli(env, "status", "-t", str(path), "--json").stdout)
    assert doc["ok"] and {a["actor"] for a in doc["actors"]} == set(FOUR)
    assert all(0 <= a["heartbeat_age_s"] < 2 and a["msgs_out"] > 0 for a in doc["actors"])

    # tail: exits 0 after --count events, 1 when --timeout passes first
    got = cli(env, "tail", "DETECTOR_HEARTBEAT", "-t", str(path), "--count", "2", "--json")
    assert got.returncode == 0, got.stderr
    lines = [json.loads(x) for x in got.stdout.splitlines()]
    assert len(lines) == 2 and all(x["topic"] == "DETECTOR_HEARTBEAT.detector" for x in lines)
    assert lines[1]["seq"] == lines[0]["seq"] + 1 and lines[0]["payload"]["state"] == "RUNNING"
    quiet = cli(env, "tail", "ADVISOR_DECISION_RESPONSE", "-t", str(path), "--count", "1", "--timeout", "0.5")
    assert quiet.returncode == 1 and "0 of 1 events" in quiet.stderr

    # Ctrl-C: everything gone within 3 s, no processes and no socket files left
    t0 = time.monotonic()
    os.killpg(up.pid, signal.SIGINT)
    up.wait(timeout=10)
    elapsed = time.monotonic() - t0
    out = up.stdout.read()
    assert up.returncode == 0, out
    assert elapsed < 3.0, f"stop took {elapsed:.2f}s"
    assert not [n for n, p in pids.items() if pid_alive(p)]
    assert not list((run_dir / "sock").glob("*")), "ipc socket files left behind"
    assert "all actors stopped" in out


def test_kill_9_restarts_one_actor_and_the_others_carry_on(topology, procs):
    path = topology(FOUR)
    topo = load_topology(str(path), check_classes=False)
    start_up(procs, path)
    rows = wait_for(lambda: all_running(topo), 30, "all actors RUNNING")
    pids = {r["actor"]: r["pid"] for r in rows}
    os.kill(pids["detector"], signal.SIGKILL)

    def restarted():
        rows = all_running(topo)
        if not rows:
            return None
        new = {r["actor"]: r for r in rows}
        return new if new["detector"]["pid"] != pids["detector"] else None

    new = wait_for(restarted, 20, "detector restarted")
    assert new["detector"]["restarts"] == 1
    for name in ("provider", "advisor", "inspector"):
        assert new[name]["pid"] == pids[name] and new[name]["restarts"] == 0


def test_crash_loop_stops_with_a_clear_message(topology, procs):
    path = topology({"provider": {"class": "actors.provider:Provider"},
                     "flaky": {"class": "bfx_test_actors:CrashOnStart"}},
                    restart={"backoff_ms": 10, "max_backoff_ms": 20, "max_restarts": 2, "window_s": 60})
    up = start_up(procs, path)
    up.wait(timeout=40)
    out = up.stdout.read()
    # A start-up failure is reported at once; the topology does not come up.
    assert up.returncode == 1, out
    assert "flaky exited during start-up" in out and "configured to fail at start-up" in out


def test_crash_loop_after_start_gives_up(topology, procs, run_dir):
    path = topology({"provider": {"class": "actors.provider:Provider"},
                     "quiet": {"class": "bfx_test_actors:Quiet"}},
                    restart={"backoff_ms": 10, "max_backoff_ms": 20, "max_restarts": 2, "window_s": 60})
    topo = load_topology(str(path), check_classes=False)
    up = start_up(procs, path)
    killed = set()

    def kill_quiet():
        rows = supervisor_status(topo)
        if up.poll() is not None:
            return True
        for r in rows or ():
            if r["actor"] == "quiet" and r["state"] == "RUNNING" and r["pid"] not in killed:
                killed.add(r["pid"])
                os.kill(r["pid"], signal.SIGKILL)
        return False

    wait_for(kill_quiet, 60, "the supervisor to give up", interval=0.1)
    up.wait(timeout=10)
    out = up.stdout.read()
    assert up.returncode == 1
    assert "quiet crashed 3 times in 60s" in out and "giving up" in out
    assert "barfinex actor quiet -t" in out   # tells the operator how to see why
    assert not list((run_dir / "sock").glob("*"))


def test_an_actor_that_ignores_stop_is_killed_in_time(topology, procs, env):
    path = topology({"provider": {"class": "actors.provider:Provider"},
                     "slow": {"class": "bfx_test_actors:SlowStop"}}, stop_timeout_s=1.5)
    topo = load_topology(str(path), check_classes=False)
    up = start_up(procs, path)
    rows = wait_for(lambda: all_running(topo), 30, "RUNNING")
    t0 = time.monotonic()
    os.killpg(up.pid, signal.SIGINT)
    up.wait(timeout=10)
    assert time.monotonic() - t0 < 3.0
    assert not any(pid_alive(r["pid"]) for r in rows)


def test_second_up_of_the_same_topology_is_refused(topology, procs, env):
    path = topology({"provider": {"class": "actors.provider:Provider"}})
    topo = load_topology(str(path), check_classes=False)
    start_up(procs, path)
    wait_for(lambda: all_running(topo), 30, "RUNNING")
    second = cli(env, "up", str(path), timeout=20)
    assert second.returncode == 1
    assert "already running" in second.stderr


def test_one_actor_alone_over_tcp(topology, procs, env):
    from .test_bus import call
    ports = [free_port() for _ in range(4)]
    path = topology({
        "provider": {"class": "bfx_test_actors:TradeSource", "pub": f"tcp://127.0.0.1:{ports[0]}",
                     "control": f"tcp://127.0.0.1:{ports[1]}"},
        "echo": {"class": "bfx_test_actors:Echo", "subscribe": ["provider"],
                 "pub": f"tcp://127.0.0.1:{ports[2]}", "control": f"tcp://127.0.0.1:{ports[3]}"},
    })
    # Two separate `barfinex actor` processes, as on two hosts.
    procs.start("actor", "echo", "-t", str(path))
    procs.start("actor", "provider", "-t", str(path))
    echo = f"tcp://127.0.0.1:{ports[3]}"
    wait_for(lambda: call(echo, "seen")["beats"] > 0, 20, "echo to hear the provider over tcp")
    call(f"tcp://127.0.0.1:{ports[1]}", "emit", {"n": 5})
    wait_for(lambda: call(echo, "seen")["trade_ids"] == [1, 2, 3, 4, 5], 10, "trades over tcp")
    status = cli(env, "status", "-t", str(path), "--json")
    doc = json.loads(status.stdout)
    assert doc["source"] == "actors" and doc["ok"], status.stdout

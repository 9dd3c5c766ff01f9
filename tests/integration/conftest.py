"""Real processes and sockets. Every socket closes with linger 0; every wait
has a timeout; every process a test starts is gone when the test ends."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
import zmq

from barfinex.bus import Receiver, RpcClient, RpcError, RpcTimeout
from barfinex.runtime.topology import load_topology

SUPPORT = Path(__file__).parent / "support"


@contextmanager
def _new_run_dir():
    # Short: a unix socket path must fit in 107 bytes.
    d = Path(tempfile.mkdtemp(prefix="bfx-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def run_dir():
    with _new_run_dir() as d:
        yield d


@pytest.fixture(scope="module")
def module_run_dir():
    """A run directory shared by the tests of one module (one topology for several tests)."""
    with _new_run_dir() as d:
        yield d


def _test_env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(SUPPORT), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    e["BARFINEX_LOG_LEVEL"] = "INFO"
    return e


@pytest.fixture
def env():
    return _test_env()


@pytest.fixture(scope="module")
def module_env():
    return _test_env()


def write_topology(run_dir: Path, actors: dict, name: str = "t", **extra) -> Path:
    doc = {"name": name, "run_dir": str(run_dir / "sock"), "heartbeat_ms": 200, **extra, "actors": actors}
    path = run_dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def topology(run_dir):
    """Write a topology YAML into run_dir; returns its path."""
    def make(actors: dict, name: str = "t", **extra) -> Path:
        return write_topology(run_dir, actors, name, **extra)
    return make


@pytest.fixture
def zctx():
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


class Procs:
    def __init__(self, env):
        self.env = env
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str, **kw) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-m", "barfinex", *args], env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
        self.procs.append(p)
        return p

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


@pytest.fixture
def procs(env):
    holder = Procs(env)
    yield holder
    holder.cleanup()


def cli(env, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "barfinex", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): check its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def call(endpoint: str, method: str, params=None, timeout: float = 3.0):
    with RpcClient(endpoint) as c:
        return c.call(method, params, timeout=timeout)


def place(ctl: str, order: dict):
    """order.place, or None while the Provider refuses for now (the connector
    or its user data stream is still coming up): for wait_for."""
    try:
        return call(ctl, "order.place", order, timeout=10)
    except RpcError as exc:
        if exc.code == "refused":
            return None
        raise


class BusRecorder:
    """Every event under ``prefixes`` from a PUB endpoint, received on a
    thread (so nothing is dropped while a test blocks) into ``events``:
    ``(monotonic time, topic, message)``, in arrival order."""

    def __init__(self, endpoint: str, prefixes: tuple[bytes, ...] = (b"",)) -> None:
        self.events: list[tuple[float, str, object]] = []
        self.headers: list = []          # the frame header of each event, same index
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RCVHWM, 0)
        for prefix in prefixes:
            self._sock.setsockopt(zmq.SUBSCRIBE, prefix)
        self._sock.connect(endpoint)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bus-recorder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        receiver = Receiver()
        while not self._stop.is_set():
            if not self._sock.poll(100):
                continue
            while True:
                try:
                    raw = self._sock.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                ev = receiver.feed(raw, "test")
                if ev is not None:
                    self.headers.append(ev.header)
                    self.events.append((time.monotonic(), ev.topic, ev.msg))

    def mark(self) -> int:
        """Where the events from now on start (for ``since``)."""
        return len(self.events)

    def since(self, mark: int = 0, prefix: str = "", kind: type | None = None) -> list:
        return [(t, topic, msg) for t, topic, msg in self.events[mark:]
                if topic.startswith(prefix) and (kind is None or isinstance(msg, kind))]

    def wait(self, what: str, mark: int = 0, prefix: str = "", kind: type | None = None,
             match=lambda msg: True, timeout: float = 15.0):
        """The first event after ``mark`` under ``prefix`` of ``kind`` that ``match``es: (index, time, msg)."""
        def find():
            for i in range(mark, len(self.events)):
                t, topic, msg = self.events[i]
                if topic.startswith(prefix) and (kind is None or isinstance(msg, kind)) and match(msg):
                    return i, t, msg
            return None
        return wait_for(find, timeout, what)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close(linger=0)
        self._ctx.destroy(linger=0)


class Desk:
    """The replay venue and a Provider (spot + USD-M BTCUSDT through the real
    Binance connector) under ``barfinex up``, real processes and sockets, with
    a BusRecorder on the Provider's PUB socket. ``with Desk(run_dir, env) as d``."""

    def __init__(self, run_dir: Path, env: dict, *, speed: float = 4.0, options: dict | None = None,
                 venue: dict | None = None) -> None:
        port = free_port()
        self.venue_url = f"http://127.0.0.1:{port}"
        (run_dir / "venue.yaml").write_text(yaml.safe_dump({"port": port, "speed": speed, "loop": True,
                                                            **(venue or {})}))
        (run_dir / "provider.yaml").write_text(yaml.safe_dump({
            "connectors": {"binance": {"options": {"venue": self.venue_url, "markets": ["spot", "usdm"],
                                                   **(options or {})},
                                       "symbols": {"spot": ["BTCUSDT"], "usdm": ["BTCUSDT"]}}},
            "candles": ["1s", "1m"]}))
        self.path = write_topology(run_dir, {
            "venue": {"class": "barfinex.connectors.venue.actor:VenueActor", "config": "venue.yaml"},
            "provider": {"class": "actors.provider:Provider", "config": "provider.yaml"},
        })
        self.env = env
        self.topo = load_topology(str(self.path), check_classes=False)
        self.ctl = self.topo.actors["provider"].control
        self.procs = Procs(env)
        self.bus: BusRecorder | None = None
        try:
            self.procs.start("up", str(self.path), start_new_session=True)
            self.bus = BusRecorder(self.topo.actors["provider"].pub)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "Desk":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.bus is not None:
            self.bus.close()
        self.procs.cleanup()

    def call(self, method: str, params=None, timeout: float = 3.0):
        return call(self.ctl, method, params, timeout)

    def book(self, market: str, depth: int = 5) -> dict | None:
        try:
            return self.call("book", {"connector": "binance", "market": market, "symbol": "BTCUSDT", "depth": depth})
        except (RpcTimeout, RpcError):
            return None

    def valid_book(self, market: str, depth: int = 5) -> dict | None:
        snap = self.book(market, depth)
        # bus_seq: the last delta the snapshot includes (0 until the first one is out)
        return snap if snap and snap["status"] == "VALID" and snap["bus_seq"] > 0 else None

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Both books VALID and the recorder live (a heartbeat seen: no slow joiner)."""
        wait_for(lambda: self.valid_book("spot") and self.valid_book("usdm"), timeout, "both books VALID")
        self.bus.wait("a Provider heartbeat on our SUB socket", prefix="PROVIDER_HEARTBEAT", timeout=10)

    def health(self) -> dict:
        """The Provider's health counters, from its control socket."""
        return self.call("status")["health"]

    def fault(self, kind: str, market: str, **kw) -> dict:
        """Inject a fault through the venue's admin endpoint."""
        r = httpx.post(f"{self.venue_url}/_venue/fault", json={"kind": kind, "market": market, **kw}, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()

    def venue_stats(self) -> dict:
        return httpx.get(f"{self.venue_url}/_venue/stats", timeout=5).json()

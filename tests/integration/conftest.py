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
import time
from pathlib import Path

import pytest
import yaml
import zmq

SUPPORT = Path(__file__).parent / "support"


@pytest.fixture
def run_dir():
    # Short: a unix socket path must fit in 107 bytes.
    d = Path(tempfile.mkdtemp(prefix="bfx-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(SUPPORT), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    e["BARFINEX_LOG_LEVEL"] = "INFO"
    return e


@pytest.fixture
def topology(run_dir):
    """Write a topology YAML into run_dir; returns its path."""
    def make(actors: dict, name: str = "t", **extra) -> Path:
        doc = {"name": name, "run_dir": str(run_dir / "sock"), "heartbeat_ms": 200, **extra, "actors": actors}
        path = run_dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path
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

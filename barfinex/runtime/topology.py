"""Topology files: which actors run, where they listen, what they subscribe to.

Strict: an unknown key, a missing file, a duplicate endpoint or an unknown
actor name is a ConfigError naming the file and line (the CLI exits 2).

Endpoints may use ``{run_dir}``; by default every actor gets
``ipc://{run_dir}/<name>.pub`` and ``ipc://{run_dir}/<name>.ctl``.

``poll`` picks how an actor waits for bus events: ``spin`` (the default) keeps
polling its SUB socket for up to ``spin_us`` after each event before it goes
back to sleeping in epoll, so an event that follows soon is handled without a
wake-up; ``epoll`` always sleeps. bench/RESULTS.md (Bus) has the figures
that chose the default.
"""
from __future__ import annotations

import getpass
import importlib
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from barfinex.config import ConfigError, Document, load_yaml

DEFAULT_TOPOLOGY = "demo"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_ENDPOINT = re.compile(r"^(ipc://.+|tcp://[^:/]+:\d{1,5}|inproc://.+)$")

POLL_MODES = ("spin", "epoll")
DEFAULT_POLL = "spin"
# The longest an actor busy-polls after an event (adaptive below it: see
# barfinex.runtime.polling). Longer than a bus round trip here (~60-100 us).
DEFAULT_SPIN_US = 100
MAX_SPIN_US = 10_000


class RestartPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    backoff_ms: int = 250            # first restart delay; doubles per crash, with jitter
    max_backoff_ms: int = 5_000
    max_restarts: int = 5            # crashes within window_s before the supervisor gives up
    window_s: float = 60.0


class _ActorSchema(msgspec.Struct, forbid_unknown_fields=True):
    cls: str = msgspec.field(name="class")
    config: str | None = None
    pub: str | None = None
    control: str | None = None
    subscribe: list[str] = []
    host: str = "localhost"
    poll: str = DEFAULT_POLL
    spin_us: int | None = None


class _SupervisorSchema(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pub: str | None = None
    control: str | None = None


class _TopologySchema(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    actors: dict[str, Any]
    run_dir: str | None = None
    heartbeat_ms: int = 1000
    startup_timeout_s: float = 20.0
    stop_timeout_s: float = 2.5
    restart: RestartPolicy = RestartPolicy()
    supervisor: _SupervisorSchema = _SupervisorSchema()


@dataclass(frozen=True)
class ActorSpec:
    name: str
    cls: str                  # "package.module:Class"
    pub: str
    control: str
    subscribe: tuple[str, ...]
    config_path: Path | None
    host: str
    poll: str = DEFAULT_POLL           # "spin" or "epoll": how the actor waits for bus events
    spin_us: int = DEFAULT_SPIN_US     # spin mode: longest busy-poll after an event


@dataclass(frozen=True)
class Topology:
    name: str
    path: Path
    run_dir: Path
    heartbeat_ms: int
    startup_timeout_s: float
    stop_timeout_s: float
    restart: RestartPolicy
    supervisor_pub: str
    supervisor_control: str
    actors: dict[str, ActorSpec] = field(default_factory=dict)

    def actor(self, name: str) -> ActorSpec:
        try:
            return self.actors[name]
        except KeyError:
            raise ConfigError(self.path, None, None, f"no actor named {name!r}",
                              f"this topology has: {', '.join(self.actors)}") from None

    def pub_endpoints(self, names: list[str] | None = None) -> list[str]:
        names = list(self.actors) if names is None else names
        return [self.actors[n].pub for n in names]

    def endpoints(self) -> list[str]:
        eps = [self.supervisor_pub, self.supervisor_control]
        for a in self.actors.values():
            eps += [a.pub, a.control]
        return eps


def default_run_dir(name: str) -> Path:
    base = os.environ.get("BARFINEX_RUN_DIR")
    if base:
        return Path(base) / name
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    root = Path(runtime) / "barfinex" if runtime else Path("/tmp") / f"barfinex-{getpass.getuser()}"
    return root / name


def resolve(name_or_path: str | None) -> Path:
    """A topology file path, a name of a shipped topology, or None for the demo."""
    target = name_or_path or DEFAULT_TOPOLOGY
    p = Path(target)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    shipped = resources.files("barfinex.configs") / "topologies" / f"{target}.yaml"
    if shipped.is_file():
        return Path(str(shipped))
    available = sorted(x.name[:-5] for x in (resources.files("barfinex.configs") / "topologies").iterdir()
                       if x.name.endswith(".yaml"))
    raise ConfigError(target, None, None, "no such topology file or shipped topology",
                      f"give a path to a .yaml file, or one of: {', '.join(available)}")


def _check_class(doc: Document, path: tuple, spec: str) -> None:
    mod, _, attr = spec.partition(":")
    if not mod or not attr:
        raise doc.error(path, f"class {spec!r} must look like 'package.module:ClassName'")
    try:
        module = importlib.import_module(mod)
    except ImportError as exc:
        raise doc.error(path, f"cannot import {mod!r}: {exc}",
                        "is the package installed in this environment?") from None
    if not hasattr(module, attr):
        raise doc.error(path, f"module {mod!r} has no {attr!r}")


def load_topology(name_or_path: str | None = None, *, check_classes: bool = True) -> Topology:
    """Load and validate a topology. ConfigError on anything wrong."""
    path = resolve(name_or_path)
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise doc.error((), "a topology is a mapping with at least 'name' and 'actors'")
    top = doc.convert(_TopologySchema)
    if not _NAME.match(top.name):
        raise doc.error(("name",), f"name {top.name!r}: use lowercase letters, digits, - and _")
    if top.heartbeat_ms < 50:
        raise doc.error(("heartbeat_ms",), "heartbeat_ms must be at least 50")
    if not top.actors:
        raise doc.error(("actors",), "a topology needs at least one actor")
    run_dir = Path(os.path.expandvars(top.run_dir)).expanduser() if top.run_dir else default_run_dir(top.name)

    def endpoint(value: str | None, default: str, where: tuple) -> str:
        ep = (value or default).replace("{run_dir}", str(run_dir))
        if not _ENDPOINT.match(ep):
            raise doc.error(where, f"endpoint {ep!r} is not ipc://PATH, tcp://HOST:PORT or inproc://NAME")
        return ep

    actors: dict[str, ActorSpec] = {}
    for name, raw in top.actors.items():
        where = ("actors", name)
        if not _NAME.match(name):
            raise doc.error(where, f"actor name {name!r}: use lowercase letters, digits, - and _", key=True)
        if not isinstance(raw, dict):
            raise doc.error(where, f"actor {name!r} must be a mapping with at least 'class'")
        a = doc.convert(_ActorSchema, raw, where)
        if check_classes:
            _check_class(doc, where + ("class",), a.cls)
        cfg = None
        if a.config is not None:
            cfg = (path.parent / a.config).resolve()
            if not cfg.is_file():
                raise doc.error(where + ("config",), f"config file {a.config!r} not found (looked at {cfg})")
        if a.poll not in POLL_MODES:
            raise doc.error(where + ("poll",), f"poll {a.poll!r}: choose one of {', '.join(POLL_MODES)}")
        if a.spin_us is not None:
            if a.poll != "spin":
                raise doc.error(where + ("spin_us",), "spin_us applies only to poll: spin")
            if not 1 <= a.spin_us <= MAX_SPIN_US:
                raise doc.error(where + ("spin_us",), f"spin_us must be between 1 and {MAX_SPIN_US}")
        actors[name] = ActorSpec(
            name=name, cls=a.cls,
            pub=endpoint(a.pub, f"ipc://{{run_dir}}/{name}.pub", where + ("pub",)),
            control=endpoint(a.control, f"ipc://{{run_dir}}/{name}.ctl", where + ("control",)),
            subscribe=tuple(a.subscribe), config_path=cfg, host=a.host,
            poll=a.poll, spin_us=DEFAULT_SPIN_US if a.spin_us is None else a.spin_us)
    for name, spec in actors.items():
        for i, other in enumerate(spec.subscribe):
            if other not in actors:
                raise doc.error(("actors", name, "subscribe", i), f"subscribes to unknown actor {other!r}",
                                f"actors here: {', '.join(actors)}")
            if other == name:
                raise doc.error(("actors", name, "subscribe", i), "an actor cannot subscribe to itself")
    topo = Topology(
        name=top.name, path=path, run_dir=run_dir, heartbeat_ms=top.heartbeat_ms,
        startup_timeout_s=top.startup_timeout_s, stop_timeout_s=top.stop_timeout_s,
        restart=top.restart,
        supervisor_pub=endpoint(top.supervisor.pub, "ipc://{run_dir}/supervisor.pub", ("supervisor", "pub")),
        supervisor_control=endpoint(top.supervisor.control, "ipc://{run_dir}/supervisor.ctl",
                                    ("supervisor", "control")),
        actors=actors)
    seen: dict[str, str] = {}
    owners = [("supervisor", "pub", topo.supervisor_pub), ("supervisor", "control", topo.supervisor_control)]
    owners += [(n, k, getattr(a, k)) for n, a in actors.items() for k in ("pub", "control")]
    for owner, kind, ep in owners:
        if ep in seen:
            where = ("supervisor", kind) if owner == "supervisor" else ("actors", owner, kind)
            raise doc.error(where, f"duplicate endpoint {ep} (also used by {seen[ep]})",
                            "every pub and control endpoint must be unique")
        seen[ep] = f"{owner}.{kind}"
    return topo

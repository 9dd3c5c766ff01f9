"""The `barfinex` command: parse, validate, build, start. Nothing else lives here.

Exit codes: 0 success, 1 a check failed, 2 bad usage or bad input.
"""
from __future__ import annotations

import json
import sys
import time

import click

from barfinex.config import ConfigError

TOPOLOGY_HELP = ("Topology: a path to a YAML file, or the name of a shipped one "
                 "(default: demo).")


def _load(topology: str | None, check_classes: bool = True):
    from barfinex.runtime.topology import load_topology
    try:
        return load_topology(topology, check_classes=check_classes)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


class _LazyGroup(click.Group):
    """Subcommands imported on use, so `barfinex --help` stays fast."""

    def __init__(self, *a, lazy: dict[str, str], **kw) -> None:
        super().__init__(*a, **kw)
        self._lazy = lazy

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self._lazy))

    def get_command(self, ctx, name):
        if name in self._lazy:
            import importlib
            mod, _, attr = self._lazy[name].partition(":")
            return getattr(importlib.import_module(mod), attr)
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup, lazy={"venue": "barfinex.connectors.venue.cli:venue_command",
                                    "record": "barfinex.capture.record:record_command",
                                    "rules": "barfinex.rules.cli:rules"},
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="barfinex")
def main() -> None:
    """Barfinex: a low-latency trading operating system.

    Four actors (Provider, Detector, Advisor, Inspector) run as separate
    processes wired by ZeroMQ. `barfinex up` starts them; `barfinex status`
    and `barfinex tail` watch them from another terminal.
    """


@main.command()
@click.argument("topology", required=False)
def up(topology: str | None) -> None:
    """Start every actor of TOPOLOGY and supervise them.

    Each actor runs as its own process; a crashed actor restarts with
    backoff, and a crash loop stops the topology with a clear message.
    Ctrl-C (or SIGTERM) stops everything within a few seconds.
    """
    from barfinex.runtime import logs
    from barfinex.runtime.supervisor import AlreadyRunning, Supervisor
    topo = _load(topology)
    logs.setup("supervisor")
    try:
        code = Supervisor(topo).run()
    except AlreadyRunning as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@main.command()
@click.argument("name")
@click.option("-t", "--topology", help=TOPOLOGY_HELP)
def actor(name: str, topology: str | None) -> None:
    """Run actor NAME of a topology in this process (for multi-host set-ups).

    The actor binds its own pub and control endpoints and connects to those
    of the actors it subscribes to, so a topology with tcp:// endpoints can
    span hosts: run `barfinex actor NAME -t FILE` on each.
    """
    from barfinex.runtime.launch import run_actor
    topo = _load(topology)
    try:
        topo.actor(name)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        sys.exit(run_actor(str(topo.path), name))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _health_lines(health: dict) -> list[str]:
    """``{section: {name: {counter: value}}}`` as one line per name; zeros,
    empty values and ``last_error`` (long) are left out of the line."""
    lines = []
    for section, entries in health.items():
        for name, counters in (entries or {}).items():
            if not isinstance(counters, dict):
                lines.append(f"{section} {name}: {counters}")
                continue
            parts = []
            for key, value in counters.items():
                if key == "last_error" or value in (0, "", {}, None, False) and key != "connected":
                    continue
                if isinstance(value, dict):
                    value = ", ".join(f"{k} {v}" for k, v in value.items())
                    parts.append(f"{key.replace('_', ' ')} ({value})")
                elif isinstance(value, bool):
                    parts.append(key if value else f"NOT {key}")
                else:
                    parts.append(f"{key.replace('_', ' ')} {value}")
            lines.append(f"{section} {name}: {', '.join(parts) or '-'}")
    return lines


def _fmt_duration(seconds: float) -> str:
    if seconds < 0:
        return "-"
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


@main.command()
@click.option("-t", "--topology", help=TOPOLOGY_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for scripts.")
@click.option("--timeout", default=1.5, show_default=True, help="Seconds to wait for each answer.")
def status(topology: str | None, as_json: bool, timeout: float) -> None:
    """Show each actor's state, pid, uptime, heartbeat age, traffic and gaps,
    and below it the actor's own health counters (the Provider's: stream
    reconnects, silences and malformed frames per connector market; book
    state, gaps and resyncs per symbol).

    Asks the supervisor of a running `barfinex up`; without one, asks each
    actor directly. Exits 1 if any actor is not RUNNING.
    """
    from barfinex.bus import RpcClient, RpcTimeout
    from barfinex.bus.sockets import ipc_path
    topo = _load(topology, check_classes=False)

    def ask(endpoint: str, wait: float):
        path = ipc_path(endpoint)
        if path is not None and not path.exists():
            raise RpcTimeout(f"{endpoint}: no socket file")  # nothing listens: do not wait
        with RpcClient(endpoint) as client:
            return client.call("status", timeout=wait, attempts=1)

    rows: list[dict] = []
    source = "supervisor"
    try:
        rows = ask(topo.supervisor_control, timeout)
    except RpcTimeout:
        source = "actors"
        for name, spec in topo.actors.items():
            try:
                rows.append(ask(spec.control, timeout / 2))
            except RpcTimeout:
                rows.append({"actor": name, "kind": "?", "state": "DOWN", "pid": 0, "host": "",
                             "uptime_s": -1, "heartbeat_age_s": -1, "msgs_in": 0, "msgs_out": 0,
                             "gaps": 0, "bad_frames": 0, "restarts": 0,
                             "detail": f"no answer on {spec.control}"})
    if source == "supervisor":
        # Heartbeats carry lifecycle only: the counters come from each actor.
        for r in rows:
            spec = topo.actors.get(r["actor"])
            if spec is not None and r["state"] == "RUNNING":
                try:
                    r["health"] = ask(spec.control, timeout / 2).get("health", {})
                except RpcTimeout:
                    r["health"] = {}
    ok = all(r["state"] == "RUNNING" for r in rows)
    if as_json:
        click.echo(json.dumps({"topology": topo.name, "source": source, "ok": ok, "actors": rows}, indent=2))
    else:
        click.echo(f"topology {topo.name} ({topo.path}); answered by: {source}")
        head = f"{'ACTOR':<12}{'KIND':<11}{'STATE':<10}{'PID':>8}  {'UPTIME':>8}  {'HB AGE':>7}" \
               f"{'IN':>10}{'OUT':>10}{'GAPS':>7}{'BAD':>6}{'RESTARTS':>10}"
        click.echo(head)
        for r in rows:
            age = f"{r['heartbeat_age_s']:.1f}s" if r["heartbeat_age_s"] >= 0 else "-"
            click.echo(f"{r['actor']:<12}{r['kind']:<11}{r['state']:<10}{r['pid'] or '-':>8}  "
                       f"{_fmt_duration(r['uptime_s']):>8}  {age:>7}{r['msgs_in']:>10}{r['msgs_out']:>10}"
                       f"{r['gaps']:>7}{r['bad_frames']:>6}{r.get('restarts', 0):>10}"
                       + (f"  {r['detail']}" if r.get("detail") else ""))
            for line in _health_lines(r.get("health") or {}):
                click.echo(f"    {line}")
        if not ok and source == "actors" and all(r["state"] == "DOWN" for r in rows):
            click.echo("nothing is running: start it with `barfinex up`", err=True)
    sys.exit(0 if ok else 1)


@main.command()
@click.argument("prefix")
@click.option("-t", "--topology", help=TOPOLOGY_HELP)
@click.option("--count", type=click.IntRange(min=1), help="Exit 0 after this many events.")
@click.option("--timeout", type=click.FloatRange(min=0), help="Exit 1 if --count events have not "
              "arrived (or, without --count, if nothing arrived) within this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, for scripts.")
def tail(prefix: str, topology: str | None, count: int | None, timeout: float | None, as_json: bool) -> None:
    """Print live bus events whose topic starts with PREFIX, decoded.

    PREFIX is a channel or a longer topic prefix, e.g. PROVIDER_HEARTBEAT or
    PROVIDER_MARKETDATA_TRADE.binance.usdm.BTCUSDT; "" prints everything.
    """
    from barfinex.bus.tail import follow
    topo = _load(topology, check_classes=False)
    seen = follow(topo, prefix, count=count, timeout=timeout, as_json=as_json, echo=click.echo)
    if count is not None and seen < count:
        click.echo(f"tail: {seen} of {count} events for {prefix!r} before the {timeout}s timeout", err=True)
        sys.exit(1)
    if count is None and timeout is not None and seen == 0:
        click.echo(f"tail: no events for {prefix!r} within {timeout}s", err=True)
        sys.exit(1)


@main.group(cls=_LazyGroup, lazy={
    "check": "barfinex.datatools.check:check_command",
    "candles": "barfinex.datatools.candles:candles_command",
})
def data() -> None:
    """Tools a desk runs on its own recorded data (captures in the format the
    replay venue plays: gzip, one `<recv_ns> <raw JSON>` line per message)."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the pair as JSON.")
def keys(as_json: bool) -> None:
    """Generate a ZeroMQ CURVE key pair (Z85) for encrypted bus links between hosts.

    Keep the secret key in the environment of the actor that owns it; never
    commit it to a topology file.
    """
    import zmq
    public, secret = zmq.curve_keypair()
    if as_json:
        click.echo(json.dumps({"public": public.decode(), "secret": secret.decode()}))
    else:
        click.echo(f"public: {public.decode()}\nsecret: {secret.decode()}")

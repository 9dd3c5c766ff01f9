"""Detector: YAML strategies compiled to the rule VM, scored signals on the bus.

Config (YAML)::

    strategies: [../strategies]   # files or directories of *.yaml, relative to this file;
                                  # default: the examples shipped in configs/strategies
    provider: provider            # the Provider actor in the topology (snapshots, candle history)
    reload_interval_s: 1.0        # how often strategy files are checked for edits
    history_timeout_s: 5.0        # per candle-history request at warm-up

For each strategy and symbol the Detector subscribes to the closed candles of
every timeframe its rules read (and to books and trades when they read book.*
or flow.*), warms the indicators up from the Provider's candle history, then
evaluates on every closed bar of the strategy's timeframe and publishes
DETECTOR_SIGNAL_GENERATED.<connector>.<market>.<SYMBOL> with the rules that
fired, their values, the suggested stop and targets, and the bar's event as
causation id.

An edited strategy file is recompiled and swapped in without a restart; a bad
edit is rejected with its file:line:col error and the running version stays.
The Inspector's kill switch (INSPECTOR_RISK_KILL_SWITCH, scope ``global`` or
``strategy:NAME``, kind ``engaged`` / ``released``) silences signals while the
indicators keep updating.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import msgspec

from barfinex.bus import AsyncRpcClient, RpcError, RpcTimeout
from barfinex.config import ConfigError
from barfinex.model import BookDelta, BookState, Candle, MarketType, RiskEvent, TopOfBook, Trade, market_topic
from barfinex.model.codec import from_dict
from barfinex.rules import Plan, StrategyRuntime, load
from barfinex.rules.engine import file_version
from barfinex.runtime import Actor
from barfinex.runtime.watch import UpstreamWatch

from .market import BookMirror, FlowWindows


HISTORY_ATTEMPTS = 10       # one a second: the Provider's feeds come up within a few seconds


class DetectorConfig(msgspec.Struct, forbid_unknown_fields=True):
    strategies: list[str] = []
    provider: str = "provider"
    reload_interval_s: float = 1.0
    history_timeout_s: float = 5.0


def default_strategies_dir() -> Path:
    return Path(str(resources.files("barfinex.configs"))) / "strategies"


@dataclass
class Loaded:
    """One strategy file as running: its plan and one runtime per symbol."""
    path: Path
    mtime_ns: int
    plan: Plan
    version: str
    runtimes: dict[str, StrategyRuntime] = field(default_factory=dict)
    warming: dict[str, list] = field(default_factory=dict)   # symbol -> candle events queued during warm-up
    killed_signals: int = 0
    history_errors: int = 0
    history_bars: int = 0


class Detector(Actor):
    KIND = "DETECTOR"

    async def on_start(self) -> None:
        self.cfg = self.load_config(DetectorConfig)
        self.upstream = UpstreamWatch(self, "PROVIDER_HEARTBEAT")
        provider = self.topology.actors.get(self.cfg.provider)
        if provider is None:
            raise ConfigError(self._config_path(), None, None,
                              f"provider {self.cfg.provider!r} is not an actor of {self.topology.path}")
        self.provider_rpc = AsyncRpcClient(provider.control)
        self.loaded: dict[Path, Loaded] = {}
        self.broken: dict[Path, str] = {}          # file -> the error that keeps its new version out
        self.books: dict[tuple, BookMirror] = {}
        self.flows: dict[tuple, FlowWindows] = {}
        self.ticks: dict[tuple, int] = {}          # (connector, market, symbol) -> price step mantissa
        self.kill_global = False
        self.killed: set[str] = set()
        self.counters = {"signals": 0, "reloads": 0, "reload_errors": 0}
        self.subscribe("PROVIDER_MARKETDATA_CANDLE", self._on_candle)
        self.subscribe("PROVIDER_MARKETDATA_ORDERBOOK", self._on_book)
        self.subscribe("PROVIDER_MARKETDATA_BOOK_STATE", self._on_book_state)
        self.subscribe("PROVIDER_MARKETDATA_TRADE", self._on_trade)
        self.subscribe("INSPECTOR_RISK_KILL_SWITCH", self._on_kill)
        self._scan(initial=True)
        self.spawn(self._load_instruments())
        if not self.loaded:
            self.log.warning("no strategy loaded from %s", ", ".join(map(str, self._sources())))
        self.spawn(self._watch_files())

    async def on_stop(self) -> None:
        self.provider_rpc.close()

    async def on_reload(self) -> str:
        return self._scan()

    # ------------------------------------------------------------------ files
    def _config_path(self) -> str:
        return str(self.config_doc.path) if self.config_doc is not None else f"<{self.name} config>"

    def _sources(self) -> list[Path]:
        if not self.cfg.strategies:
            return [default_strategies_dir()]
        base = self.config_doc.path.parent if self.config_doc is not None else Path.cwd()
        return [(base / s).resolve() if not Path(s).is_absolute() else Path(s) for s in self.cfg.strategies]

    def _files(self) -> dict[Path, int]:
        found = {}
        for src in self._sources():
            paths = sorted(src.glob("*.yaml")) + sorted(src.glob("*.yml")) if src.is_dir() else [src]
            for p in paths:
                try:
                    found[p] = p.stat().st_mtime_ns
                except FileNotFoundError:
                    self.log.error("strategy file %s does not exist", p)
        return found

    async def _watch_files(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.reload_interval_s)
            self._scan()

    def _scan(self, initial: bool = False) -> str:
        """Load new files, recompile edited ones, drop deleted ones."""
        files = self._files()
        changes = []
        for path in list(self.loaded):
            if path not in files:
                self._unload(path)
                changes.append(f"removed {path.name}")
        for path, mtime in files.items():
            known = self.loaded.get(path)
            if known is not None and known.mtime_ns == mtime:
                continue
            if path in self.broken and self.broken[path][0] == mtime:
                continue
            try:
                plan = load(path)
            except ConfigError as exc:
                self.broken[path] = (mtime, str(exc))
                self.counters["reload_errors"] += not initial
                what = "kept the running version" if known else "not loaded"
                self.log.error("strategy rejected (%s): %s", what, exc)
                changes.append(f"rejected {path.name}")
                continue
            self.broken.pop(path, None)
            clash = next((p for p, l in self.loaded.items() if l.plan.name == plan.name and p != path), None)
            if clash is not None:
                self.broken[path] = (mtime, f"strategy name {plan.name!r} is already used by {clash}")
                self.log.error("%s: strategy name %r is already used by %s; not loaded", path, plan.name, clash)
                continue
            if known is not None:
                self._unload(path)
                self.counters["reloads"] += 1
            self._install(path, mtime, plan)
            changes.append(f"{'reloaded' if known else 'loaded'} {plan.name}")
        return "; ".join(changes) or "no strategy changed"

    def _install(self, path: Path, mtime: int, plan: Plan) -> None:
        version = file_version(str(path))
        entry = self.loaded[path] = Loaded(path, mtime, plan, version)
        inputs = plan.spec.inputs
        for symbol in plan.symbols:
            entry.runtimes[symbol] = StrategyRuntime(plan, symbol, version=version)
            entry.warming[symbol] = []
            key = (inputs.connector, inputs.market, symbol)
            if plan.uses_book() and key not in self.books:
                self.books[key] = BookMirror(symbol)
            if plan.uses_flow():
                self._ensure_flow(key, plan)
            self.spawn(self._warm_up(entry, symbol))
        self.log.info("strategy %s %s loaded from %s: %d rules on %s (%s), version %s", plan.name,
                      "ENABLED" if plan.spec.enabled else "DISABLED", path, len(plan.rules),
                      ", ".join(plan.symbols), ", ".join(tf.label for tf in plan.timeframes), version)

    def _ensure_flow(self, key: tuple, plan: Plan) -> None:
        current = self.flows.get(key)
        windows = sorted(set(plan.flow_windows) | set(current.windows if current else ()))
        if current is None or current.windows != windows:
            flow = plan.spec.inputs.flow
            self.flows[key] = FlowWindows(windows, flow.large_notional if flow else 0.0, plan.flow_bucket_s)
            self.flows[key].tick = self.ticks.get(key)

    async def _load_instruments(self) -> None:
        """Price steps from the Provider (absorption counts ticks); retried
        while its connectors come up, then refreshed now and then."""
        while True:
            try:
                for ins in await self.provider_rpc.call("instruments", timeout=self.cfg.history_timeout_s):
                    market = ins["market"]      # the enum's name in RPC bodies
                    market = MarketType[market] if isinstance(market, str) else MarketType(market)
                    key = (ins["connector"], market.label, ins["symbol"])
                    self.ticks[key] = int(ins["tick_size"]) or 1
                    flow = self.flows.get(key)
                    if flow is not None and flow.tick is None:
                        flow.tick = self.ticks[key]
            except (RpcError, RpcTimeout, KeyError, ValueError, TypeError) as exc:
                self.log.debug("instruments from %s not available yet (%s)", self.cfg.provider, exc)
            await asyncio.sleep(1.0 if any(f.tick is None for f in self.flows.values()) else 60.0)

    def _unload(self, path: Path) -> None:
        entry = self.loaded.pop(path)
        self.log.info("strategy %s unloaded (%s)", entry.plan.name, path)

    # ------------------------------------------------------------------ warm-up
    async def _warm_up(self, entry: Loaded, symbol: str) -> None:
        """Feed the Provider's recent closed candles, oldest first, without
        evaluating; then the live candles that arrived meanwhile."""
        plan, runtime = entry.plan, entry.runtimes[symbol]
        inputs = plan.spec.inputs
        bars = []
        for tf in plan.timeframes:
            params = {"connector": inputs.connector, "market": inputs.market, "symbol": symbol,
                      "timeframe": tf.label, "limit": plan.warmup_bars(int(tf)) + 2}
            for attempt in range(HISTORY_ATTEMPTS):
                try:
                    reply = await self.provider_rpc.call("candles", params, timeout=self.cfg.history_timeout_s)
                    bars.extend(from_dict(Candle, c) for c in reply.get("candles", []))
                    break
                except (RpcError, RpcTimeout, ValueError) as exc:
                    # At start-up the Provider may not have this feed yet: ask again for a while.
                    if attempt + 1 == HISTORY_ATTEMPTS:
                        entry.history_errors += 1
                        self.log.warning("%s %s: no %s candle history from %s (%s); warming up on live bars",
                                         plan.name, symbol, tf.label, self.cfg.provider, exc)
                    else:
                        await asyncio.sleep(1.0)
        bars.sort(key=lambda c: (c.open_ns + c.timeframe_s * 1_000_000_000, -c.timeframe_s))
        for c in bars:
            _feed(runtime, c, evaluate=False)
        entry.history_bars += len(bars)
        if self.loaded.get(entry.path) is not entry:
            return                              # reloaded meanwhile
        queued, entry.warming[symbol] = entry.warming.pop(symbol), None
        for event in queued:
            self._run_bar(entry, symbol, event)
        self.log.info("%s %s warmed up on %d history bars", plan.name, symbol, len(bars))

    # ------------------------------------------------------------------ events
    def _on_candle(self, event) -> None:
        c = event.msg
        if not isinstance(c, Candle) or not c.closed:
            return
        market = _market_name(c.market)
        for entry in self.loaded.values():
            inputs = entry.plan.spec.inputs
            if inputs.connector != c.connector or inputs.market != market or c.symbol not in entry.runtimes:
                continue
            queue = entry.warming.get(c.symbol)
            if queue is not None:
                queue.append(event)
                continue
            self._run_bar(entry, c.symbol, event)

    def _run_bar(self, entry: Loaded, symbol: str, event) -> None:
        c: Candle = event.msg
        runtime = entry.runtimes[symbol]
        key = (c.connector, _market_name(c.market), symbol)
        # Flow windows run on exchange time (a replay is years behind the wall clock).
        self._set_live(entry.plan, runtime, key, c.open_ns + c.timeframe_s * 1_000_000_000)
        for signal in _feed(runtime, c):
            self._emit(entry, signal, event.header.event_id)

    def _set_live(self, plan: Plan, runtime: StrategyRuntime, key: tuple, exch_ns: int) -> None:
        if not plan.live:
            return
        book, flow = self.books.get(key), self.flows.get(key)
        rows = flow.features(exch_ns) if flow is not None else None
        for x in plan.live:
            if x.feature.startswith("book."):
                value = book.feature(x.feature, x.arg) if book is not None else float("nan")
            else:
                value = flow.feature(rows, x.feature, x.arg) if flow is not None else float("nan")
            runtime.set_live(x.reg, value)

    def _emit(self, entry: Loaded, signal, causation: bytes) -> None:
        name = entry.plan.name
        if not entry.plan.spec.enabled:
            return
        if self.kill_global or name in self.killed:
            entry.killed_signals += 1
            return
        inputs = entry.plan.spec.inputs
        self.publish(market_topic("DETECTOR_SIGNAL_GENERATED", inputs.connector, inputs.market, signal.symbol),
                     signal, causation_id=causation)
        self.counters["signals"] += 1
        rules = ", ".join(h.rule for h in signal.rules)
        self.log.info("signal %s %s %s score %.2f/%.2f at %.8g stop %.8g (%s)", name, signal.symbol,
                      signal.direction.name, signal.score, signal.max_score, signal.price, signal.stop_price, rules)

    def _on_book(self, event) -> None:
        msg = event.msg
        key = (msg.connector, _market_name(msg.market), msg.symbol)
        mirror = self.books.get(key)
        if mirror is None:
            return
        if not isinstance(msg, (BookDelta, TopOfBook)):
            return
        mirror.on_event(event.header.seq, msg)
        if mirror.needs_snapshot:
            mirror.needs_snapshot = False
            self.spawn(self._snapshot(key, mirror))
        elif isinstance(msg, TopOfBook):
            self._evaluate_live(key, "book", mirror, msg.exch_ts_ns, event.header.event_id)

    def _on_book_state(self, event) -> None:
        msg = event.msg
        if isinstance(msg, BookState):
            mirror = self.books.get((msg.connector, _market_name(msg.market), msg.symbol))
            if mirror is not None:
                mirror.on_state(msg)

    async def _snapshot(self, key: tuple, mirror: BookMirror) -> None:
        connector, market, symbol = key
        delay = 0.2
        while True:
            try:
                snap = await self.provider_rpc.call("book", {"connector": connector, "market": market,
                                                             "symbol": symbol, "depth": 1000}, timeout=3.0)
                mirror.on_snapshot(snap)
                if mirror.needs_snapshot:      # the buffered deltas did not chain: again
                    mirror.needs_snapshot = False
                    continue
                return
            except (RpcError, RpcTimeout, KeyError, ValueError) as exc:
                self.log.warning("%s %s book snapshot failed (%s); retrying in %.1fs", market, symbol, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _on_trade(self, event) -> None:
        t = event.msg
        if not isinstance(t, Trade):
            return
        key = (t.connector, _market_name(t.market), t.symbol)
        flow = self.flows.get(key)
        if flow is not None:
            flow.on_trade(t)
            self._evaluate_live(key, "trade", None, t.exch_ts_ns, event.header.event_id)

    def _evaluate_live(self, key: tuple, trigger: str, mirror: BookMirror | None, exch_ns: int,
                       cause: bytes) -> None:
        for entry in self.loaded.values():
            plan = entry.plan
            if trigger not in plan.spec.evaluate_on or (plan.spec.inputs.connector, plan.spec.inputs.market) \
                    != key[:2] or key[2] not in entry.runtimes or entry.warming.get(key[2]) is not None:
                continue
            runtime = entry.runtimes[key[2]]
            self._set_live(plan, runtime, key, exch_ns)
            book = mirror or self.books.get(key)
            price = book.mid() if book is not None and book.valid else runtime.last_close
            signal = runtime.evaluate(trigger, price, exch_ns)
            if signal is not None:
                self._emit(entry, signal, cause)

    def _on_kill(self, event) -> None:
        msg = event.msg
        if not isinstance(msg, RiskEvent):
            return
        engaged = msg.kind == "engaged"
        if msg.scope == "global":
            self.kill_global = engaged
        elif msg.scope.startswith("strategy:"):
            name = msg.scope.split(":", 1)[1]
            (self.killed.add if engaged else self.killed.discard)(name)
        else:
            return
        self.log.warning("kill switch %s for %s: %s", "ENGAGED" if engaged else "released", msg.scope,
                         msg.message)

    # ------------------------------------------------------------------ status
    def health(self) -> dict:
        strategies = {}
        for entry in self.loaded.values():
            s = {"file": str(entry.path), "version": entry.version, "enabled": entry.plan.spec.enabled,
                 "killed": self.kill_global or entry.plan.name in self.killed,
                 "killed_signals": entry.killed_signals, "history_bars": entry.history_bars,
                 "history_errors": entry.history_errors}
            for symbol, rt in entry.runtimes.items():
                st = rt.stats
                s[symbol] = {"warming": entry.warming.get(symbol) is not None, "bars": st.bars,
                             "evaluations": st.evaluations, "signals": st.signals, "cooldown": st.cooldown,
                             "conflicts": st.conflicts, "no_stop": st.no_stop, "stale_bars": st.stale_bars}
            strategies[entry.plan.name] = s
        for path, (_, error) in self.broken.items():
            strategies.setdefault(f"rejected:{path.name}", {})["error"] = error
        books = {f"{k[1]}:{k[2]}": {"valid": m.valid, "resyncs": m.resyncs, "applied": m.applied,
                                    "rejected": m.rejected} for k, m in self.books.items()}
        flows = {f"{k[1]}:{k[2]}": {"windows": ", ".join(f"{w:g}s" for w in f.windows), "tick": f.tick,
                                    "trades": f.flow.accepted if f.flow is not None else 0,
                                    "rejected": f.rejected, "before_instrument": f.before_instrument}
                 for k, f in self.flows.items()}
        return {"strategies": strategies, "books": books, "flows": flows, "detector": dict(self.counters)}


def _feed(runtime: StrategyRuntime, c: Candle, evaluate: bool = True) -> list:
    ps, qs = 10.0 ** -c.price_prec, 10.0 ** -c.qty_prec
    return runtime.on_bar(c.timeframe_s, c.open_ns, c.open * ps, c.high * ps, c.low * ps, c.close * ps,
                          c.volume * qs, c.quote_volume * ps * qs, float(c.count), c.taker_buy_volume * qs,
                          evaluate)


def _market_name(market) -> str:
    return MarketType(market).label


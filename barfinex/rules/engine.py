"""Run a compiled strategy on one symbol: bars in, scored signals out.

StrategyRuntime builds the VM (barfinex/_fast/rulevm) from a Plan, feeds it
closed bars per timeframe, and evaluates the rules once every timeframe whose
bar closes at the same instant as the driving bar has arrived (so a rule on
5s bars that reads ``close@1m`` sees the 1m bar that closed with it). The
per-bar path is the VM's; this module only does the rare work of turning a
passed threshold into a Signal (cooldown, stop, targets, attribution).
"""
from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass

from barfinex import backend as _backend
from barfinex import indicator_catalog
from barfinex.model import Direction, MarketType, RuleHit, RuleTerm, Signal, Timeframe

from .compiler import ExprStep, IndicatorStep, LagStep, Plan

# 1970-01-01 was a Thursday: weekly bars start on Mondays, 4 days later.
_WEEK_OFFSET_NS = 4 * 86_400 * 1_000_000_000


def bar_end_is_boundary(end_ns: int, timeframe_s: int) -> bool:
    """Does a bar of ``timeframe_s`` end at ``end_ns``?"""
    tf_ns = timeframe_s * 1_000_000_000
    if timeframe_s == int(Timeframe.W1):
        return (end_ns - _WEEK_OFFSET_NS) % tf_ns == 0
    return end_ns % tf_ns == 0


@dataclass
class RuntimeStats:
    bars: int = 0
    evaluations: int = 0
    passed: int = 0            # a threshold was reached
    signals: int = 0
    cooldown: int = 0          # passed but inside the cooldown
    conflicts: int = 0         # both directions passed with the same score
    no_stop: int = 0           # passed but the stop could not be computed yet (ATR warming up)
    stale_bars: int = 0        # a bar older than one already seen on its timeframe: dropped


def file_version(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:12]
    except OSError:
        return ""


class StrategyRuntime:
    def __init__(self, plan: Plan, symbol: str, backend: str | None = None, version: str = "") -> None:
        self.plan, self.symbol = plan, symbol
        self.version = version
        vm = _backend.load("rulevm", backend)
        n = plan.n_regs
        self.machine = vm.Machine(n)
        self.clock_of: dict[int, int] = {}
        for tf_s, clock in plan.clocks.items():
            steps = []
            for s in clock.steps:
                if isinstance(s, ExprStep):
                    steps.append(vm.ExprStep(s.code, s.consts, s.dst, n))
                elif isinstance(s, IndicatorStep):
                    ind = indicator_catalog.build(indicator_catalog.CATALOG[s.name], s.params, backend)
                    steps.append(vm.IndicatorStep(ind, s.inputs, s.out, n))
                elif isinstance(s, LagStep):
                    steps.append(vm.LagStep(s.src, s.dst, s.bars, n))
            self.clock_of[tf_s] = self.machine.add_clock(clock.bar, steps)
        for r in plan.rules:
            self.machine.add_rule(vm.ExprStep(r.code, r.consts, r.reg, n), r.direction, r.weight)
        self.terms = [[vm.ExprStep(t.code, t.consts, -1, n) for t in r.terms] for r in plan.rules]
        self.max_score = {d: sum(r.weight for r in plan.rules if r.direction == d) for d in (1, -1)}
        self.last_end: dict[int, int] = {tf: 0 for tf in plan.clocks}
        self.pending: tuple | None = None     # driving bar waiting for its companions
        self.last_close = math.nan
        self.last_signal_ns: int | None = None
        self.bars_since_signal = 0
        self.stats = RuntimeStats()

    # ------------------------------------------------------------------ bars
    def on_bar(self, timeframe_s: int, open_ns: int, o: float, h: float, l: float, c: float, volume: float,
               quote_volume: float, trades: float, taker_buy_volume: float, evaluate: bool = True) -> list[Signal]:
        """One closed bar (floats in price / quantity units). Returns the
        signals of the evaluations this bar completes (usually none, at most two:
        a driving bar whose companion never came, and this one). ``evaluate``
        False: warm-up from history, indicators only, no rule runs."""
        clock = self.clock_of.get(timeframe_s)
        if clock is None:
            return []
        end = open_ns + timeframe_s * 1_000_000_000
        if end <= self.last_end[timeframe_s]:
            self.stats.stale_bars += 1
            return []
        signals = []
        if self.pending is not None and end > self.pending[0]:
            self._evaluate_pending(signals)         # a companion bar never came: go with what we have
        vwap = quote_volume / volume if volume > 0 else c
        self.machine.bar(clock, o, h, l, c, volume, quote_volume, trades, taker_buy_volume, vwap)
        self.last_end[timeframe_s] = end
        self.stats.bars += 1
        if timeframe_s == self.plan.driving:
            self.last_close = c
            self.bars_since_signal += 1
            if evaluate:
                self.pending = (end, open_ns, c)
        if self.pending is not None and self._companions_in(self.pending[0]):
            self._evaluate_pending(signals)
        return signals

    def _companions_in(self, end: int) -> bool:
        return all(self.last_end[tf] >= end or not bar_end_is_boundary(end, tf) for tf in self.last_end)

    def _evaluate_pending(self, into: list) -> None:
        end, open_ns, close = self.pending
        self.pending = None
        signal = self.evaluate("bar", close, end, open_ns)
        if signal is not None:
            into.append(signal)

    # ------------------------------------------------------------------ live features
    def set_live(self, reg: int, value: float) -> None:
        self.machine.set(reg, value)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, trigger: str, price: float, time_ns: int, bar_open_ns: int = 0) -> Signal | None:
        m = self.machine
        m.evaluate()
        self.stats.evaluations += 1
        th = self.plan.thresholds
        longs = m.long_score >= th.get(1, math.inf)
        shorts = m.short_score >= th.get(-1, math.inf)
        if not (longs or shorts):
            return None
        self.stats.passed += 1
        if longs and shorts:
            if m.long_score == m.short_score:
                self.stats.conflicts += 1
                return None
            longs = m.long_score > m.short_score
        direction = 1 if longs else -1
        if self._cooling(time_ns):
            self.stats.cooldown += 1
            return None
        stop, targets = self._risk(direction, price)
        if self.plan.spec.stop is not None and not math.isfinite(stop):
            self.stats.no_stop += 1
            return None
        self.last_signal_ns = time_ns
        self.bars_since_signal = 0
        self.stats.signals += 1
        return self._signal(direction, price, stop, targets, trigger, bar_open_ns)

    def _cooling(self, time_ns: int) -> bool:
        if self.last_signal_ns is None:
            return False
        p = self.plan
        if p.cooldown_bars and self.bars_since_signal < p.cooldown_bars:
            return True
        return bool(p.cooldown_s) and time_ns - self.last_signal_ns < p.cooldown_s * 1e9

    def _risk(self, direction: int, price: float) -> tuple[float, list[float]]:
        spec = self.plan.spec
        atr = self.machine.get(self.plan.atr_reg) if self.plan.atr_reg is not None else math.nan
        stop = math.nan
        if spec.stop is not None:
            distance = price * spec.stop.percent / 100 if spec.stop.percent is not None else spec.stop.atr * atr
            stop = price - direction * distance
        targets = []
        for t in spec.targets:
            if t.r is not None:
                distance = t.r * abs(price - stop)
            elif t.percent is not None:
                distance = price * t.percent / 100
            else:
                distance = t.atr * atr
            targets.append(price + direction * distance)
        return stop, targets

    def _signal(self, direction: int, price: float, stop: float, targets: list[float], trigger: str,
                bar_open_ns: int) -> Signal:
        m, p = self.machine, self.plan
        hits = []
        for i in m.fired():
            rule = p.rules[i]
            if rule.direction != direction:
                continue
            terms = [RuleTerm(t.text, float(step.value(m))) for t, step in zip(rule.terms, self.terms[i])]
            hits.append(RuleHit(rule.id, Direction.LONG if direction > 0 else Direction.SHORT, rule.weight,
                                terms[0].value if terms else 1.0, terms))
        score = m.long_score if direction > 0 else m.short_score
        inputs = p.spec.inputs
        return Signal(uuid.uuid4().hex, p.name, inputs.connector, MarketType.parse(inputs.market), self.symbol,
                      p.driving, Direction.LONG if direction > 0 else Direction.SHORT, score, hits, price,
                      stop, targets, bar_open_ns, p.thresholds[direction], self.max_score[direction], trigger,
                      self.version)

"""Compile a strategy file into a Plan the rule VM runs on raw doubles.

The plan is a register file (one double per value) and, per timeframe
("clock"), an ordered list of steps run when that timeframe's bar closes:

- the bar's fields are written into the clock's nine bar registers;
- ``ind``  steps update an incremental indicator (barfinex/_fast/indicators)
  from input registers into its output registers;
- ``lag``  steps keep ``x[n]`` (a ring of the last n values);
- ``expr`` steps materialise an expression an indicator or a lag needs.

Rules are bytecode programs for a small stack machine evaluated after the
driving timeframe's steps (and on book or trade updates if asked). Values are
doubles; true/false are 1/0, and NaN means "not known yet" (an indicator
warming up, a book that is not VALID). Logic is three-valued (Kleene): a rule
fires only when its condition is exactly true, so nothing fires on data it
does not have.

Every problem raises ConfigError naming the file, line and column, with a hint.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from barfinex import indicator_catalog
from barfinex.config import ConfigError, Document, load_yaml
from barfinex.model import Timeframe

from . import lang, schema
from .features import BAR_FIELDS, LIVE_FEATURES, MAX_BOOK_LEVELS

# Opcodes of the rule VM. barfinex/_fast/rulevm.pyx and its twin use the same
# numbers (a parity test checks it).
OPCODES = {
    "LOAD": 0, "CONST": 1, "ADD": 2, "SUB": 3, "MUL": 4, "DIV": 5, "NEG": 6, "ABS": 7, "MIN": 8, "MAX": 9,
    "GT": 10, "GE": 11, "LT": 12, "LE": 13, "EQ": 14, "NE": 15, "AND": 16, "OR": 17, "NOT": 18,
}
OPNAMES = {v: k for k, v in OPCODES.items()}
_BINARY = {"+": "ADD", "-": "SUB", "*": "MUL", "/": "DIV", ">": "GT", ">=": "GE", "<": "LT", "<=": "LE",
           "==": "EQ", "!=": "NE", "and": "AND", "or": "OR"}
STACK_DEPTH = 64          # the VM's fixed stack
MAX_LAG = 10_000
MARKETS = ("spot", "usdm", "coinm")
DIRECTIONS = {"long": 1, "short": -1}
EVALUATE_ON = ("bar", "book", "trade")
BUILTINS = {
    "cross_above": "cross_above(a, b): a is above b now and was at or below it on the previous bar",
    "cross_below": "cross_below(a, b): a is below b now and was at or above it on the previous bar",
    "abs": "abs(x)", "min": "min(a, b)", "max": "max(a, b)",
}


# ------------------------------------------------------------------ the plan
@dataclass
class ExprStep:
    dst: int
    code: list[int]
    consts: list[float]
    text: str


@dataclass
class IndicatorStep:
    name: str
    params: dict
    inputs: list[int]
    out: int                  # first output register; outputs are consecutive
    outputs: tuple[str, ...]
    text: str


@dataclass
class LagStep:
    src: int
    dst: int
    bars: int
    text: str


@dataclass
class Clock:
    timeframe: Timeframe
    bar: int                               # register of "open"; BAR_FIELDS follow in order
    steps: list = field(default_factory=list)
    warmup: int = 0                        # bars before every value on this clock is known


@dataclass
class Term:
    text: str
    code: list[int]
    consts: list[float]


@dataclass
class RulePlan:
    id: str
    direction: int            # +1 long, -1 short
    weight: float
    text: str
    code: list[int]
    consts: list[float]
    terms: list[Term]
    reg: int                  # where the VM writes the condition's value
    description: str = ""


@dataclass
class LiveInput:
    reg: int
    feature: str              # e.g. "book.imbalance"
    arg: float                # levels or window seconds; 0 when the feature takes none


@dataclass
class Plan:
    name: str
    path: str
    spec: schema.StrategyFile
    registers: list[str]
    clocks: dict[int, Clock]             # by timeframe seconds; the driving one first
    driving: int
    rules: list[RulePlan]
    live: list[LiveInput]
    book_depth: int
    flow_windows: list[float]
    flow_bucket_s: float                  # time resolution of the flow windows
    atr_reg: int | None
    cooldown_bars: int
    cooldown_s: float
    thresholds: dict[int, float]          # direction -> minimum score

    @property
    def n_regs(self) -> int:
        return len(self.registers)

    @property
    def symbols(self) -> list[str]:
        return list(self.spec.inputs.symbols)

    @property
    def timeframes(self) -> list[Timeframe]:
        return [c.timeframe for c in self.clocks.values()]

    def warmup_bars(self, timeframe_s: int) -> int:
        return self.clocks[timeframe_s].warmup

    def uses_book(self) -> bool:
        return any(x.feature.startswith("book.") for x in self.live)

    def uses_flow(self) -> bool:
        return any(x.feature.startswith("flow.") for x in self.live)


# ------------------------------------------------------------------ compiling
@dataclass
class _Val:
    kind: str                  # "num" or "bool"
    code: list                 # (op name, arg) pairs; CONST args are the float itself
    key: str                   # structural identity, for sharing registers
    clocks: frozenset          # timeframe seconds of the bars it reads
    live: bool = False
    reg: int | None = None     # set when the value sits in a register
    warm: int = 0              # bars (on its clock) before it is known


class _Problem(Exception):
    """A compile error at a node; turned into a ConfigError with the file position."""

    def __init__(self, node: lang.Node | None, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.node, self.message, self.hint = node, message, hint


class _Compiler:
    def __init__(self, doc: Document, spec: schema.StrategyFile) -> None:
        self.doc, self.spec = doc, spec
        self.registers: list[str] = []
        self.clocks: dict[int, Clock] = {}
        self.cache: dict[str, _Val] = {}
        self.live: dict[str, LiveInput] = {}
        self.book_levels = 0
        self.flow_windows: set[float] = set()
        self.where: tuple = ()
        self.named_stack: list[str] = []
        self.named_trees: dict[str, lang.Node] = {}
        self.driving = self._timeframe(spec.inputs.timeframe, ("inputs", "timeframe"))
        self._clock(int(self.driving))

    # ---------------------------------------------------------- registers
    def _reg(self, name: str) -> int:
        self.registers.append(name)
        return len(self.registers) - 1

    def _clock(self, tf_s: int) -> Clock:
        clock = self.clocks.get(tf_s)
        if clock is None:
            tf = Timeframe(tf_s)
            base = len(self.registers)
            for f in BAR_FIELDS:
                self._reg(f"{f}@{tf.label}")
            clock = self.clocks[tf_s] = Clock(tf, base)
        return clock

    def _timeframe(self, text: str, path: tuple, node: lang.Node | None = None) -> Timeframe:
        try:
            return Timeframe.parse(str(text))
        except ValueError as exc:
            if node is not None:
                raise _Problem(node, str(exc)) from None
            raise self.doc.error(path, str(exc)) from None

    # ---------------------------------------------------------- expressions
    def parse(self, text: str, path: tuple) -> lang.Node:
        try:
            return lang.parse(text)
        except lang.SyntaxProblem as exc:
            raise self.doc.error_at(path, exc.offset, f"syntax error: {exc.message}", exc.hint) from None

    def compile(self, node: lang.Node, path: tuple, tf: int | None = None) -> _Val:
        self.where = path
        try:
            return self.value(node, int(self.driving) if tf is None else tf)
        except _Problem as p:
            offset = p.node.offset if p.node is not None else 0
            raise self.doc.error_at(self.where, offset, p.message, p.hint) from None

    def value(self, node: lang.Node, tf: int) -> _Val:
        if isinstance(node, lang.Number):
            return _Val("num", [("CONST", node.value)], repr(node.value), frozenset())
        if isinstance(node, lang.Bool):
            return _Val("bool", [("CONST", 1.0 if node.value else 0.0)], str(node.value), frozenset())
        if isinstance(node, lang.Duration):
            raise _Problem(node, f"a duration ({node.text}) only goes in a flow window or after '@'",
                           "e.g. flow.delta_ratio(10s) or close@1m")
        if isinstance(node, lang.Name):
            return self.name(node, tf)
        if isinstance(node, lang.Call):
            return self.call(node, tf)
        if isinstance(node, lang.Output):
            return self.output(node, tf)
        if isinstance(node, lang.Lag):
            base = self.value(node.base, tf)
            return self.lag(node, base, node.bars)
        if isinstance(node, lang.OnTimeframe):
            other = self._timeframe(node.timeframe, self.where, node)
            self._clock(int(other))
            return self.value(node.base, int(other))
        if isinstance(node, lang.Unary):
            operand = self.value(node.operand, tf)
            if node.op == "not":
                self._want(operand, "bool", node.operand, "'not'")
                return self._combine("bool", [operand], "NOT", f"not {operand.key}")
            self._want(operand, "num", node.operand, "'-'")
            return self._combine("num", [operand], "NEG", f"-{operand.key}")
        if isinstance(node, lang.Binary):
            left, right = self.value(node.left, tf), self.value(node.right, tf)
            if node.op in ("and", "or"):
                self._want(left, "bool", node.left, f"'{node.op}'")
                self._want(right, "bool", node.right, f"'{node.op}'")
                kind = "bool"
            else:
                self._want(left, "num", node.left, f"'{node.op}'")
                self._want(right, "num", node.right, f"'{node.op}'")
                kind = "num" if node.op in lang.ARITHMETIC else "bool"
            return self._combine(kind, [left, right], _BINARY[node.op], f"({left.key} {node.op} {right.key})")
        raise _Problem(node, f"cannot use {node.text!r} here")

    @staticmethod
    def _combine(kind: str, parts: list[_Val], op: str, key: str) -> _Val:
        code = [c for p in parts for c in p.code] + [(op, 0)]
        return _Val(kind, code, key, frozenset().union(*(p.clocks for p in parts)),
                    any(p.live for p in parts), None, max(p.warm for p in parts))

    @staticmethod
    def _want(val: _Val, kind: str, node: lang.Node, what: str) -> None:
        if val.kind != kind:
            if kind == "bool":
                raise _Problem(node, f"{what} needs a true/false condition, but {node.text!r} is a number",
                               f"compare it, e.g. {node.text} > 0")
            raise _Problem(node, f"{what} needs a number, but {node.text!r} is a true/false condition",
                           "arithmetic and comparisons work on numbers")

    # ---------------------------------------------------------- names
    def name(self, node: lang.Name, tf: int) -> _Val:
        n = node.name
        if n in BAR_FIELDS:
            clock = self._clock(tf)
            reg = clock.bar + BAR_FIELDS.index(n)
            return _Val("num", [("LOAD", reg)], f"{n}@{tf}", frozenset({tf}), reg=reg)
        if n in self.spec.indicators:
            return self.named(node, n, tf)
        if n in LIVE_FEATURES and not LIVE_FEATURES[n].arg:
            return self.live_feature(node, n, 0.0)
        spec = indicator_catalog.CATALOG.get(n)
        if spec is not None and not spec.series and all(p.default is not None for p in spec.params):
            return self.indicator(lang.Call(node.offset, node.text, name=n, args=[], name_offset=node.offset),
                                  spec, tf, 0)
        if n in LIVE_FEATURES or spec is not None or n in BUILTINS:
            raise _Problem(node, f"{n} needs arguments", f"write {self._signature(n)}")
        raise _Problem(node, f"unknown name {n!r}", self._suggest(n))

    def named(self, node: lang.Node, n: str, tf: int) -> _Val:
        if n in self.named_stack:
            cycle = " -> ".join(self.named_stack[self.named_stack.index(n):] + [n])
            raise _Problem(node, f"indicator {n!r} refers to itself ({cycle})")
        tree = self.named_trees.get(n)
        if tree is None:
            tree = self.named_trees[n] = self.parse(self.spec.indicators[n], ("indicators", n))
        saved = self.where
        self.named_stack.append(n)
        self.where = ("indicators", n)
        try:
            return self.value(tree, tf)
        except _Problem as p:   # point at the definition, not at the rule using it
            raise self.doc.error_at(("indicators", n), p.node.offset if p.node else 0, p.message, p.hint) from None
        finally:
            self.named_stack.pop()
            self.where = saved

    def _suggest(self, n: str) -> str:
        known = list(BAR_FIELDS) + list(self.spec.indicators) + list(indicator_catalog.CATALOG) + \
            list(BUILTINS) + list(LIVE_FEATURES)
        close = difflib.get_close_matches(n, known, n=3)
        if close:
            return f"did you mean {' or '.join(close)}?"
        return ("bar fields: " + ", ".join(BAR_FIELDS) + "; name your own under 'indicators:'; "
                "`barfinex rules list` shows every indicator and feature")

    @staticmethod
    def _signature(n: str) -> str:
        if n in BUILTINS:
            return BUILTINS[n].split(":")[0]
        if n in LIVE_FEATURES:
            arg = {"levels": "(10)", "window": "(10s)", "": ""}[LIVE_FEATURES[n].arg]
            return n + arg
        spec = indicator_catalog.CATALOG[n]
        return _indicator_signature(spec)

    # ---------------------------------------------------------- calls
    def call(self, node: lang.Call, tf: int, output: str | None = None, output_node=None) -> _Val:
        n = node.name
        if n in ("cross_above", "cross_below"):
            a, b = self._args(node, 2, tf)
            for v, arg in ((a, node.args[0]), (b, node.args[1])):
                self._want(v, "num", arg, n)
            pa, pb = self.lag(node.args[0], a, 1), self.lag(node.args[1], b, 1)
            now, before = ("GT", "LE") if n == "cross_above" else ("LT", "GE")
            code = a.code + b.code + [(now, 0)] + pa.code + pb.code + [(before, 0), ("AND", 0)]
            return _Val("bool", code, f"{n}({a.key},{b.key})", a.clocks | b.clocks, False, None,
                        max(a.warm, b.warm) + 1)
        if n == "abs":
            (x,) = self._args(node, 1, tf)
            self._want(x, "num", node.args[0], "abs")
            return self._combine("num", [x], "ABS", f"abs({x.key})")
        if n in ("min", "max"):
            a, b = self._args(node, 2, tf)
            self._want(a, "num", node.args[0], n)
            self._want(b, "num", node.args[1], n)
            return self._combine("num", [a, b], n.upper(), f"{n}({a.key},{b.key})")
        if n in LIVE_FEATURES:
            return self.live_call(node)
        spec = indicator_catalog.CATALOG.get(n)
        if spec is None:
            if n in self.spec.indicators:
                raise _Problem(node, f"{n} is a named indicator: use it without arguments",
                               f"write {n}, or define another name for other parameters")
            raise _Problem(node, f"unknown function {n!r}", self._suggest(n))
        index = 0
        if output is not None:
            if output not in spec.outputs:
                raise _Problem(output_node, f"{n} has no output {output!r}",
                               f"its outputs are: {', '.join(spec.outputs)}")
            index = spec.outputs.index(output)
        return self.indicator(node, spec, tf, index)

    def _args(self, node: lang.Call, count: int, tf: int) -> list[_Val]:
        if len(node.args) != count:
            raise _Problem(node, f"{node.name} takes {count} argument{'s' * (count > 1)}, got {len(node.args)}",
                           f"write {self._signature(node.name)}")
        return [self.value(a, tf) for a in node.args]

    def output(self, node: lang.Output, tf: int) -> _Val:
        base = node.base
        while isinstance(base, lang.OnTimeframe):
            tf = int(self._timeframe(base.timeframe, self.where, base))
            self._clock(tf)
            base = base.base
        if isinstance(base, lang.Name) and base.name in self.spec.indicators:
            # bands.lower, with bands: bollinger(close, 20, 2)
            tree = self.named_trees.get(base.name) or self.parse(self.spec.indicators[base.name],
                                                                 ("indicators", base.name))
            self.named_trees[base.name] = tree
            while isinstance(tree, lang.OnTimeframe):
                tf = int(self._timeframe(tree.timeframe, ("indicators", base.name), tree))
                self._clock(tf)
                tree = tree.base
            if isinstance(tree, lang.Call) and tree.name in indicator_catalog.CATALOG:
                saved, self.where = self.where, ("indicators", base.name)
                try:
                    spec = indicator_catalog.CATALOG[tree.name]
                    if node.name not in spec.outputs:
                        raise _Problem(node, f"{base.name} ({tree.name}) has no output {node.name!r}",
                                       f"its outputs are: {', '.join(spec.outputs)}")
                    return self.call(tree, tf, node.name, node)
                finally:
                    self.where = saved
        if isinstance(base, lang.Name) and base.name in indicator_catalog.CATALOG:
            base = lang.Call(base.offset, base.text, name=base.name, args=[], name_offset=base.offset)
        if not isinstance(base, lang.Call) or base.name not in indicator_catalog.CATALOG:
            raise _Problem(node, f"'.{node.name}' picks an output of an indicator, e.g. macd(close).hist")
        return self.call(base, tf, node.name, node)

    def indicator(self, node: lang.Call, spec, tf: int, index: int) -> _Val:
        nseries = len(spec.series)
        if len(node.args) < nseries or len(node.args) > nseries + len(spec.params):
            raise _Problem(node, f"{spec.name} takes {nseries} input{'s' * (nseries != 1)} and up to "
                                 f"{len(spec.params)} parameter{'s' * (len(spec.params) != 1)}, "
                                 f"got {len(node.args)} argument{'s' * (len(node.args) != 1)}",
                           f"write {_indicator_signature(spec)}")
        series = [self.value(a, tf) for a in node.args[:nseries]]
        for v, arg in zip(series, node.args):
            self._want(v, "num", arg, f"{spec.name}'s input")
        params = {}
        for p, arg in zip(spec.params, node.args[nseries:]):
            params[p.name] = self._param(spec, p, arg)
        for p in spec.params[len(node.args) - nseries:]:
            if p.default is None:
                raise _Problem(node, f"{spec.name} needs its {p.name} parameter",
                               f"write {_indicator_signature(spec)}")
            params[p.name] = p.default
        clocks = frozenset().union(*(v.clocks for v in series)) if series else frozenset({tf})
        if len(clocks) > 1:
            raise _Problem(node, f"{spec.name}'s inputs come from several timeframes "
                                 f"({', '.join(Timeframe(c).label for c in sorted(clocks))})",
                           "an indicator updates on one timeframe's bars: use one timeframe for all its inputs")
        if any(v.live for v in series):
            raise _Problem(node, f"{spec.name} cannot take book.* or flow.* as input: they are read live, "
                                 "not per bar", "compare them in the rule directly")
        clock_tf = next(iter(clocks)) if clocks else tf
        clock = self._clock(clock_tf)
        regs = [self.materialise(v, a)[0] for v, a in zip(series, node.args)]
        regs += [clock.bar + BAR_FIELDS.index(f) for f in spec.bar_inputs]
        key = f"{spec.name}{sorted(params.items())}({','.join(v.key for v in series)})@{clock_tf}"
        # an input first known on bar w feeds the indicator from that bar on
        warm = max(0, max((v.warm for v in series), default=0) - 1) + spec.warmup(params)
        first = self.cache.get(key)
        if first is None:
            try:
                params = spec.resolve(params)
            except ValueError as exc:
                raise _Problem(node, str(exc), f"write {_indicator_signature(spec)}") from None
            out = len(self.registers)
            for o in spec.outputs:
                self._reg(f"{node.text}.{o}" if len(spec.outputs) > 1 else node.text)
            clock.steps.append(IndicatorStep(spec.name, params, regs, out, spec.outputs, node.text))
            clock.warmup = max(clock.warmup, warm)
            first = self.cache[key] = _Val("num", [], key, frozenset({clock_tf}), reg=out, warm=warm)
        reg = first.reg + index
        return _Val("num", [("LOAD", reg)], f"{key}.{index}", frozenset({clock_tf}), reg=reg, warm=warm)

    def _param(self, spec, p, arg: lang.Node):
        value = _constant(arg)
        if value is None:
            raise _Problem(arg, f"{spec.name}'s {p.name} must be a number written in the rule, not {arg.text!r}",
                           f"write {_indicator_signature(spec)}")
        if p.kind is int:
            if value != int(value):
                raise _Problem(arg, f"{spec.name}'s {p.name} is a whole number of bars, not {arg.text}")
            value = int(value)
        if value < p.min or (p.max is not None and value > p.max):
            rng = f">= {p.min:g}" if p.max is None else f"between {p.min:g} and {p.max:g}"
            raise _Problem(arg, f"{spec.name}'s {p.name} must be {rng}, got {arg.text}")
        return value

    # ---------------------------------------------------------- registers for values
    def materialise(self, val: _Val, node: lang.Node) -> tuple[int, int]:
        """Put ``val`` in a register updated on its clock; (register, clock tf)."""
        if val.live:
            raise _Problem(node, f"{node.text!r} reads book.* or flow.* live: it has no per-bar history",
                           "lags, crosses and indicators need a per-bar value")
        clock_tf = next(iter(val.clocks)) if len(val.clocks) == 1 else int(self.driving)
        if val.reg is not None:
            return val.reg, clock_tf
        known = self.cache.get("=" + val.key)
        if known is not None:
            return known.reg, clock_tf
        code, consts = _assemble(val.code)
        reg = self._reg(node.text)
        clock = self._clock(clock_tf)
        clock.steps.append(ExprStep(reg, code, consts, node.text))
        self.cache["=" + val.key] = _Val(val.kind, [], val.key, val.clocks, reg=reg, warm=val.warm)
        return reg, clock_tf

    def lag(self, node: lang.Node, base: _Val, bars: int) -> _Val:
        if bars > MAX_LAG:
            raise _Problem(node, f"a lag of {bars} bars is more than the {MAX_LAG} kept")
        src, clock_tf = self.materialise(base, node if not isinstance(node, lang.Lag) else node.base)
        key = f"{base.key}[{bars}]"
        known = self.cache.get(key)
        if known is None:
            dst = self._reg(f"{getattr(node, 'text', base.key)}" if isinstance(node, lang.Lag)
                            else f"{node.text}[{bars}]")
            clock = self._clock(clock_tf)
            clock.steps.append(LagStep(src, dst, bars, self.registers[dst]))
            clock.warmup = max(clock.warmup, base.warm + bars)
            known = self.cache[key] = _Val(base.kind, [], key, frozenset({clock_tf}), reg=dst,
                                           warm=base.warm + bars)
        return _Val(base.kind, [("LOAD", known.reg)], key, known.clocks, reg=known.reg, warm=known.warm)

    # ---------------------------------------------------------- live features
    def live_call(self, node: lang.Call) -> _Val:
        feat = LIVE_FEATURES[node.name]
        if not feat.arg:
            if node.args:
                raise _Problem(node, f"{node.name} takes no argument", f"write {node.name}")
            return self.live_feature(node, node.name, 0.0)
        if len(node.args) != 1:
            raise _Problem(node, f"{node.name} takes one argument", f"write {self._signature(node.name)}")
        arg = node.args[0]
        if feat.arg == "window":
            if not isinstance(arg, lang.Duration):
                raise _Problem(arg, f"{node.name} takes a time window, not {arg.text!r}",
                               f"write {self._signature(node.name)}")
            if arg.seconds <= 0:
                raise _Problem(arg, "a flow window must be longer than zero")
            self.flow_windows.add(arg.seconds)
            return self.live_feature(node, node.name, arg.seconds)
        levels = _constant(arg)
        if levels is None or levels != int(levels) or not 1 <= levels <= MAX_BOOK_LEVELS:
            raise _Problem(arg, f"{node.name} takes a number of levels from 1 to {MAX_BOOK_LEVELS}, "
                                f"not {arg.text!r}", f"write {self._signature(node.name)}")
        declared = self.spec.inputs.book.depth if self.spec.inputs.book else 0
        if declared and levels > declared:
            raise _Problem(arg, f"{node.name}({int(levels)}) reads {int(levels)} levels but inputs.book.depth "
                                f"is {declared}", f"raise inputs.book.depth to at least {int(levels)}")
        self.book_levels = max(self.book_levels, int(levels))
        return self.live_feature(node, node.name, float(levels))

    def live_feature(self, node: lang.Node, name: str, arg: float) -> _Val:
        if name.startswith("book."):
            self.book_levels = max(self.book_levels, 1)
        key = f"{name}({arg:g})"
        x = self.live.get(key)
        if x is None:
            x = self.live[key] = LiveInput(self._reg(node.text), name, arg)
        return _Val("num", [("LOAD", x.reg)], key, frozenset(), live=True, reg=x.reg)


def _constant(node: lang.Node) -> float | None:
    if isinstance(node, lang.Number):
        return node.value
    if isinstance(node, lang.Unary) and node.op == "-" and isinstance(node.operand, lang.Number):
        return -node.operand.value
    return None


def _indicator_signature(spec) -> str:
    parts = list(spec.series) + [p.name if p.default is None else f"{p.name}={p.default:g}" for p in spec.params]
    return f"{spec.name}({', '.join(parts)})"


def _assemble(pairs: list) -> tuple[list[int], list[float]]:
    code, index = [], {}
    for op, arg in pairs:
        if op == "CONST":          # constants come from the text: never NaN, so a dict dedups them
            arg = index.setdefault(arg, len(index))
        code += [OPCODES[op], int(arg)]
    return code, list(index)


def _stack_depth(code: list[int]) -> int:
    depth = peak = 0
    for i in range(0, len(code), 2):
        op = OPNAMES[code[i]]
        if op in ("LOAD", "CONST"):
            depth += 1
        elif op not in ("NEG", "ABS", "NOT"):
            depth -= 1
        peak = max(peak, depth)
    return peak


def _comparison_terms(node: lang.Node) -> list[lang.Node]:
    """The operands a trader wants to see when a rule fires: both sides of
    every comparison and of every cross, walking through and/or/not."""
    if isinstance(node, lang.Binary) and node.op in ("and", "or"):
        return _comparison_terms(node.left) + _comparison_terms(node.right)
    if isinstance(node, lang.Unary) and node.op == "not":
        return _comparison_terms(node.operand)
    if isinstance(node, lang.Binary) and node.op in lang.COMPARISONS:
        return [x for x in (node.left, node.right) if _constant(x) is None]
    if isinstance(node, lang.Call) and node.name in ("cross_above", "cross_below"):
        return [x for x in node.args if _constant(x) is None]
    return []


# ------------------------------------------------------------------ the whole file
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


def compile_document(doc: Document) -> Plan:
    spec = schema.read(doc)
    c = _Compiler(doc, spec)
    _check_header(doc, spec)

    for name in spec.indicators:
        if name in BAR_FIELDS or name in indicator_catalog.CATALOG or name in BUILTINS or "." in name \
                or not _NAME.fullmatch(name):
            raise doc.error(("indicators", name), f"{name!r} cannot name an indicator",
                            "pick a new name (not a bar field, function or indicator; letters, digits, _)",
                            key=True)
        c.compile(lang.Name(0, name, name=name), ("indicators", name))

    rules: list[RulePlan] = []
    seen: dict[str, int] = {}
    for i, rule in enumerate(spec.rules):
        path = ("rules", i)
        if not _NAME.fullmatch(rule.id):
            raise doc.error(path + ("id",), f"rule id {rule.id!r} must be letters, digits, _ - .")
        if rule.id in seen:
            raise doc.error(path + ("id",), f"duplicate rule id {rule.id!r}",
                            f"rule {seen[rule.id] + 1} already uses it")
        seen[rule.id] = i
        if rule.direction not in DIRECTIONS:
            raise doc.error(path + ("direction",), f"direction must be long or short, not {rule.direction!r}")
        if not rule.weight > 0 or math.isinf(rule.weight):
            raise doc.error(path + ("weight",), f"weight must be a positive number, got {rule.weight}")
        tree = c.parse(rule.when, path + ("when",))
        val = c.compile(tree, path + ("when",))
        if val.kind != "bool":
            raise doc.error_at(path + ("when",), 0, f"a rule's condition must be true or false, "
                                                    f"but {rule.when!r} is a number", f"compare it, e.g. {rule.when} > 0")
        if not val.clocks and not val.live:
            raise doc.error_at(path + ("when",), 0, "this condition reads no market data: it never changes",
                               "use bar fields, indicators, book.* or flow.*")
        code, consts = _assemble(val.code)
        if _stack_depth(code) > STACK_DEPTH:
            raise doc.error_at(path + ("when",), 0, "this condition is too deeply nested",
                               "name parts of it under 'indicators:'")
        terms = []
        for t in _comparison_terms(tree):
            tv = c.compile(t, path + ("when",))
            tcode, tconsts = _assemble(tv.code)
            terms.append(Term(t.text, tcode, tconsts))
        rules.append(RulePlan(rule.id, DIRECTIONS[rule.direction], float(rule.weight), rule.when, code,
                              consts, terms, c._reg(f"rule {rule.id}"), rule.description))
    if not rules:
        raise doc.error(("rules",), "a strategy needs at least one rule")

    thresholds = _thresholds(doc, spec, rules)
    atr_reg = _risk_atr(doc, spec, c)
    cooldown_bars, cooldown_s = _cooldown(doc, spec)
    flow_windows = set(c.flow_windows)
    bucket_s = 0.1
    if spec.inputs.flow is not None:
        try:
            bucket_s = lang.duration_seconds(spec.inputs.flow.bucket)
        except ValueError as exc:
            raise doc.error(("inputs", "flow", "bucket"), str(exc)) from None
        for j, w in enumerate(spec.inputs.flow.windows):
            try:
                flow_windows.add(lang.duration_seconds(w))
            except ValueError as exc:
                raise doc.error(("inputs", "flow", "windows", j), str(exc)) from None
        if spec.inputs.flow.large_notional < 0:
            raise doc.error(("inputs", "flow", "large_notional"), "large_notional must be >= 0")
    for w in flow_windows:
        ratio = w / bucket_s
        if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            raise doc.error(("inputs", "flow") if spec.inputs.flow else ("rules",),
                            f"flow window {w:g}s is not a whole number of {bucket_s:g}s buckets",
                            "use windows like 1s, 10s, 3m")
    book_depth = c.book_levels
    if spec.inputs.book is not None:
        if not 0 <= spec.inputs.book.depth <= MAX_BOOK_LEVELS:
            raise doc.error(("inputs", "book", "depth"), f"depth must be 1..{MAX_BOOK_LEVELS}")
        book_depth = max(book_depth, spec.inputs.book.depth)
    if "book" in spec.evaluate_on and not book_depth:
        raise doc.error(("evaluate_on",), "evaluate_on has 'book' but no rule reads book.*",
                        "remove 'book' or use book.* in a rule")

    driving = int(c.driving)
    clocks = {driving: c.clocks[driving]}
    clocks.update((k, v) for k, v in sorted(c.clocks.items()) if k != driving)
    return Plan(spec.strategy, str(doc.path), spec, c.registers, clocks, driving, rules,
                list(c.live.values()), book_depth, sorted(flow_windows), bucket_s, atr_reg, cooldown_bars, cooldown_s,
                thresholds)


def _check_header(doc: Document, spec: schema.StrategyFile) -> None:
    if not _NAME.fullmatch(spec.strategy):
        raise doc.error(("strategy",), f"strategy name {spec.strategy!r} must be letters, digits, _ - .")
    if spec.inputs.market not in MARKETS:
        raise doc.error(("inputs", "market"), f"market must be one of {', '.join(MARKETS)}, "
                                              f"not {spec.inputs.market!r}")
    if not spec.inputs.symbols:
        raise doc.error(("inputs", "symbols"), "give at least one symbol, e.g. [BTCUSDT]")
    for j, s in enumerate(spec.inputs.symbols):
        if not re.fullmatch(r"[A-Z0-9_]{2,30}", s):
            raise doc.error(("inputs", "symbols", j), f"{s!r} is not an exchange symbol",
                            "symbols are upper case, as the exchange writes them: BTCUSDT")
    if not spec.inputs.connector:
        raise doc.error(("inputs", "connector"), "connector is empty", "e.g. binance")
    for j, e in enumerate(spec.evaluate_on):
        if e not in EVALUATE_ON:
            raise doc.error(("evaluate_on", j), f"evaluate_on takes {', '.join(EVALUATE_ON)}, not {e!r}")


def _thresholds(doc: Document, spec: schema.StrategyFile, rules: list[RulePlan]) -> dict[int, float]:
    out = {}
    for name, d in DIRECTIONS.items():
        th = getattr(spec.thresholds, name)
        total = sum(r.weight for r in rules if r.direction == d)
        if th is None:
            if total:
                raise doc.error(("thresholds",), f"there are {name} rules but no thresholds.{name}",
                                f"add {name}: <minimum score> under thresholds")
            continue
        if not th > 0:
            raise doc.error(("thresholds", name), f"thresholds.{name} must be a positive score, got {th}")
        if not total:
            raise doc.error(("thresholds", name), f"thresholds.{name} is set but no rule has direction {name}")
        if th > total + 1e-12:
            raise doc.error(("thresholds", name), f"thresholds.{name} is {th:g} but the {name} rules weigh "
                                                   f"{total:g} in all: it can never be reached",
                            f"lower it to at most {total:g} or add {name} rules")
        out[d] = float(th)
    if not out:
        raise doc.error(("thresholds",), "set thresholds.long and/or thresholds.short")
    return out


def _risk_atr(doc: Document, spec: schema.StrategyFile, c: _Compiler) -> int | None:
    stop, period = spec.stop, None
    if stop is not None:
        given = [k for k in ("percent", "atr") if getattr(stop, k) is not None]
        if len(given) != 1:
            raise doc.error(("stop",), "a stop is either {percent: X} or {atr: X}",
                            "e.g. stop: {atr: 1.5} or stop: {percent: 0.5}")
        if not getattr(stop, given[0]) > 0:
            raise doc.error(("stop", given[0]), f"stop {given[0]} must be positive")
        if stop.atr is not None:
            period = stop.period
    for j, t in enumerate(spec.targets):
        given = [k for k in ("r", "percent", "atr") if getattr(t, k) is not None]
        if len(given) != 1:
            raise doc.error(("targets", j), "a target is one of {r: X}, {percent: X}, {atr: X}")
        if not getattr(t, given[0]) > 0:
            raise doc.error(("targets", j, given[0]), f"target {given[0]} must be positive")
        if t.r is not None and stop is None:
            raise doc.error(("targets", j, "r"), "an R-multiple target needs a stop", "add stop: {atr: 1.5}")
        if t.atr is not None and period is None:
            period = stop.period if stop is not None else 14
    if period is None:
        return None
    if not 1 <= period <= 10_000:
        raise doc.error(("stop", "period"), "the ATR period must be 1..10000 bars")
    node = lang.Call(0, f"atr({period})", name="atr", args=[lang.Number(0, str(period), value=float(period))])
    return c.compile(node, ("stop",)).reg


def _cooldown(doc: Document, spec: schema.StrategyFile) -> tuple[int, float]:
    if spec.cooldown is None:
        return 0, 0.0
    text = spec.cooldown.strip()
    m = re.fullmatch(r"(\d+)\s*bars?", text)
    if m:
        return int(m.group(1)), 0.0
    try:
        return 0, lang.duration_seconds(text)
    except ValueError:
        raise doc.error(("cooldown",), f"cooldown {text!r} is neither a duration nor a bar count",
                        "write e.g. 30s, 5m or '3 bars'") from None


def load(path: str | Path) -> Plan:
    """Load and compile one strategy file; ConfigError (file:line:col) on any problem."""
    return compile_document(load_yaml(path))


def explain(plan: Plan) -> str:
    """The compiled plan as a trader and an engineer can read it."""
    out = [f"strategy {plan.name} ({plan.path})",
           f"  symbols {', '.join(plan.symbols)} on {plan.spec.inputs.connector} {plan.spec.inputs.market}; "
           f"evaluated on every {Timeframe(plan.driving).label} bar"
           + (f" and on {', '.join(e for e in plan.spec.evaluate_on if e != 'bar')} updates"
              if set(plan.spec.evaluate_on) - {"bar"} else ""),
           f"  registers: {plan.n_regs} doubles"]
    if plan.book_depth:
        out.append(f"  order book: top {plan.book_depth} levels, read while VALID")
    if plan.flow_windows:
        out.append(f"  order flow windows: {', '.join(f'{w:g}s' for w in plan.flow_windows)}")
    for tf_s, clock in plan.clocks.items():
        out.append(f"  on each closed {clock.timeframe.label} bar (warm-up {clock.warmup} bars):")
        out.append(f"    r{clock.bar}..r{clock.bar + len(BAR_FIELDS) - 1} <- bar "
                   f"({', '.join(BAR_FIELDS)})")
        for s in clock.steps:
            if isinstance(s, IndicatorStep):
                ins = ", ".join(f"r{r}" for r in s.inputs)
                outs = f"r{s.out}" if len(s.outputs) == 1 else f"r{s.out}..r{s.out + len(s.outputs) - 1} " \
                                                               f"({', '.join(s.outputs)})"
                params = ", ".join(f"{k}={v:g}" for k, v in s.params.items())
                out.append(f"    {outs} <- {s.name}({ins}{', ' if params else ''}{params})   # {s.text}")
            elif isinstance(s, LagStep):
                out.append(f"    r{s.dst} <- r{s.src} {s.bars} bar{'s' * (s.bars > 1)} ago   # {s.text}")
            else:
                out.append(f"    r{s.dst} <- {disassemble(s.code, s.consts)}   # {s.text}")
    for x in plan.live:
        out.append(f"  r{x.reg} <- live {x.feature}" + (f"({x.arg:g})" if x.arg else ""))
    out.append("  rules:")
    for r in plan.rules:
        d = "long" if r.direction > 0 else "short"
        out.append(f"    {r.id}: {d} +{r.weight:g} when {r.text}   -> r{r.reg}")
        out.append(f"      {disassemble(r.code, r.consts)}")
    th = ", ".join(f"{'long' if d > 0 else 'short'} >= {v:g}" for d, v in plan.thresholds.items())
    out.append(f"  signal when the score reaches: {th}")
    if plan.cooldown_bars or plan.cooldown_s:
        out.append(f"  cooldown: {plan.cooldown_bars} bars" if plan.cooldown_bars
                   else f"  cooldown: {plan.cooldown_s:g}s")
    if plan.spec.stop is not None:
        s = plan.spec.stop
        out.append(f"  stop: {s.percent:g}% from entry" if s.percent is not None
                   else f"  stop: {s.atr:g} x atr({s.period})")
    for t in plan.spec.targets:
        out.append("  target: " + (f"{t.r:g}R" if t.r is not None else f"{t.percent:g}%" if t.percent is not None
                                   else f"{t.atr:g} x ATR"))
    return "\n".join(out)


def disassemble(code: list[int], consts: list[float]) -> str:
    parts = []
    for i in range(0, len(code), 2):
        op, arg = OPNAMES[code[i]], code[i + 1]
        parts.append(f"LOAD r{arg}" if op == "LOAD" else f"CONST {consts[arg]:g}" if op == "CONST" else op)
    return "; ".join(parts)


__all__ = ["ConfigError", "OPCODES", "Plan", "compile_document", "disassemble", "explain", "load"]

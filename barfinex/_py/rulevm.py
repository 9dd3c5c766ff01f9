"""Pure-Python twin of barfinex/_fast/rulevm.pyx: same API, same semantics.

See the Cython module for the design (registers, clocks, steps, three-valued
logic).
"""
from __future__ import annotations

import math

OPCODES = {
    "LOAD": 0, "CONST": 1, "ADD": 2, "SUB": 3, "MUL": 4, "DIV": 5, "NEG": 6, "ABS": 7, "MIN": 8, "MAX": 9,
    "GT": 10, "GE": 11, "LT": 12, "LE": 13, "EQ": 14, "NE": 15, "AND": 16, "OR": 17, "NOT": 18,
}
STACK = 64
N_BAR_FIELDS = 9
MAX_INPUTS = 8
NAN = math.nan
_isnan = math.isnan


def _effect(op):
    if op in (0, 1):
        return 1
    if op in (6, 7, 18):
        return 0
    return -1


def _cmp(a, b, result):
    if _isnan(a) or _isnan(b):
        return NAN
    return 1.0 if result else 0.0


def _binary(op, a, b):
    if op == 2:
        return a + b
    if op == 3:
        return a - b
    if op == 4:
        return a * b
    if op == 5:
        return a / b if b != 0.0 else NAN
    if op == 8:
        return NAN if _isnan(a) or _isnan(b) else (a if a < b else b)
    if op == 9:
        return NAN if _isnan(a) or _isnan(b) else (a if a > b else b)
    if op == 10:
        return _cmp(a, b, a > b)
    if op == 11:
        return _cmp(a, b, a >= b)
    if op == 12:
        return _cmp(a, b, a < b)
    if op == 13:
        return _cmp(a, b, a <= b)
    if op == 14:
        return _cmp(a, b, a == b)
    if op == 15:
        return _cmp(a, b, a != b)
    if op == 16:
        if a == 0.0 or b == 0.0:
            return 0.0
        return NAN if _isnan(a) or _isnan(b) else 1.0
    if a == 1.0 or b == 1.0:
        return 1.0
    return NAN if _isnan(a) or _isnan(b) else 0.0


def run_code(code, consts, regs):
    st = []
    for i in range(0, len(code), 2):
        op, arg = code[i], code[i + 1]
        if op == 0:
            st.append(regs[arg])
        elif op == 1:
            st.append(consts[arg])
        elif op == 6:
            st[-1] = -st[-1]
        elif op == 7:
            st[-1] = abs(st[-1])
        elif op == 18:
            if not _isnan(st[-1]):
                st[-1] = 1.0 - st[-1]
        else:
            b = st.pop()
            st[-1] = _binary(op, st[-1], b)
    return st[0]


def _check_reg(reg, n_regs, what):
    if reg < 0 or reg >= n_regs:
        raise ValueError(f"{what}: register {reg} outside 0..{n_regs - 1}")


class Step:
    def run(self, regs):
        pass


class ExprStep(Step):
    def __init__(self, code, consts, dst, n_regs):
        code, consts = [int(c) for c in code], [float(c) for c in consts]
        if not code or len(code) % 2:
            raise ValueError("a program is a non-empty list of (op, arg) pairs")
        if dst != -1:
            _check_reg(dst, n_regs, "program destination")
        depth = 0
        for i in range(len(code) // 2):
            op, arg = code[2 * i], code[2 * i + 1]
            if not 0 <= op <= 18:
                raise ValueError(f"instruction {i}: unknown opcode {op}")
            if op == 0:
                _check_reg(arg, n_regs, f"instruction {i}")
            elif op == 1 and not 0 <= arg < len(consts):
                raise ValueError(f"instruction {i}: constant {arg} outside 0..{len(consts) - 1}")
            depth += _effect(op)
            if depth < 1 or depth > STACK:
                raise ValueError(f"instruction {i}: stack depth {depth} outside 1..{STACK}")
        if depth != 1:
            raise ValueError(f"a program must leave one value, leaves {depth}")
        self.code, self.consts, self.dst = code, consts, dst

    def run(self, regs):
        regs[self.dst] = run_code(self.code, self.consts, regs)

    def value(self, machine):
        return run_code(self.code, self.consts, machine._regs)


class IndicatorStep(Step):
    def __init__(self, indicator, inputs, out, n_regs):
        inputs = [int(i) for i in inputs]
        if len(inputs) != indicator.n_in or len(inputs) > MAX_INPUTS:
            raise ValueError(f"{type(indicator).__name__} takes {indicator.n_in} inputs, got {len(inputs)}")
        for r in inputs:
            _check_reg(r, n_regs, "indicator input")
        _check_reg(out, n_regs, "indicator output")
        _check_reg(out + indicator.n_out - 1, n_regs, "indicator output")
        self.indicator, self.inputs, self.out = indicator, inputs, out
        self._n_out = indicator.n_out

    def run(self, regs):
        y = self.indicator.update(*[regs[i] for i in self.inputs])
        if self._n_out == 1:
            regs[self.out] = y
        else:
            regs[self.out:self.out + self._n_out] = y


class LagStep(Step):
    def __init__(self, src, dst, bars, n_regs):
        _check_reg(src, n_regs, "lag source")
        _check_reg(dst, n_regs, "lag destination")
        if bars < 1:
            raise ValueError("a lag is at least 1 bar")
        self.src, self.dst, self.bars = src, dst, bars
        self.reset()

    def reset(self):
        self._ring = [NAN] * self.bars
        self._pos = 0

    def run(self, regs):
        now = regs[self.src]
        regs[self.dst] = self._ring[self._pos]
        self._ring[self._pos] = now
        self._pos = (self._pos + 1) % self.bars


class Machine:
    def __init__(self, n_regs):
        if n_regs < 1:
            raise ValueError("a machine needs at least one register")
        self.n_regs = n_regs
        self._clocks, self._bar_regs, self._rules = [], [], []
        self._rule_meta = []
        self.bars_seen = 0
        self.evaluations = 0
        self.reset()

    def reset(self):
        self._regs = [NAN] * self.n_regs
        for steps in self._clocks:
            for s in steps:
                if isinstance(s, IndicatorStep):
                    s.indicator.reset()
                elif isinstance(s, LagStep):
                    s.reset()
        self.long_score = self.short_score = 0.0

    def add_clock(self, bar_reg, steps):
        _check_reg(bar_reg, self.n_regs, "bar")
        _check_reg(bar_reg + N_BAR_FIELDS - 1, self.n_regs, "bar")
        steps = list(steps)
        for s in steps:
            if not isinstance(s, Step):
                raise TypeError(f"not a step: {s!r}")
        self._clocks.append(steps)
        self._bar_regs.append(bar_reg)
        return len(self._clocks) - 1

    def add_rule(self, program, direction, weight):
        if program.dst < 0:
            raise ValueError("a rule program needs a destination register")
        if direction not in (1, -1):
            raise ValueError("direction is +1 (long) or -1 (short)")
        if not weight > 0:
            raise ValueError("a rule's weight is positive")
        self._rules.append(program)
        self._rule_meta.append((program.dst, direction, float(weight)))
        return len(self._rules) - 1

    def bar(self, clock, open, high, low, close, volume, quote_volume, trades, taker_buy_volume, vwap):
        if clock < 0 or clock >= len(self._clocks):
            raise IndexError(f"no clock {clock}; this machine has {len(self._clocks)}")
        b = self._bar_regs[clock]
        r = self._regs
        r[b:b + N_BAR_FIELDS] = [float(open), float(high), float(low), float(close), float(volume),
                                 float(quote_volume), float(trades), float(taker_buy_volume), float(vwap)]
        for s in self._clocks[clock]:
            s.run(r)
        self.bars_seen += 1

    def evaluate(self):
        r = self._regs
        for s in self._rules:
            s.run(r)
        fired, longs, shorts = 0, 0.0, 0.0
        for dst, direction, weight in self._rule_meta:
            if r[dst] == 1.0:
                fired += 1
                if direction > 0:
                    longs += weight
                else:
                    shorts += weight
        self.long_score, self.short_score = longs, shorts
        self.evaluations += 1
        return fired

    def run_batch(self, clock, bars):
        import numpy as np
        bars = np.asarray(bars, dtype=np.float64)
        if bars.ndim != 2 or bars.shape[1] != N_BAR_FIELDS:
            raise ValueError(f"bars must have {N_BAR_FIELDS} columns, got {bars.shape[-1]}")
        longs, shorts = np.empty(len(bars)), np.empty(len(bars))
        for i, row in enumerate(bars.tolist()):
            self.bar(clock, *row)
            self.bars_seen -= 1
            self.evaluate()
            longs[i], shorts[i] = self.long_score, self.short_score
        self.bars_seen += len(bars)
        return longs, shorts

    def fired(self):
        return [i for i, (dst, _, _) in enumerate(self._rule_meta) if self._regs[dst] == 1.0]

    def get(self, reg):
        _check_reg(reg, self.n_regs, "get")
        return self._regs[reg]

    def set(self, reg, value):
        _check_reg(reg, self.n_regs, "set")
        self._regs[reg] = float(value)

    def registers(self):
        return list(self._regs)

# cython: language_level=3
"""The rule VM: compiled strategies evaluated on raw doubles.

barfinex.rules.compiler turns a strategy file into registers, steps and rule
programs; barfinex.rules.engine builds a Machine from them. Per closed bar the
Machine writes the bar into its clock's registers, runs that clock's steps
(indicator updates through the cdef vtable, lags, materialised expressions),
and evaluate() runs every rule program and sums the weights of the rules that
fired per direction. Nothing in the per-bar path touches a Python object but
the step lists themselves.

Logic is three-valued: a comparison with a NaN operand is NaN ("unknown"),
``and`` is false if either side is false, else unknown if either is unknown;
``or`` mirrors it; a rule fires only when its value is exactly 1.
"""
from libc.math cimport NAN, isnan, fabs
from libc.stdlib cimport malloc, free
from libc.string cimport memset

from barfinex._fast.indicators cimport Indicator

OPCODES = {
    "LOAD": OP_LOAD, "CONST": OP_CONST, "ADD": OP_ADD, "SUB": OP_SUB, "MUL": OP_MUL, "DIV": OP_DIV,
    "NEG": OP_NEG, "ABS": OP_ABS, "MIN": OP_MIN, "MAX": OP_MAX, "GT": OP_GT, "GE": OP_GE, "LT": OP_LT,
    "LE": OP_LE, "EQ": OP_EQ, "NE": OP_NE, "AND": OP_AND, "OR": OP_OR, "NOT": OP_NOT,
}
STACK = STACK_MAX
cdef enum:
    N_BAR_C = 9          # bar fields per clock: open high low close volume quote_volume trades taker_buy_volume vwap
N_BAR_FIELDS = N_BAR_C

# stack effect of each opcode: pushes 1, binary pops 1 net, unary 0
cdef int _effect(int op) noexcept:
    if op == OP_LOAD or op == OP_CONST:
        return 1
    if op == OP_NEG or op == OP_ABS or op == OP_NOT:
        return 0
    return -1


cdef inline double _cmp(double a, double b, bint result) noexcept:
    if isnan(a) or isnan(b):
        return NAN
    return 1.0 if result else 0.0


cdef double run_code(const int* code, int n, const double* consts, const double* regs) noexcept:
    cdef double st[STACK_MAX]
    cdef int sp = -1
    cdef int i, op, arg
    cdef double a, b
    for i in range(n):
        op = code[2 * i]
        arg = code[2 * i + 1]
        if op == OP_LOAD:
            sp += 1
            st[sp] = regs[arg]
        elif op == OP_CONST:
            sp += 1
            st[sp] = consts[arg]
        elif op == OP_NEG:
            st[sp] = -st[sp]
        elif op == OP_ABS:
            st[sp] = fabs(st[sp])
        elif op == OP_NOT:
            if not isnan(st[sp]):
                st[sp] = 1.0 - st[sp]
        else:
            b = st[sp]
            sp -= 1
            a = st[sp]
            if op == OP_ADD:
                st[sp] = a + b
            elif op == OP_SUB:
                st[sp] = a - b
            elif op == OP_MUL:
                st[sp] = a * b
            elif op == OP_DIV:
                st[sp] = a / b if b != 0.0 else NAN
            elif op == OP_MIN:
                st[sp] = NAN if isnan(a) or isnan(b) else (a if a < b else b)
            elif op == OP_MAX:
                st[sp] = NAN if isnan(a) or isnan(b) else (a if a > b else b)
            elif op == OP_GT:
                st[sp] = _cmp(a, b, a > b)
            elif op == OP_GE:
                st[sp] = _cmp(a, b, a >= b)
            elif op == OP_LT:
                st[sp] = _cmp(a, b, a < b)
            elif op == OP_LE:
                st[sp] = _cmp(a, b, a <= b)
            elif op == OP_EQ:
                st[sp] = _cmp(a, b, a == b)
            elif op == OP_NE:
                st[sp] = _cmp(a, b, a != b)
            elif op == OP_AND:
                if a == 0.0 or b == 0.0:
                    st[sp] = 0.0
                elif isnan(a) or isnan(b):
                    st[sp] = NAN
                else:
                    st[sp] = 1.0
            else:  # OP_OR
                if a == 1.0 or b == 1.0:
                    st[sp] = 1.0
                elif isnan(a) or isnan(b):
                    st[sp] = NAN
                else:
                    st[sp] = 0.0
    return st[0]


def _check_reg(int reg, int n_regs, str what):
    if reg < 0 or reg >= n_regs:
        raise ValueError(f"{what}: register {reg} outside 0..{n_regs - 1}")


cdef class Step:
    cdef void run(self, double* regs) noexcept:
        pass


cdef class ExprStep(Step):
    """One program: (op, arg) pairs over registers and constants."""

    def __cinit__(self, code, consts, int dst, int n_regs):
        cdef Py_ssize_t i
        cdef int depth = 0, op, arg
        code = list(code)
        consts = list(consts)
        if not code or len(code) % 2:
            raise ValueError("a program is a non-empty list of (op, arg) pairs")
        if dst != -1:
            _check_reg(dst, n_regs, "program destination")
        self.n = len(code) // 2
        self.code = <int*>malloc(len(code) * sizeof(int))
        self.consts = <double*>malloc((len(consts) + 1) * sizeof(double))
        if self.code == NULL or self.consts == NULL:
            raise MemoryError()
        for i in range(len(consts)):
            self.consts[i] = consts[i]
        for i in range(self.n):
            op, arg = code[2 * i], code[2 * i + 1]
            if op < OP_LOAD or op > OP_NOT:
                raise ValueError(f"instruction {i}: unknown opcode {op}")
            if op == OP_LOAD:
                _check_reg(arg, n_regs, f"instruction {i}")
            elif op == OP_CONST and not 0 <= arg < len(consts):
                raise ValueError(f"instruction {i}: constant {arg} outside 0..{len(consts) - 1}")
            depth += _effect(op)
            if depth < 1 or depth > STACK_MAX:
                raise ValueError(f"instruction {i}: stack depth {depth} outside 1..{STACK_MAX}")
            self.code[2 * i] = op
            self.code[2 * i + 1] = arg
        if depth != 1:
            raise ValueError(f"a program must leave one value, leaves {depth}")
        self.dst = dst

    def __dealloc__(self):
        free(self.code)
        free(self.consts)

    cdef void run(self, double* regs) noexcept:
        regs[self.dst] = run_code(self.code, self.n, self.consts, regs)

    def value(self, Machine machine):
        """Evaluate on a machine's registers without storing (attribution terms)."""
        return run_code(self.code, self.n, self.consts, machine.regs)


cdef class IndicatorStep(Step):
    """Gathers the input registers and steps an indicator into consecutive outputs."""

    def __cinit__(self, Indicator indicator, inputs, int out, int n_regs):
        cdef int i
        inputs = list(inputs)
        if len(inputs) != indicator.n_in or len(inputs) > MAX_INPUTS:
            raise ValueError(f"{type(indicator).__name__} takes {indicator.n_in} inputs, got {len(inputs)}")
        for i in range(len(inputs)):
            _check_reg(inputs[i], n_regs, "indicator input")
            self.inputs[i] = inputs[i]
        _check_reg(out, n_regs, "indicator output")
        _check_reg(out + indicator.n_out - 1, n_regs, "indicator output")
        self.indicator, self.n_in, self.out = indicator, len(inputs), out

    cdef void run(self, double* regs) noexcept:
        cdef int i
        for i in range(self.n_in):
            self.x[i] = regs[self.inputs[i]]
        self.indicator.step_c(self.x, regs + self.out)


cdef class LagStep(Step):
    """dst <- src as it was ``bars`` steps ago (NaN until then)."""

    def __cinit__(self, int src, int dst, int bars, int n_regs):
        cdef int i
        _check_reg(src, n_regs, "lag source")
        _check_reg(dst, n_regs, "lag destination")
        if bars < 1:
            raise ValueError("a lag is at least 1 bar")
        self.ring = <double*>malloc(bars * sizeof(double))
        if self.ring == NULL:
            raise MemoryError()
        self.src, self.dst, self.bars = src, dst, bars
        self.reset()

    def __dealloc__(self):
        free(self.ring)

    def reset(self):
        cdef int i
        for i in range(self.bars):
            self.ring[i] = NAN
        self.pos = 0

    cdef void run(self, double* regs) noexcept:
        cdef double now = regs[self.src]
        regs[self.dst] = self.ring[self.pos]
        self.ring[self.pos] = now
        self.pos += 1
        if self.pos == self.bars:
            self.pos = 0


cdef class Machine:
    """One strategy on one symbol: registers, clocks and rules."""

    def __cinit__(self, int n_regs):
        if n_regs < 1:
            raise ValueError("a machine needs at least one register")
        self.regs = <double*>malloc(n_regs * sizeof(double))
        if self.regs == NULL:
            raise MemoryError()
        self.n_regs = n_regs
        self.clocks, self.bar_regs, self.rules = [], [], []
        self.rule_dst = NULL
        self.rule_dir = NULL
        self.rule_weight = NULL
        self.reset()

    def __dealloc__(self):
        free(self.regs)
        free(self.rule_dst)
        free(self.rule_dir)
        free(self.rule_weight)

    def reset(self):
        """Every register unknown, every indicator and lag back to empty."""
        cdef int i
        for i in range(self.n_regs):
            self.regs[i] = NAN
        for steps in self.clocks:
            for s in steps:
                if isinstance(s, IndicatorStep):
                    (<IndicatorStep>s).indicator.reset()
                elif isinstance(s, LagStep):
                    s.reset()
        self.long_score = self.short_score = 0.0

    def add_clock(self, int bar_reg, steps) -> int:
        """A timeframe: its nine bar registers start at ``bar_reg``; returns its index."""
        _check_reg(bar_reg, self.n_regs, "bar")
        _check_reg(bar_reg + N_BAR_FIELDS - 1, self.n_regs, "bar")
        steps = list(steps)
        for s in steps:
            if not isinstance(s, Step):
                raise TypeError(f"not a step: {s!r}")
        self.clocks.append(steps)
        self.bar_regs.append(bar_reg)
        return len(self.clocks) - 1

    def add_rule(self, ExprStep program, int direction, double weight) -> int:
        if program.dst < 0:
            raise ValueError("a rule program needs a destination register")
        if direction not in (1, -1):
            raise ValueError("direction is +1 (long) or -1 (short)")
        if not weight > 0:
            raise ValueError("a rule's weight is positive")
        n = self.n_rules + 1
        dst = <int*>malloc(n * sizeof(int))
        dr = <int*>malloc(n * sizeof(int))
        w = <double*>malloc(n * sizeof(double))
        if dst == NULL or dr == NULL or w == NULL:
            free(dst); free(dr); free(w)
            raise MemoryError()
        for i in range(self.n_rules):
            dst[i], dr[i], w[i] = self.rule_dst[i], self.rule_dir[i], self.rule_weight[i]
        dst[n - 1], dr[n - 1], w[n - 1] = program.dst, direction, weight
        free(self.rule_dst); free(self.rule_dir); free(self.rule_weight)
        self.rule_dst, self.rule_dir, self.rule_weight = dst, dr, w
        self.rules.append(program)
        self.n_rules = n
        return n - 1

    cpdef void bar(self, int clock, double open, double high, double low, double close, double volume,
                   double quote_volume, double trades, double taker_buy_volume, double vwap) except *:
        """A closed bar of clock ``clock``: write its fields, run its steps."""
        if clock < 0 or clock >= len(self.clocks):
            raise IndexError(f"no clock {clock}; this machine has {len(self.clocks)}")
        cdef int b = self.bar_regs[clock]
        cdef double* r = self.regs
        r[b] = open
        r[b + 1] = high
        r[b + 2] = low
        r[b + 3] = close
        r[b + 4] = volume
        r[b + 5] = quote_volume
        r[b + 6] = trades
        r[b + 7] = taker_buy_volume
        r[b + 8] = vwap
        for s in <list>self.clocks[clock]:
            (<Step>s).run(r)
        self.bars_seen += 1

    cpdef int evaluate(self) except -1:
        """Run every rule; sets long_score / short_score; returns how many fired."""
        cdef int i, fired = 0
        cdef double longs = 0.0, shorts = 0.0
        cdef double* r = self.regs
        for s in self.rules:
            (<Step>s).run(r)
        for i in range(self.n_rules):
            if r[self.rule_dst[i]] == 1.0:
                fired += 1
                if self.rule_dir[i] > 0:
                    longs += self.rule_weight[i]
                else:
                    shorts += self.rule_weight[i]
        self.long_score, self.short_score = longs, shorts
        self.evaluations += 1
        return fired

    def run_batch(self, int clock, bars):
        """Backtest door: each row of ``bars`` (n x 9 float64: the bar fields in
        order) is a closed bar of ``clock`` followed by evaluate(). Returns the
        (long, short) score of every bar as two arrays. One Python call for the
        whole run: the per-bar cost is the VM's alone."""
        import numpy as np
        cdef const double[:, ::1] b = np.ascontiguousarray(bars, dtype=np.float64)
        if b.shape[1] != N_BAR_C:
            raise ValueError(f"bars must have {N_BAR_FIELDS} columns, got {b.shape[1]}")
        if clock < 0 or clock >= len(self.clocks):
            raise IndexError(f"no clock {clock}; this machine has {len(self.clocks)}")
        cdef Py_ssize_t n = b.shape[0], i
        cdef int base = self.bar_regs[clock], k, j
        cdef list steps = self.clocks[clock]
        cdef list rules = self.rules
        cdef double* r = self.regs
        cdef double longs, shorts
        out = np.empty((2, n), dtype=np.float64)
        cdef double[:, ::1] o = out
        for i in range(n):
            for k in range(N_BAR_C):
                r[base + k] = b[i, k]
            for s in steps:
                (<Step>s).run(r)
            for s in rules:
                (<Step>s).run(r)
            longs = shorts = 0.0
            for j in range(self.n_rules):
                if r[self.rule_dst[j]] == 1.0:
                    if self.rule_dir[j] > 0:
                        longs += self.rule_weight[j]
                    else:
                        shorts += self.rule_weight[j]
            o[0, i] = longs
            o[1, i] = shorts
        self.long_score, self.short_score = longs if n else self.long_score, shorts if n else self.short_score
        self.bars_seen += n
        self.evaluations += n
        return out[0], out[1]

    def fired(self):
        """Indices of the rules that fired in the last evaluate()."""
        return [i for i in range(self.n_rules) if self.regs[self.rule_dst[i]] == 1.0]

    cpdef double get(self, int reg) except? -1:
        _check_reg(reg, self.n_regs, "get")
        return self.regs[reg]

    cpdef void set(self, int reg, double value) except *:
        _check_reg(reg, self.n_regs, "set")
        self.regs[reg] = value

    def registers(self):
        return [self.regs[i] for i in range(self.n_regs)]

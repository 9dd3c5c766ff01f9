# Contract of the rule VM (barfinex/_fast/rulevm.pyx).
#
# A strategy compiled by barfinex.rules.compiler runs here on one register
# file of doubles. Per timeframe ("clock") a list of steps runs when that
# timeframe's bar closes; rule programs run on evaluate(). Values are doubles:
# true/false are 1/0 and NaN is "not known yet" (three-valued logic).
#
# Checked doors: the constructors validate every register index, opcode,
# constant index and the stack depth of a program once, so run() never checks.
from barfinex._fast.indicators cimport Indicator

cdef enum:
    STACK_MAX = 64
    MAX_INPUTS = 8

cdef enum Op:
    OP_LOAD = 0
    OP_CONST = 1
    OP_ADD = 2
    OP_SUB = 3
    OP_MUL = 4
    OP_DIV = 5
    OP_NEG = 6
    OP_ABS = 7
    OP_MIN = 8
    OP_MAX = 9
    OP_GT = 10
    OP_GE = 11
    OP_LT = 12
    OP_LE = 13
    OP_EQ = 14
    OP_NE = 15
    OP_AND = 16
    OP_OR = 17
    OP_NOT = 18

cdef double run_code(const int* code, int n, const double* consts, const double* regs) noexcept

cdef class Step:
    cdef void run(self, double* regs) noexcept

cdef class ExprStep(Step):
    cdef int* code            # (op, arg) pairs
    cdef int n                # instructions
    cdef double* consts
    cdef readonly int dst     # register written; -1: value() only

cdef class IndicatorStep(Step):
    cdef readonly Indicator indicator
    cdef int n_in
    cdef int inputs[MAX_INPUTS]
    cdef double x[MAX_INPUTS]
    cdef readonly int out     # first output register

cdef class LagStep(Step):
    cdef readonly int src, dst, bars
    cdef double* ring
    cdef int pos

cdef class Machine:
    cdef double* regs
    cdef readonly int n_regs
    cdef list clocks          # per clock: list of Step
    cdef list bar_regs        # per clock: register of "open"
    cdef list rules           # ExprStep per rule
    cdef int n_rules
    cdef int* rule_dst
    cdef int* rule_dir        # +1 long, -1 short
    cdef double* rule_weight
    cdef readonly double long_score
    cdef readonly double short_score
    cdef readonly long long bars_seen
    cdef readonly long long evaluations

    cpdef void bar(self, int clock, double open, double high, double low, double close, double volume,
                   double quote_volume, double trades, double taker_buy_volume, double vwap) except *
    cpdef int evaluate(self) except -1
    cpdef double get(self, int reg) except? -1
    cpdef void set(self, int reg, double value) except *

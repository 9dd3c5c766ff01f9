"""The rule VM: the Cython machine and its pure-Python twin agree, on the
opcode table, on three-valued logic, and on random programs over random
registers (NaN included); the checked doors refuse bad programs alike."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barfinex import backend
from barfinex.rules.compiler import OPCODES

pytestmark = pytest.mark.parity

N_REGS = 6
NAN = math.nan


def vm(name):
    return backend.load("rulevm", name)


def run(mod, code, consts, regs):
    m = mod.Machine(N_REGS)
    for i, v in enumerate(regs):
        m.set(i, v)
    m.add_rule(mod.ExprStep(code, consts, N_REGS - 1, N_REGS), 1, 1.0)
    m.evaluate()
    return m.get(N_REGS - 1)


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_opcode_tables_agree():
    assert vm("fast").OPCODES == vm("py").OPCODES == OPCODES


@pytest.mark.parametrize("a", [0.0, 1.0, NAN])
@pytest.mark.parametrize("b", [0.0, 1.0, NAN])
def test_three_valued_logic(impl, a, b):
    mod = impl("rulevm")
    op = OPCODES
    and_ = run(mod, [op["LOAD"], 0, op["LOAD"], 1, op["AND"], 0], [], [a, b])
    or_ = run(mod, [op["LOAD"], 0, op["LOAD"], 1, op["OR"], 0], [], [a, b])
    not_ = run(mod, [op["LOAD"], 0, op["NOT"], 0], [], [a, b])
    expect_and = 0.0 if 0.0 in (a, b) else NAN if math.isnan(a) or math.isnan(b) else 1.0
    expect_or = 1.0 if 1.0 in (a, b) else NAN if math.isnan(a) or math.isnan(b) else 0.0
    assert same(and_, expect_and) and same(or_, expect_or)
    assert same(not_, NAN if math.isnan(a) else 1.0 - a)


def test_comparisons_with_unknowns_are_unknown_and_division_by_zero_is_nan(impl):
    mod, op = impl("rulevm"), OPCODES
    for name in ("GT", "GE", "LT", "LE", "EQ", "NE"):
        assert math.isnan(run(mod, [op["LOAD"], 0, op["CONST"], 0, op[name], 0], [1.0], [NAN]))
    assert run(mod, [op["LOAD"], 0, op["CONST"], 0, op["GT"], 0], [1.0], [2.0]) == 1.0
    assert math.isnan(run(mod, [op["CONST"], 0, op["LOAD"], 0, op["DIV"], 0], [1.0], [0.0]))
    assert math.isnan(run(mod, [op["CONST"], 0, op["LOAD"], 0, op["MIN"], 0], [1.0], [NAN]))


# Random well-formed programs: a tree of operations rendered to postfix.
_BINARY = ["ADD", "SUB", "MUL", "DIV", "MIN", "MAX", "GT", "GE", "LT", "LE", "EQ", "NE", "AND", "OR"]
_UNARY = ["NEG", "ABS", "NOT"]
_leaf = st.one_of(st.tuples(st.just("LOAD"), st.integers(0, N_REGS - 2)),
                  st.tuples(st.just("CONST"), st.integers(0, 2)))
_tree = st.recursive(_leaf, lambda kids: st.one_of(
    st.tuples(st.sampled_from(_UNARY), kids),
    st.tuples(st.sampled_from(_BINARY), kids, kids)), max_leaves=20)
_value = st.one_of(st.just(NAN), st.just(0.0), st.just(1.0), st.floats(-1e6, 1e6, allow_nan=False))


def _postfix(tree, out):
    if tree[0] in ("LOAD", "CONST"):
        out += [OPCODES[tree[0]], tree[1]]
    else:
        for kid in tree[1:]:
            _postfix(kid, out)
        out += [OPCODES[tree[0]], 0]
    return out


@settings(max_examples=300, deadline=None)
@given(tree=_tree, regs=st.lists(_value, min_size=N_REGS - 1, max_size=N_REGS - 1),
       consts=st.lists(_value, min_size=3, max_size=3))
def test_random_programs_agree(tree, regs, consts):
    code = _postfix(tree, [])
    assert same(run(vm("fast"), code, consts, regs), run(vm("py"), code, consts, regs))


@pytest.mark.parametrize("code, consts, words", [
    ([99, 0], [], "unknown opcode"),
    ([OPCODES["LOAD"], N_REGS], [], "register"),
    ([OPCODES["CONST"], 3], [1.0], "constant 3"),
    ([OPCODES["ADD"], 0], [], "stack depth"),
    ([OPCODES["LOAD"], 0, OPCODES["LOAD"], 0], [], "leave one value"),
    ([OPCODES["LOAD"]], [], "pairs"),
])
def test_checked_doors_refuse_bad_programs(impl, code, consts, words):
    mod = impl("rulevm")
    with pytest.raises(ValueError, match=words):
        mod.ExprStep(code, consts, 0, N_REGS)


def test_machine_checks_its_inputs(impl):
    mod = impl("rulevm")
    m = mod.Machine(N_REGS)
    with pytest.raises(ValueError):
        m.add_clock(N_REGS - 2, [])            # nine bar registers do not fit
    with pytest.raises(IndexError):
        m.bar(0, *[1.0] * 9)                   # no clock yet
    with pytest.raises(ValueError):
        m.get(N_REGS)
    with pytest.raises(ValueError):
        mod.LagStep(0, 1, 0, N_REGS)


def test_lag_and_indicator_steps(impl):
    mod, ind = impl("rulevm"), impl("indicators")
    n = 12
    m = mod.Machine(n)
    steps = [mod.IndicatorStep(ind.SMA(n=2), [3], 9, n), mod.LagStep(3, 10, 2, n)]
    m.add_clock(0, steps)
    seen = []
    for close in (10.0, 20.0, 30.0, 40.0):
        m.bar(0, close, close, close, close, 1.0, close, 1.0, 0.5, close)
        seen.append((m.get(9), m.get(10)))
    assert same(seen[0][0], NAN) and same(seen[0][1], NAN) and same(seen[1][1], NAN)
    assert seen[1][0] == 15.0 and seen[2] == (25.0, 10.0) and seen[3] == (35.0, 20.0)
    m.reset()
    assert math.isnan(m.get(9)) and math.isnan(m.get(3))

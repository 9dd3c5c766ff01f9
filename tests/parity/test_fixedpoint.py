"""Decimal strings to int64 fixed point: exact, and strict about bad text."""
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from barfinex import backend

pytestmark = pytest.mark.parity
fast, py = backend.load("fixedpoint", "fast"), backend.load("fixedpoint", "py")


@pytest.mark.parametrize("text, prec, want", [
    ("61800.30", 2, 6180030), ("0.014", 3, 14), ("0.000", 3, 0), ("12", 2, 1200),
    ("-1.5", 1, -15), ("1.50000000", 2, 150), (b"58710.20", 2, 5871020), (".5", 1, 5),
])
def test_parse(impl, text, prec, want):
    assert impl("fixedpoint").parse_fixed(text, prec) == want


@pytest.mark.parametrize("text, prec", [
    ("abc", 2), ("", 2), ("1.2.3", 2), ("1.234", 2), ("1e5", 2), ("-", 2), (".", 2),
    ("99999999999999999999", 0), ("9223372036854775807", 1), (" 1", 2), ("NaN", 2), ("١٢", 0),
])
def test_parse_rejects(impl, text, prec):
    with pytest.raises(ValueError, match="decimal"):
        impl("fixedpoint").parse_fixed(text, prec)


def test_rejects_non_string(impl):
    with pytest.raises(ValueError):
        impl("fixedpoint").parse_fixed(1.5, 2)


@settings(max_examples=400, deadline=None)
@given(st.decimals(min_value=-10**9, max_value=10**9, places=8, allow_nan=False), st.integers(0, 8))
def test_twins_agree_and_are_exact(d, prec):
    text = f"{d:f}"
    outcomes = []
    for mod in (fast, py):
        try:
            outcomes.append(mod.parse_fixed(text, prec))
        except ValueError:
            outcomes.append("error")
    assert outcomes[0] == outcomes[1]
    if outcomes[0] != "error":
        assert Decimal(outcomes[0]).scaleb(-prec) == d
        assert Decimal(fast.format_fixed(outcomes[0], prec)) == d
        assert fast.format_fixed(outcomes[0], prec) == py.format_fixed(outcomes[0], prec)


def test_parse_levels_whole_message(impl):
    mod = impl("fixedpoint")
    assert mod.parse_levels([["61800.30", "0.014"], ["61800.20", "0.000"]], 2, 3) == [(6180030, 14), (6180020, 0)]
    assert mod.parse_levels([], 2, 3) == []


@pytest.mark.parametrize("levels, fragment", [
    ([["1.00", "x"]], "level 0: qty 'x'"),
    ([["1.00", "1.000"], ["1.001", "1"]], "level 1: price '1.001'"),
    ([["1.00"]], "level 0: expected a [price, qty] pair"),
    ([[1.0, "1"]], "must be decimal strings"),
    ("nope", "expected a list"),
])
def test_parse_levels_names_the_bad_level(impl, levels, fragment):
    with pytest.raises(ValueError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        impl("fixedpoint").parse_levels(levels, 2, 3)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.decimals(0, 10**6, places=2), st.decimals(0, 10**4, places=3)), max_size=30))
def test_parse_levels_twins_agree(pairs):
    levels = [[f"{p:f}", f"{q:f}"] for p, q in pairs]
    assert fast.parse_levels(levels, 2, 3) == py.parse_levels(levels, 2, 3)

"""The strategy language: parsing, compiling, and errors that name file:line:col."""
from __future__ import annotations

import textwrap

import pytest

from barfinex.config import ConfigError
from barfinex.rules import explain, lang, load
from barfinex.rules.compiler import OPCODES, disassemble

pytestmark = pytest.mark.unit

GOOD = """\
strategy: t
inputs:
  market: usdm
  symbols: [BTCUSDT]
  timeframe: 5s
indicators:
  fast: ema(close, 9)
  slow: ema(close, 21)
rules:
  - id: cross
    when: cross_above(fast, slow)
    direction: long
    weight: 2
  - id: volume
    when: volume > 2 * sma(volume, 20)
    direction: long
thresholds: {long: 2}
"""


def write(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def error_of(tmp_path, text) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text))
    return info.value


# ---------------------------------------------------------------- parsing
def test_precedence_and_postfix():
    t = lang.parse("a + b * c > d and not e or f")
    assert isinstance(t, lang.Binary) and t.op == "or"
    assert t.left.op == "and" and t.left.right.op == "not"
    cmp = t.left.left
    assert cmp.op == ">" and cmp.left.op == "+" and cmp.left.right.op == "*"
    t = lang.parse("macd(close@1m, 12, 26, 9).hist[2]")
    assert isinstance(t, lang.Lag) and t.bars == 2
    assert isinstance(t.base, lang.Output) and t.base.name == "hist"
    assert isinstance(t.base.base.args[0], lang.OnTimeframe) and t.base.base.args[0].timeframe == "1m"
    t = lang.parse("flow.delta_ratio(10s) > 0.62")
    assert t.left.name == "flow.delta_ratio" and t.left.args[0].seconds == 10
    assert lang.parse("book.imbalance(10)").name == "book.imbalance"


@pytest.mark.parametrize("text, offset, words", [
    ("close > ", 8, "ends too early"),
    ("close >> 3", 7, "unexpected '>'"),
    ("a < b < c", 6, "do not chain"),
    ("close && open", 6, "unexpected character '&'"),
    ("ema(close, 9", 12, "expected ')'"),
    ("close[0]", 6, "whole number of bars >= 1"),
    ("close open", 6, "after a complete condition"),
    ("", 0, "empty"),
])
def test_syntax_errors_have_the_column(text, offset, words):
    with pytest.raises(lang.SyntaxProblem) as info:
        lang.parse(text)
    assert info.value.offset == offset and words in info.value.message


# ---------------------------------------------------------------- compiling
def test_a_good_file_compiles_and_explains(tmp_path):
    plan = load(write(tmp_path, GOOD))
    assert plan.name == "t" and plan.driving == 5 and len(plan.rules) == 2
    clock = plan.clocks[5]
    names = [type(s).__name__ for s in clock.steps]
    # ema 9, ema 21, their lags (for the cross), sma(volume, 20)
    assert names.count("IndicatorStep") == 3 and names.count("LagStep") == 2
    assert clock.warmup == 22                # ema(21) then one bar of history for the cross
    text = explain(plan)
    assert "ema(" in text and "cross_above(fast, slow)" in text and "LOAD r" in text
    assert disassemble([OPCODES["CONST"], 0, OPCODES["NEG"], 0], [2.0]) == "CONST 2; NEG"


def test_shared_subexpressions_share_registers(tmp_path):
    text = GOOD.replace("volume > 2 * sma(volume, 20)", "ema(close, 9) > ema(close, 21) and fast > slow")
    plan = load(write(tmp_path, text))
    assert sum(type(s).__name__ == "IndicatorStep" for s in plan.clocks[5].steps) == 2


def test_other_timeframes_get_their_own_clock(tmp_path):
    text = GOOD.replace("volume > 2 * sma(volume, 20)", "close > ema(close@1m, 5) and close@1m > close@1m[1]")
    plan = load(write(tmp_path, text))
    assert list(plan.clocks) == [5, 60]
    minute = plan.clocks[60]
    assert [type(s).__name__ for s in minute.steps] == ["IndicatorStep", "LagStep"]


@pytest.mark.parametrize("replace, line, col, words", [
    (("timeframe: 5s", "timeframe: 7s"), 5, 14, "unknown timeframe '7s'"),
    (("market: usdm", "market: perp"), 3, 11, "market must be one of spot, usdm, coinm"),
    (("    weight: 2\n", "    weight: 2\n    colour: red\n"), 14, 5, "unknown key 'colour'"),
    (("cross_above(fast, slow)", "cross_above(fast, slwo)"), 11, 29, "unknown name 'slwo'"),
    (("cross_above(fast, slow)", "emma(close, 3) > 1"), 11, 11, "unknown function 'emma'"),
    (("cross_above(fast, slow)", "close and volume"), 11, 11, "'and' needs a true/false condition"),
    (("cross_above(fast, slow)", "close + (open > 1) > 0"), 11, 20, "'+' needs a number"),
    (("cross_above(fast, slow)", "close"), 11, 11, "must be true or false"),
    (("cross_above(fast, slow)", "sma(close) > 1"), 11, 11, "needs its n parameter"),
    (("cross_above(fast, slow)", "sma(close, 0) > 1"), 11, 22, "n must be"),
    (("cross_above(fast, slow)", "sma(close, 2.5) > 1"), 11, 22, "whole number"),
    (("cross_above(fast, slow)", "sma(close, volume) > 1"), 11, 22, "must be a number written in the rule"),
    (("cross_above(fast, slow)", "sma(close - close@1m, 3) > 1"), 11, 11, "several timeframes"),
    (("cross_above(fast, slow)", "sma(book.mid, 3) > 1"), 11, 11, "cannot take book.* or flow.*"),
    (("cross_above(fast, slow)", "book.spread[1] > 1"), 11, 11, "no per-bar history"),
    (("cross_above(fast, slow)", "flow.delta_ratio(10) > 1"), 11, 28, "takes a time window"),
    (("cross_above(fast, slow)", "macd(close).colour > 1"), 11, 11, "no output 'colour'"),
    (("cross_above(fast, slow)", "1 > 0"), 11, 11, "reads no market data"),
    (("direction: long\n    weight: 2", "direction: up\n    weight: 2"), 12, 16, "long or short"),
    (("weight: 2", "weight: -1"), 13, 13, "positive"),
    (("thresholds: {long: 2}", "thresholds: {long: 5}"), 17, 20, "can never be reached"),
    (("thresholds: {long: 2}", "thresholds: {short: 1}"), 17, 13, "no thresholds.long"),
    (("id: volume", "id: cross"), 14, 9, "duplicate rule id 'cross'"),
    (("slow: ema(close, 21)", "slow: ema(fast2, 21)\n  fast2: slow + 1"), 9, 10, "refers to itself"),
])
def test_every_error_names_file_line_and_column(tmp_path, replace, line, col, words):
    old, new = replace
    assert old in GOOD
    err = error_of(tmp_path, GOOD.replace(old, new, 1))
    assert err.path.endswith("s.yaml")
    assert words in str(err), str(err)
    assert (err.line, err.col) == (line, col), str(err)


def test_errors_carry_a_hint(tmp_path):
    err = error_of(tmp_path, GOOD.replace("cross_above(fast, slow)", "cross_above(fast, slwo)"))
    assert "did you mean slow" in str(err)
    err = error_of(tmp_path, GOOD.replace("sma(volume, 20)", "sma(volume)"))
    assert "write sma(x, n)" in str(err)


def test_book_depth_must_cover_the_rules(tmp_path):
    text = GOOD.replace("  timeframe: 5s\n", "  timeframe: 5s\n  book: {depth: 5}\n").replace(
        "volume > 2 * sma(volume, 20)", "book.imbalance(20) > 1.2")
    err = error_of(tmp_path, text)
    assert "reads 20 levels but inputs.book.depth is 5" in str(err)
    plan = load(write(tmp_path, GOOD.replace("volume > 2 * sma(volume, 20)", "book.imbalance(20) > 1.2")))
    assert plan.book_depth == 20 and plan.uses_book()


def test_flow_windows_are_collected(tmp_path):
    text = GOOD.replace("volume > 2 * sma(volume, 20)", "flow.delta_ratio(10s) > 0.6 and flow.delta(3m) > 0")
    plan = load(write(tmp_path, text))
    assert plan.flow_windows == [10.0, 180.0] and plan.uses_flow()


def test_block_scalar_errors_point_into_the_block(tmp_path):
    text = GOOD.replace("when: cross_above(fast, slow)", "when: |\n      cross_above(fast, slow)\n      and close > slwo")
    err = error_of(tmp_path, text)
    assert (err.line, err.col) == (13, 19), str(err)


def test_yaml_and_file_problems(tmp_path):
    err = error_of(tmp_path, "strategy: [unclosed\n")
    assert "YAML syntax error" in str(err) and err.line == 2
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "missing.yaml")
    err = error_of(tmp_path, GOOD.replace("strategy: t\n", ""))
    assert "missing required key 'strategy'" in str(err)


def test_stop_and_targets(tmp_path):
    plan = load(write(tmp_path, GOOD + "stop: {atr: 1.5}\ntargets: [{r: 2}, {percent: 1}]\n"))
    assert plan.atr_reg is not None
    err = error_of(tmp_path, GOOD + "targets: [{r: 2}]\n")
    assert "needs a stop" in str(err)
    err = error_of(tmp_path, GOOD + "stop: {atr: 1.5, percent: 1}\n")
    assert "either {percent: X} or {atr: X}" in str(err)
    err = error_of(tmp_path, GOOD + "cooldown: soon\n")
    assert "neither a duration nor a bar count" in str(err)
    assert load(write(tmp_path, GOOD + "cooldown: 3 bars\n")).cooldown_bars == 3


def test_outputs_of_named_indicators(tmp_path):
    text = GOOD.replace("  slow: ema(close, 21)\n", "  slow: ema(close, 21)\n  bands: bollinger(close, 10, 2)\n")
    plan = load(write(tmp_path, text.replace("volume > 2 * sma(volume, 20)", "close < bands.lower")))
    assert any(getattr(s, "name", "") == "bollinger" for s in plan.clocks[5].steps)
    err = error_of(tmp_path, text.replace("volume > 2 * sma(volume, 20)", "close < bands.bottom"))
    assert "bands (bollinger) has no output 'bottom'" in str(err) and "mid, upper, lower" in str(err)

"""`barfinex rules check|explain|list` on the shipped examples and on bad files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from barfinex.cli import main

pytestmark = pytest.mark.unit

EXAMPLES = sorted((Path(__file__).parents[2] / "configs" / "strategies").glob("*.yaml"))


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_the_examples_check_and_explain():
    assert len(EXAMPLES) >= 3
    r = run("rules", "check", *map(str, EXAMPLES))
    assert r.exit_code == 0, r.output
    assert r.output.count(": ok (") == len(EXAMPLES)
    r = run("rules", "explain", str(EXAMPLES[0]))
    assert r.exit_code == 0 and "rules:" in r.output and "LOAD r" in r.output


def test_a_bad_file_exits_2_with_its_position(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLES[0].read_text().replace("direction: long", "direction: up", 1))
    r = run("rules", "check", str(EXAMPLES[0]), str(bad))
    assert r.exit_code == 2
    assert f"{bad}:" in r.output and "direction must be long or short" in r.output
    assert "1 of 2 files invalid" in r.output
    r = run("rules", "check", "--json", str(bad))
    row = json.loads(r.output.splitlines()[0])
    assert r.exit_code == 2 and row["ok"] is False and row["line"] > 0
    r = run("rules", "explain", str(tmp_path / "missing.yaml"))
    assert r.exit_code == 2 and "no such file" in r.output


def test_list_names_everything():
    r = run("rules", "list")
    assert r.exit_code == 0
    for name in ("close", "ema(x, n)", "macd", "cross_above", "book.imbalance", "flow.delta_ratio"):
        assert name in r.output

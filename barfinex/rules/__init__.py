"""Strategies as YAML rules: the condition language, its compiler to the rule
VM (barfinex/_fast/rulevm.pyx) and the runtime that turns bars into signals.

    plan = barfinex.rules.load("configs/strategies/ema-trend.yaml")
    runtime = barfinex.rules.StrategyRuntime(plan, "BTCUSDT")
    signals = runtime.on_bar(5, open_ns, o, h, l, c, volume, quote_volume, trades, taker_buy_volume)

The language is documented in docs/strategies.md.
"""
from barfinex.config import ConfigError  # noqa: F401

from .compiler import Plan, explain, load  # noqa: F401
from .engine import StrategyRuntime  # noqa: F401

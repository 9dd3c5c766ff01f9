"""`barfinex rules check|explain|list`: validate and read strategies without running them."""
from __future__ import annotations

import json
import sys

import click

from barfinex.config import ConfigError

EXIT_INVALID = 2


@click.group()
def rules() -> None:
    """Strategy files (YAML rules): check them, see what they compile to.

    The language is documented in docs/strategies.md; examples live in
    configs/strategies/.
    """


@rules.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file: file, ok, error.")
def check(files: tuple[str, ...], as_json: bool) -> None:
    """Validate strategy FILES without running them.

    Every problem is reported as file:line:col with a hint. Exit 0 when all
    are valid, 2 when any is not.
    """
    from .compiler import load
    bad = 0
    for path in files:
        try:
            plan = load(path)
        except ConfigError as exc:
            bad += 1
            if as_json:
                click.echo(json.dumps({"file": path, "ok": False, "error": str(exc), "line": exc.line,
                                       "column": exc.col}))
            else:
                click.echo(f"{exc}", err=True)
            continue
        if as_json:
            click.echo(json.dumps({"file": path, "ok": True, "strategy": plan.name, "rules": len(plan.rules),
                                   "symbols": plan.symbols}))
        else:
            click.echo(f"{path}: ok ({plan.name}: {len(plan.rules)} rules on {', '.join(plan.symbols)}, "
                       f"{len(plan.clocks)} timeframe{'s' * (len(plan.clocks) > 1)})")
    if bad:
        if not as_json:
            click.echo(f"{bad} of {len(files)} file{'s' * (len(files) > 1)} invalid", err=True)
        sys.exit(EXIT_INVALID)


@rules.command()
@click.argument("file", type=click.Path(dir_okay=False))
def explain(file: str) -> None:
    """Print the compiled plan of FILE: registers, per-timeframe steps, rule bytecode."""
    from .compiler import explain as explain_plan
    from .compiler import load
    try:
        plan = load(file)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    click.echo(explain_plan(plan))


@rules.command(name="list")
def list_names() -> None:
    """Every name a condition can use: bar fields, indicators, functions, book.* and flow.*."""
    from barfinex import indicator_catalog

    from .compiler import BUILTINS, _indicator_signature
    from .features import BAR_FIELD_DOCS, LIVE_FEATURES
    click.echo("bar fields (add @1m etc. for another timeframe's bar):")
    for name, doc in BAR_FIELD_DOCS.items():
        click.echo(f"  {name:<18} {doc}")
    click.echo("indicators (outputs after the name; pick one with .name):")
    for spec in indicator_catalog.CATALOG.values():
        outs = f" -> {', '.join(spec.outputs)}" if len(spec.outputs) > 1 else ""
        click.echo(f"  {_indicator_signature(spec)}{outs}\n      {spec.doc}")
    click.echo("functions:")
    for doc in BUILTINS.values():
        click.echo(f"  {doc}")
    click.echo("live features (read at evaluation time):")
    for f in LIVE_FEATURES.values():
        arg = {"levels": "(levels)", "window": "(window)", "": ""}[f.arg]
        click.echo(f"  {f.name + arg:<26} {f.doc}")

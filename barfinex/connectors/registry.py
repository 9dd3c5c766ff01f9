"""The connector registry: built-ins listed here, everything else by entry point.

A third-party package adds an exchange by declaring, in its pyproject.toml::

    [project.entry-points."barfinex.connectors"]
    kraken = "barfinex_kraken:KrakenConnector"

and nothing in barfinex changes. Names resolve to classes lazily (a broken
plugin does not stop the others from loading) and loudly: an unknown name, an
import error, a target that is not a ``Connector`` subclass, or two packages
claiming one name each raise ``RegistryError`` saying which package and why.
No config text is ever executed: a name maps to an import path, nothing else.
"""
from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Callable, Mapping

from .base.errors import RegistryError
from .base.protocols import ConnectionEvent, Connector

GROUP = "barfinex.connectors"

# Built-in connectors, explicit. Installed barfinex also declares these as
# entry points; an entry point with the same name must point at the same class.
BUILTIN: dict[str, str] = {
    "binance": "barfinex.connectors.binance:BinanceConnector",
}

_cache: dict[str, type[Connector]] = {}


def _entry_points() -> dict[str, list[EntryPoint]]:
    found: dict[str, list[EntryPoint]] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, []).append(ep)
    return found


def _origin(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"package {dist.name} {dist.version}" if dist is not None else "an unknown package"


def available() -> list[str]:
    """Names of every connector known: built-ins plus installed plugins, sorted."""
    return sorted(set(BUILTIN) | set(_entry_points()))


def _target(name: str) -> tuple[str, str]:
    """(import path, where it was declared) for ``name``; RegistryError if unknown or ambiguous."""
    eps = _entry_points().get(name, [])
    targets = {ep.value.replace(" ", "") for ep in eps}
    if name in BUILTIN:
        if targets - {BUILTIN[name]}:
            others = ", ".join(f"{ep.value} ({_origin(ep)})" for ep in eps if ep.value != BUILTIN[name])
            raise RegistryError(f"connector {name!r} is built in ({BUILTIN[name]}) but also "
                                f"claimed by {others}; uninstall the conflicting plugin")
        return BUILTIN[name], "barfinex (built in)"
    if not eps:
        known = ", ".join(available()) or "none"
        raise RegistryError(f"unknown connector {name!r}; available: {known}. A plugin registers "
                            f"under the entry-point group {GROUP!r}")
    if len(targets) > 1:
        claims = "; ".join(f"{ep.value} ({_origin(ep)})" for ep in eps)
        raise RegistryError(f"connector {name!r} is claimed by more than one package: {claims}")
    return eps[0].value, _origin(eps[0])


def load_connector(name: str) -> type[Connector]:
    """The ``Connector`` subclass registered as ``name``."""
    if not isinstance(name, str) or not name:
        raise RegistryError(f"connector name must be a non-empty string, got {name!r}")
    if name in _cache:
        return _cache[name]
    path, origin = _target(name)
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise RegistryError(f"connector {name!r} from {origin}: importing {module_name!r} failed: "
                            f"{type(exc).__name__}: {exc}") from exc
    obj: Any = module
    try:
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
    except AttributeError:
        raise RegistryError(f"connector {name!r} from {origin}: {module_name!r} has no "
                            f"attribute {attr!r}") from None
    if not (isinstance(obj, type) and issubclass(obj, Connector)):
        raise RegistryError(f"connector {name!r} from {origin}: {path} is not a "
                            f"barfinex.connectors.Connector subclass (got {obj!r})")
    for required in ("NAME", "CATALOG"):
        if not hasattr(obj, required):
            raise RegistryError(f"connector {name!r} from {origin}: {obj.__name__} does not "
                                f"declare {required}")
    if obj.NAME != name:
        raise RegistryError(f"connector {name!r} from {origin}: class says NAME={obj.NAME!r}; "
                            f"the entry point name and NAME must match")
    _cache[name] = obj
    return obj


def create_connector(name: str, config: Mapping[str, Any] | None = None, *,
                     env: Mapping[str, str] | None = None,
                     on_connection: Callable[[ConnectionEvent], Any] | None = None) -> Connector:
    """Load ``name`` and construct it with ``config`` (validated by the connector)."""
    return load_connector(name)(config, env=env, on_connection=on_connection)


def clear_cache() -> None:
    """Forget loaded classes (tests that install plugins at run time)."""
    _cache.clear()

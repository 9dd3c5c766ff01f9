"""Strict YAML config loading: every error names the file, line and column.

YAML is parsed with PyYAML's composer so every node keeps its position; the
schema is a msgspec Struct with ``forbid_unknown_fields``. A validation error's
path (``$.actors.provider.pub``) is mapped back to the node it came from.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file that cannot be used. str() is ``file:line:col: message``."""

    def __init__(self, path: str | Path, line: int | None, col: int | None, message: str,
                 hint: str = "") -> None:
        self.path, self.line, self.col, self.message, self.hint = str(path), line, col, message, hint
        where = self.path if line is None else f"{self.path}:{line}:{col}"
        super().__init__(f"{where}: {message}" + (f"\n  hint: {hint}" if hint else ""))


class _Marks:
    """Positions of every mapping key and value, keyed by path tuple."""

    def __init__(self) -> None:
        self.value: dict[tuple, tuple[int, int]] = {}
        self.key: dict[tuple, tuple[int, int]] = {}
        self.style: dict[tuple, str | None] = {}   # scalar style: None plain, ' " | >

    def at(self, path: tuple, key: bool = False) -> tuple[int, int] | tuple[None, None]:
        table = self.key if key else self.value
        while path:
            if path in table:
                return table[path]
            path = path[:-1]
        return self.value.get((), (None, None))


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(node: yaml.Node, path: tuple, marks: _Marks, source: str) -> Any:
    marks.value[path] = _pos(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                raise ConfigError(source, *_pos(knode), "a mapping key must be a plain value")
            key = knode.value
            if key in out:
                raise ConfigError(source, *_pos(knode), f"duplicate key {key!r}",
                                  f"the first {key!r} is on line {marks.key[path + (key,)][0]}")
            marks.key[path + (key,)] = _pos(knode)
            out[key] = _build(vnode, path + (key,), marks, source)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, path + (i,), marks, source) for i, v in enumerate(node.value)]
    marks.style[path] = node.style
    return _SCALARS.construct_object(node)


# A SafeLoader used only to turn scalar nodes into values (int, float, bool...).
_SCALARS = yaml.SafeLoader("")


class Document:
    """A parsed YAML file: the plain data plus where every value came from."""

    def __init__(self, path: Path, data: Any, marks: _Marks, text: str = "") -> None:
        self.path, self.data, self._marks, self._lines = path, data, marks, text.splitlines()

    def error(self, path: tuple, message: str, hint: str = "", key: bool = False) -> ConfigError:
        line, col = self._marks.at(path, key)
        return ConfigError(self.path, line, col, message, hint)

    def error_at(self, path: tuple, offset: int, message: str, hint: str = "") -> ConfigError:
        """An error at character ``offset`` inside the string value at ``path``
        (a rule condition, say), so the column points at the problem."""
        line, col = self._marks.at(path)
        style = self._marks.style.get(path, "")
        if line is None or style not in (None, "'", '"', "|", ">"):
            return self.error(path, message, hint)
        if style in (None, "'", '"'):
            return ConfigError(self.path, line, col + offset + (style is not None), message, hint)
        # Block scalar: the text starts on the next line at its indentation.
        text_line = line + 1
        while text_line <= len(self._lines) and not self._lines[text_line - 1].strip():
            text_line += 1
        indent = len(self._lines[text_line - 1]) - len(self._lines[text_line - 1].lstrip()) \
            if text_line <= len(self._lines) else 0
        value = self.data_at(path)
        before = value[:offset] if isinstance(value, str) else ""
        if style == "|":
            text_line += before.count("\n")
            col_in = len(before) - (before.rfind("\n") + 1)
        else:   # folded: line breaks became spaces; point at the first line
            col_in = offset
        return ConfigError(self.path, text_line, indent + 1 + col_in, message, hint)

    def data_at(self, path: tuple) -> Any:
        value = self.data
        for part in path:
            value = value[part]
        return value

    def convert(self, typ: type[T], data: Any | None = None, path: tuple = ()) -> T:
        """Validate ``data`` (default: the whole file) against a Struct type."""
        try:
            return msgspec.convert(self.data if data is None else data, typ, strict=True)
        except msgspec.ValidationError as exc:
            raise self._translate(str(exc), path, typ) from None

    def _translate(self, text: str, base: tuple, typ: type) -> ConfigError:
        m = re.match(r"(.*?)(?: - at `\$(.*)`)?$", text, re.S)
        message, where = (m.group(1), m.group(2) or "") if m else (text, "")
        rel = tuple(int(p[1:-1]) if p.startswith("[") else p
                    for p in re.findall(r"\[\d+\]|[^.\[\]]+", where))
        path = base + rel
        unknown = re.match(r"Object contains unknown field `(.+)`", message)
        if unknown:
            field = unknown.group(1)
            keys = _keys_at(typ, rel)
            hint = f"this section takes: {', '.join(keys)}" if keys else "check the spelling"
            return self.error(path + (field,), f"unknown key {field!r}", hint, key=True)
        missing = re.match(r"Object missing required field `(.+)`", message)
        if missing:
            return self.error(path, f"missing required key {missing.group(1)!r}")
        return self.error(path, message.replace("Expected", "expected"))


def _is_struct(typ: Any) -> bool:
    return isinstance(typ, type) and issubclass(typ, msgspec.Struct)


def _keys_at(typ: Any, rel: tuple) -> list[str]:
    """The keys the Struct at ``rel`` inside ``typ`` accepts (for hints)."""
    for part in rel:
        if isinstance(part, int):
            args = getattr(typ, "__args__", ())
            typ = args[0] if args else None
        elif _is_struct(typ):
            typ = {f.encode_name: f.type for f in msgspec.structs.fields(typ)}.get(part)
        else:
            return []
    return [f.encode_name for f in msgspec.structs.fields(typ)] if _is_struct(typ) else []


def load_yaml(path: str | Path) -> Document:
    """Parse one YAML file, keeping positions. ConfigError for a missing file
    or a syntax error, with the line and column PyYAML found it at."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(p, None, None, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(p, None, None, f"cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise ConfigError(p, line, col, f"YAML syntax error: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(p, None, None, f"YAML error: {exc}") from None
    marks = _Marks()
    if node is None:
        raise ConfigError(p, None, None, "the file is empty")
    return Document(p, _build(node, (), marks, str(p)), marks, text)

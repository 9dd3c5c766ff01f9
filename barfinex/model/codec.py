"""Payload codec: one reused MessagePack encoder, one reused decoder per type."""
from __future__ import annotations

from typing import Any

import msgspec

from .messages import Message, all_message_types


class DecodeError(ValueError):
    """A payload that does not decode as the type its header names."""


class Codec:
    """Encode any Message; decode a payload given the type id from its header."""

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoders = {tid: msgspec.msgpack.Decoder(cls) for tid, cls in all_message_types().items()}
        self.encode = self._encoder.encode

    def decode(self, type_id: int, payload: bytes) -> Message:
        dec = self._decoders.get(type_id)
        if dec is None:
            raise DecodeError(f"unknown payload type id {type_id}")
        try:
            return dec.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError(f"payload type {type_id}: {exc}") from None


def to_builtins(msg: Message) -> dict[str, Any]:
    """A JSON-friendly dict (enum names, bytes as hex) for people and scripts."""
    out: dict[str, Any] = {}
    for name in msg.__struct_fields__:
        out[name] = _plain(getattr(msg, name))
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, Message):
        return to_builtins(v)
    if hasattr(v, "name") and isinstance(v, int):  # IntEnum
        return v.name
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def from_dict(cls: type[Message], data: Any) -> Message:
    """Build a wire struct from a dict of its fields (an RPC body, say), with
    type checks. Structs are array-like on the wire, so msgspec cannot convert
    a mapping directly; ValueError names unknown, missing and mistyped fields."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a mapping of fields, got {type(data).__name__}")
    fields = msgspec.structs.fields(cls)
    unknown = set(data) - {f.name for f in fields}
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {', '.join(sorted(unknown))}; "
                         f"fields: {', '.join(f.name for f in fields)}")
    values = []
    for f in fields:
        if f.name in data:
            values.append(data[f.name])
        elif f.required:
            raise ValueError(f"{cls.__name__}: missing field {f.name!r}")
        else:
            values.append(f.default if f.default is not msgspec.NODEFAULT else f.default_factory())
    try:
        return msgspec.convert(values, cls)
    except msgspec.ValidationError as exc:
        import re
        m = re.search(r"- at `\$\[(\d+)\]", str(exc))
        if m:
            name = fields[int(m.group(1))].name
            raise ValueError(f"{cls.__name__}.{name}: {str(exc).split(' - at')[0]}") from None
        raise ValueError(f"{cls.__name__}: {exc}") from None

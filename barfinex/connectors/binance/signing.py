"""HMAC-SHA256 request signing and the credentials it uses.

Binance SIGNED endpoints take ``signature = hex(HMAC_SHA256(secret, totalParams))``
where totalParams is the query string followed directly by the request body,
and the key in the ``X-MBX-APIKEY`` header. The secret lives only inside
``Credentials``: its repr, str and every exception show at most the key's
last four characters.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Mapping
from urllib.parse import urlencode

from ..base.errors import AuthError


def sign(secret: bytes | str, payload: str) -> str:
    """``hex(HMAC_SHA256(secret, payload))``: Binance's signature of ``payload``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def encode_params(params: Mapping[str, object]) -> str:
    """Query string in the order given (the signature covers exactly this text).

    Booleans become ``true``/``false`` as Binance expects; None values are dropped.
    """
    items = []
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        items.append((k, v))
    return urlencode(items)


class Credentials:
    """An API key and secret, read from the environment and never shown."""

    __slots__ = ("_key", "_secret")

    def __init__(self, key: str, secret: str) -> None:
        if not key or not secret:
            raise AuthError("binance", "credentials", 0, None, "API key and secret must both be set")
        self._key = key
        self._secret = secret.encode()

    @classmethod
    def from_env(cls, env: Mapping[str, str], key_var: str, secret_var: str) -> "Credentials | None":
        """Credentials from ``env[key_var]``/``env[secret_var]``; None when neither is set.

        One set without the other is a configuration mistake and raises
        (naming the variables, never their values).
        """
        key, secret = env.get(key_var, ""), env.get(secret_var, "")
        if not key and not secret:
            return None
        if not key or not secret:
            missing = key_var if not key else secret_var
            raise AuthError("binance", "credentials", 0, None,
                            f"{missing} is not set but its partner is; set both or neither")
        return cls(key, secret)

    @property
    def api_key(self) -> str:
        """For the X-MBX-APIKEY header only."""
        return self._key

    def sign(self, payload: str) -> str:
        return sign(self._secret, payload)

    def __repr__(self) -> str:
        return f"Credentials(key=...{self._key[-4:]}, secret=<hidden>)"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("Credentials cannot be pickled (secrets never leave the process)")

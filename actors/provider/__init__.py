"""The Provider actor (see ARCHITECTURE.md)."""
from .actor import Provider  # noqa: F401

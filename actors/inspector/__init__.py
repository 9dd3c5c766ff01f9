"""The Inspector actor (see ARCHITECTURE.md)."""
from .actor import Inspector  # noqa: F401

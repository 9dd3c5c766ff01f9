"""The Advisor actor (see ARCHITECTURE.md)."""
from .actor import Advisor  # noqa: F401

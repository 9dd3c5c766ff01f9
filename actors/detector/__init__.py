"""The Detector actor (see ARCHITECTURE.md)."""
from .actor import Detector  # noqa: F401

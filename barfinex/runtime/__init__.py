"""Actor runtime: lifecycle, the actor base class, topologies, the supervisor."""
from .actor import Actor  # noqa: F401
from .lifecycle import Lifecycle, Trigger  # noqa: F401
from .topology import ActorSpec, Topology, load_topology  # noqa: F401

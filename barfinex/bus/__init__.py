"""The ZeroMQ bus: frames, publishing, receiving with gap detection, request/reply."""
from .publisher import PublishRefused, Publisher  # noqa: F401
from .rpc import (  # noqa: F401
    AsyncRpcClient, BadRequest, Refused, Rejected, RpcClient, RpcError, RpcServer, RpcTimeout, new_key,
)
from .subscriber import Event, Receiver, SequenceTracker  # noqa: F401
from . import sockets  # noqa: F401

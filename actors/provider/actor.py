"""Provider: exchange connectivity, books, candles, the order API, the gateway.

Today it runs the actor runtime (heartbeats, control, status); the connector,
book sync and order API land with issue 4.
"""
from barfinex.runtime import Actor


class Provider(Actor):
    KIND = "PROVIDER"

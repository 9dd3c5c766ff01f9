"""The replay venue: a local exchange that speaks Binance's REST and WebSocket protocol.

It replays recorded captures (``barfinex.capture`` format; by default the real
data shipped in ``barfinex.datasets``: spot and USD-M BTCUSDT) and is a paper
exchange for signed orders. A standard Binance client pointed at it should not
notice the difference for the endpoints below.

URL layout (one port, loopback; configure a client with ONE base address)::

    REST   http://127.0.0.1:PORT      spot /api/v3/...   USD-M /fapi/v1/..., /fapi/v2/...
    WS     ws://127.0.0.1:PORT        spot  /ws/<stream>, /stream?streams=a/b/c
    WS     ws://127.0.0.1:PORT/usdm   USD-M /usdm/ws/<stream>, /usdm/stream?streams=...

USD-M WebSockets live under ``/usdm`` because both markets carry a ``btcusdt``
stream. Combined streams wrap payloads as ``{"stream": ..., "data": ...}``;
live ``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` /
``SET_PROPERTY`` / ``GET_PROPERTY`` frames are answered as Binance does. An
unknown path answers HTTP 404 (an HTML page, as Binance's front end does).

REST: ``ping``, ``time``, ``exchangeInfo``, ``depth``, ``klines``,
``ticker/bookTicker``, ``ticker/price``, ``order`` (POST/GET/DELETE),
``openOrders``, spot ``order/test``, ``DELETE openOrders``, ``account``,
``userDataStream``; USD-M ``premiumIndex``, ``leverage``, ``allOpenOrders``,
``listenKey``, ``/fapi/v2/account``, ``/fapi/v2/positionRisk``,
``/fapi/v2/balance`` (v3 aliases too).

Streams: the depth diffs, ``@bookTicker`` and ``@trade`` as recorded (every
diff speed, ``@depth`` / ``@depth@100ms`` / ``@depth@0ms`` ..., carries the
recorded diffs at the recorded cadence); ``@depth5/10/20`` from the venue's
book; ``@aggTrade`` derived from trades (one per trade); ``@kline_<i>``
derived from trades by the candle aggregator (1s 1m 3m 5m 15m 30m 1h 2h 4h 1d
1w; in-progress updates every 2 s of replay time, 1 s for 1s, closed bars
with ``x: true``); USD-M ``@markPrice`` (3 s) and ``@markPrice@1s`` derived
from the book's mid, because the captures hold no mark price (index price
and settle price are the same value, funding rate a constant 0.0001).
User data: ``POST /api/v3/userDataStream`` or ``POST /fapi/v1/listenKey``,
then ``/ws/<listenKey>`` or ``/usdm/ws/<listenKey>``: ``executionReport`` and
``outboundAccountPosition`` (spot), ``ORDER_TRADE_UPDATE`` and
``ACCOUNT_UPDATE`` (USD-M), with Binance's field names.

Book consistency: the venue keeps its own book per symbol (the recorded REST
snapshot plus the replayed diffs, synced by Binance's rule) and the REST
snapshot it serves carries ``lastUpdateId`` = the last diff it has sent, so a
client following Binance's procedure finds its bridging diff. The stream
starts at the point where the venue's own book is synced. With ``loop``, each
pass shifts update ids (a visible gap: clients resync onto the restarted
book), trade ids and event times (so time keeps moving forward). See
``feed.py``. exchangeInfo filters are inferred from the data: see
``instruments.py``. Matching rules: see ``exchange.py``.

Pace: ``speed`` 1.0 replays at the recorded pace (by receive time); 2.0 twice
as fast; 0 or ``inf`` as fast as the connected clients take it (a client more
than 2,000 messages behind pauses the replay, one 100,000 behind or stuck for
10 s is disconnected as a slow consumer).

Faults (tests and operators; the venue's own endpoints live under the reserved
prefix ``/_venue/``, every other unknown path still answers Binance's 404)::

    POST /_venue/fault  {"kind": K, "market": "spot"|"usdm", "symbol": S?, "count": N?, "seconds": T?}
    GET  /_venue/stats  the venue's counters (faults included) and each market's replay progress

- ``drop``: abort every WebSocket of the market (market streams and user
  data), TCP cut with no close frame, as a network drop does.
- ``skip_diff`` (``symbol``, ``count`` = 1): withhold the next N depth diffs of
  the symbol from every client; the venue's own book still applies them, so
  a client sees an update-id gap and its snapshot resync works.
- ``garbage`` (``symbol``?, ``count`` = 1): send N malformed frames on each of
  the market's stream connections (of the symbol's streams, if given),
  cycling: bytes that are not JSON, a trade cut short, a depthUpdate with a
  non-numeric price.
- ``silence`` (``seconds``): send no stream message on the market for T
  seconds, connections left open (what the replay produces meanwhile is not
  delivered, as from a stalled feed); new connections are silent too.
- ``order_lost`` (``count`` = 1): the next N orders on the market are placed
  but answered HTTP 503 ``{"code": -1001, ...}``, as when Binance's answer is
  lost ("execution status unknown"): a client must ask by client order id.
- ``order_failed`` (``count`` = 1): the next N orders are answered 503 and
  not placed.

A bad body gets HTTP 400 ``{"error": "..."}`` naming what is wrong; success
answers what was done (``{"kind": "drop", "market": "usdm", "connections":
2}``). In process: ``Venue.inject(kind, market, symbol=, count=, seconds=)`` on
the venue's loop, or ``VenueThread.fault(...)`` from another thread. Injected
faults are counted in ``VenueStats`` (``faults``, ``fault_drops``,
``fault_withheld_diffs``, ``fault_garbage_frames``, ``fault_silenced``). The
endpoint has no authentication: the venue is a loopback simulator.

Security: signed endpoints need ``X-MBX-APIKEY`` and an HMAC-SHA256
``signature`` of the query string + body, plus ``timestamp`` within
``recvWindow`` (default 5000 ms, at most 60000) of the venue's wall clock
(``/time``). Defaults: key ``barfinex-venue-key``, secret
``barfinex-venue-secret`` (``Venue(api_key=..., api_secret=...)``).
Exchange times in events and orders are the replay clock (the recorded event
time of the last message of that market, shifted per pass).

Programmatic use::

    venue = Venue(captures=None, speed=1.0, loop=True, port=0)
    port = await venue.start()        # books synced, port bound
    ...
    await venue.stop()

    with VenueThread(Venue(speed=0)) as v:   # on its own loop in a thread
        httpx.get(v.base_url + "/api/v3/depth?symbol=BTCUSDT")

    with VenueThread(Venue(speed=2, loop=True)) as v:
        v.fault("skip_diff", "usdm", symbol="BTCUSDT", count=2)

``hold=True`` (``--hold``) keeps each market at the start of its recording
until a client subscribes to one of its streams (benchmarks that want the
whole recording, once).

The CLI: ``barfinex venue --capture FILE... [--speed X] [--loop] [--port N] [--hold]``
(``barfinex.connectors.venue.cli.venue_command``).
"""
from __future__ import annotations

from .errors import BinanceError
from .exchange import ExchangeConfig, PaperExchange
from .feed import Feed, KLINE_INTERVALS
from .instruments import Instrument, MarketDefaults, SPOT_DEFAULTS, USDM_DEFAULTS
from .server import DEFAULT_API_KEY, DEFAULT_API_SECRET, Venue, VenueStats, VenueThread, canonical_stream

__all__ = [
    "BinanceError", "DEFAULT_API_KEY", "DEFAULT_API_SECRET", "ExchangeConfig", "Feed", "Instrument",
    "KLINE_INTERVALS", "MarketDefaults", "PaperExchange", "SPOT_DEFAULTS", "USDM_DEFAULTS", "Venue",
    "VenueStats", "VenueThread", "canonical_stream",
]

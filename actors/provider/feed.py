"""One symbol's market state in the Provider: synced book, candles, and what
goes on the bus for it.

Topics are ``CHANNEL.connector.market.SYMBOL``; the book channel carries both
the exchange's deltas (BookDelta) and the top of book after each one
(TopOfBook). A consumer acts on a book only while MARKETDATA_BOOK_STATE says
VALID.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque

from barfinex import backend
from barfinex.book.sync import SNAPSHOT_NEEDED, STATUS_CHANGED, BookEvent, BookSync
from barfinex.model import (
    BookState, BookStatus, Candle, Instrument, InstrumentPrice, Side, TopOfBook, Trade,
    market_topic,
)

log = logging.getLogger("barfinex.provider")
_orderbook = backend.load("orderbook")
_candles = backend.load("candles")

RECENT_CANDLES = 500
QUIET_SYMBOL_S = 5.0


class SymbolFeed:
    def __init__(self, provider, connector: str, session, instrument: Instrument, timeframes) -> None:
        self.provider = provider
        self.connector = connector
        self.session = session
        self.instrument = instrument
        self.market = instrument.market
        self.symbol = instrument.symbol
        m = self.market.label
        self.topics = {name: market_topic(f"PROVIDER_MARKETDATA_{name}", connector, m, self.symbol)
                       for name in ("TRADE", "ORDERBOOK", "CANDLE", "BOOK_STATE")}
        self.topics["PRICES"] = market_topic("PROVIDER_INSTRUMENT_PRICES", connector, m, self.symbol)
        self.book = _orderbook.OrderBook(self.symbol, instrument.price_prec, instrument.qty_prec,
                                         instrument.tick_size or 1, instrument.step_size or 1)
        self.sync = BookSync(self.book, self.market)
        self.candles = _candles.CandleAggregator(timeframes, price_prec=instrument.price_prec,
                                                 qty_prec=instrument.qty_prec, symbol=self.symbol)
        self.recent: dict[int, deque[Candle]] = {int(tf): deque(maxlen=RECENT_CANDLES) for tf in timeframes}
        self._snapshot_task: asyncio.Task | None = None
        self._unsubscribe: list = []
        self.rejected_trades = 0

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        streams = self.session.streams
        # Subscribe to diffs before asking for the snapshot (Binance's procedure).
        self._unsubscribe = [
            streams.subscribe_book_diffs(self.symbol, self.on_diff),
            streams.subscribe_trades(self.symbol, self.on_trade),
            streams.subscribe_prices(self.symbol, self.on_price),
        ]
        self._handle(self.sync.start())

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self._snapshot_task is not None:
            self._snapshot_task.cancel()

    def resync(self, reason: str) -> None:
        self._handle(self.sync.resync(reason))

    # ----------------------------------------------------------------- books
    def on_diff(self, diff) -> None:
        applied = self.sync.stats.diffs_applied
        events = self.sync.on_depth(diff.sync_input())
        if self.sync.stats.diffs_applied != applied:
            d = diff.delta
            p = self.provider
            p.publish(self.topics["ORDERBOOK"], d, exch_ts_ns=d.exch_ts_ns)
            bp, bq, ap, aq = self.book.bbo()
            p.publish(self.topics["ORDERBOOK"], TopOfBook(
                self.connector, self.market, self.symbol, d.last_update_id, bp, bq, ap, aq,
                d.price_prec, d.qty_prec, d.exch_ts_ns), exch_ts_ns=d.exch_ts_ns)
        if events:
            self._handle(events)

    def _handle(self, events: list[BookEvent]) -> None:
        for ev in events:
            if ev.kind == STATUS_CHANGED:
                level = logging.INFO if ev.status == BookStatus.VALID else logging.WARNING
                log.log(level, "%s %s book %s -> %s: %s", self.connector, self.symbol,
                        ev.previous.name if ev.previous else "-", ev.status.name, ev.reason)
                self.provider.publish(self.topics["BOOK_STATE"], BookState(
                    self.connector, self.market, self.symbol, ev.status, ev.reason))
            elif ev.kind == SNAPSHOT_NEEDED:
                if self._snapshot_task is None or self._snapshot_task.done():
                    self._snapshot_task = self.provider.spawn(self._fetch_snapshot())
            else:
                log.warning("%s %s depth message rejected: %s", self.connector, self.symbol, ev.reason)

    async def _fetch_snapshot(self) -> None:
        # A snapshot taken before the diff stream is flowing can be newer than
        # the first diff we will see, and one taken while the stream is down
        # would make the book VALID with nothing behind it: wait for a diff
        # held since the resync. Give up waiting after QUIET_SYMBOL_S only
        # while the streams are up (a symbol that really is quiet).
        waited = 0.0
        while not self.sync.holding:
            if waited >= QUIET_SYMBOL_S and getattr(self.session.streams, "connected", True):
                break
            await asyncio.sleep(0.05)
            waited += 0.05
        delay = 0.2
        while True:
            try:
                body = await self.session.market_data.depth_snapshot(self.symbol, 1000)
            except Exception as exc:  # the venue may be restarting: retry, never give up
                log.warning("%s %s snapshot failed (%s); retrying in %.1fs", self.connector, self.symbol,
                            exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            events = self.sync.on_snapshot(body)
            # Handled after this task is marked done, so a stale snapshot can ask again.
            asyncio.get_running_loop().call_soon(self._handle, events)
            return

    def book_snapshot(self, depth: int) -> dict:
        """The book as of the last ORDERBOOK event, stamped with that event's seq."""
        bids, asks = self.book.top(depth)
        return {"connector": self.connector, "market": self.market.label, "symbol": self.symbol,
                "status": self.sync.status.name, "last_update_id": self.book.last_update_id,
                "bus_seq": self.provider.publisher.last_seq(self.topics["ORDERBOOK"]),
                "price_prec": self.instrument.price_prec, "qty_prec": self.instrument.qty_prec,
                "bids": [list(x) for x in bids], "asks": [list(x) for x in asks]}

    # --------------------------------------------------------------- trades
    def on_trade(self, trade: Trade) -> None:
        self.provider.publish(self.topics["TRADE"], trade, exch_ts_ns=trade.exch_ts_ns)
        try:
            emitted = self.candles.update(trade.exch_ts_ns, trade.price, trade.qty,
                                          trade.taker_side == Side.SELL)
        except _candles.CandleError as exc:
            self.rejected_trades += 1
            log.warning("%s %s trade %d not folded into candles: %s", self.connector, self.symbol,
                        trade.trade_id, exc)
            return
        if emitted:
            self._publish_bars()

    def _publish_bars(self) -> None:
        ins = self.instrument
        for bar in self.candles.drain():
            if not bar["closed"]:
                continue
            candle = Candle(self.connector, self.market, self.symbol, int(bar["timeframe_s"]),
                            int(bar["open_ns"]), int(bar["close_ns"]), int(bar["open"]), int(bar["high"]),
                            int(bar["low"]), int(bar["close"]), int(bar["volume"]), int(bar["quote_volume"]),
                            int(bar["count"]), int(bar["taker_buy_volume"]),
                            int(bar["taker_buy_quote_volume"]), ins.price_prec, ins.qty_prec, True)
            self.recent[candle.timeframe_s].append(candle)
            self.provider.publish(self.topics["CANDLE"], candle)

    def recent_candles(self, timeframe_s: int, limit: int) -> dict:
        bars = list(self.recent.get(timeframe_s, ()))[-limit:]
        from msgspec import structs
        return {"bus_seq": self.provider.publisher.last_seq(self.topics["CANDLE"]),
                "candles": [structs.asdict(c) for c in bars]}

    def on_price(self, price: InstrumentPrice) -> None:
        self.provider.publish(self.topics["PRICES"], price)

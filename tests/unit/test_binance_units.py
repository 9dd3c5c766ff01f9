"""Binance connector pieces with no sockets: signing, config, filters, rounding,
rate limiting, backoff, timeframes, order parameters, user-data adapters."""
from __future__ import annotations

import asyncio
import random

import pytest

from barfinex.connectors import AuthError, Backoff, ConnectorConfigError, OrderRejectedError, WeightLimiter
from barfinex.connectors.binance import BinanceConfig, Credentials, sign
from barfinex.connectors.binance.adapters import order_update_from_rest, parse_rounded, user_event
from barfinex.connectors.binance.api import BinanceOrderAPI, InstrumentTable
from barfinex.connectors.binance.instruments import (
    decimals_of, instrument_from_exchange_info, round_price, round_qty,
)
from barfinex.connectors.binance.rest import BinanceRest
from barfinex.connectors.binance.timeframes import TIMEFRAMES
from barfinex.model.enums import (
    Direction, MarketType, OrderStatus, OrderType, Side, TimeInForce, Timeframe,
)
from barfinex.model.messages import AccountEvent, Fill, Order, OrderUpdate, Position

pytestmark = pytest.mark.unit

# --------------------------------------------------------------- signing
# Binance's documented worked examples ("SIGNED endpoint examples for POST
# /api/v3/order", spot REST docs; "SIGNED Endpoint Examples", USD-M docs).
SPOT_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
SPOT_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SPOT_QUERY = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
              "&recvWindow=5000&timestamp=1499827319559")


def test_signature_matches_binance_spot_doc_example():
    assert sign(SPOT_SECRET, SPOT_QUERY) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_signature_of_mixed_query_and_body_matches_doc_example():
    # Example 3: query string and body are concatenated with no '&' between.
    total = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC" + \
            "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    assert sign(SPOT_SECRET, total) == "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"


def test_signature_matches_binance_usdm_doc_example():
    secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    query = ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
             "&recvWindow=5000&timestamp=1591702613943")
    assert sign(secret, query) == "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


def test_credentials_never_show_the_secret():
    creds = Credentials(SPOT_KEY, SPOT_SECRET)
    for text in (repr(creds), str(creds), f"{creds}"):
        assert SPOT_SECRET not in text and SPOT_KEY not in text
        assert text.endswith("secret=<hidden>)")
    assert creds.sign(SPOT_QUERY) == sign(SPOT_SECRET, SPOT_QUERY)
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(creds)


def test_credentials_from_env_half_set_is_an_error_naming_the_variable_only():
    env = {"K": "somekey"}
    with pytest.raises(AuthError) as err:
        Credentials.from_env(env, "K", "S")
    assert "S is not set" in str(err.value) and "somekey" not in str(err.value)
    assert Credentials.from_env({}, "K", "S") is None


# --------------------------------------------------------------- config
def test_venue_derives_the_four_urls():
    cfg = BinanceConfig.from_mapping({"venue": "http://127.0.0.1:8765/"})
    assert (cfg.spot_rest, cfg.spot_ws, cfg.usdm_rest, cfg.usdm_ws) == (
        "http://127.0.0.1:8765", "ws://127.0.0.1:8765", "http://127.0.0.1:8765", "ws://127.0.0.1:8765/usdm")


def test_defaults_are_binance_production_and_testnet_switches():
    assert BinanceConfig.from_mapping({}).usdm_ws == "wss://fstream.binance.com"
    test = BinanceConfig.from_mapping({"testnet": True})
    assert test.spot_rest == "https://testnet.binance.vision"
    assert BinanceConfig.from_mapping({"testnet": True, "spot_rest": "http://h:1"}).spot_rest == "http://h:1"


@pytest.mark.parametrize("raw, needle", [
    ({"venu": "http://x"}, "unknown config keys ['venu']"),
    ({"venue": "ftp://x"}, "venue must look like"),
    ({"spot_ws": "http://x"}, "spot_ws must be a ws/wss URL"),
    ({"markets": ["coinm"]}, "unknown market 'coinm'"),
    ({"silence_timeout_s": "5"}, "must be a number"),
    ({"silence_timeout_s": 0}, "must be > 0"),
    ({"venue": "http://a:1", "testnet": True}, "either venue or testnet"),
])
def test_config_errors_are_clear(raw, needle):
    with pytest.raises(ConnectorConfigError, match=None) as err:
        BinanceConfig.from_mapping(raw)
    assert needle in str(err.value)


# --------------------------------------------------------------- instruments
# Shapes as documented for GET /api/v3/exchangeInfo and GET /fapi/v1/exchangeInfo.
SPOT_BTCUSDT = {
    "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
         "tickSize": "0.01000000"},
        {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
        {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
         "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
    ],
}
USDM_BTCUSDT = {
    "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
    "contractType": "PERPETUAL", "pricePrecision": 2, "quantityPrecision": 3,
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "556.80", "maxPrice": "4529764", "tickSize": "0.10"},
        {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
        {"filterType": "MIN_NOTIONAL", "notional": "100"},
    ],
}


def test_decimals_of_steps():
    assert [decimals_of(s) for s in ("0.01000000", "1.00000000", "10", "0.10", "0.001")] == [2, 0, 0, 1, 3]


def test_spot_instrument_from_filters():
    inst = instrument_from_exchange_info(SPOT_BTCUSDT, MarketType.SPOT)
    assert (inst.price_prec, inst.qty_prec, inst.tick_size, inst.step_size) == (2, 5, 1, 1)
    assert (inst.min_qty, inst.min_notional, inst.base, inst.quote) == (1, 500, "BTC", "USDT")


def test_usdm_instrument_from_filters():
    inst = instrument_from_exchange_info(USDM_BTCUSDT, MarketType.USDM)
    assert (inst.price_prec, inst.qty_prec, inst.tick_size, inst.step_size) == (1, 3, 1, 1)
    assert (inst.min_qty, inst.min_notional) == (1, 1000)


def test_instrument_without_lot_size_names_symbol():
    bad = {"symbol": "XUSDT", "filters": [SPOT_BTCUSDT["filters"][0]]}
    with pytest.raises(ValueError, match="XUSDT.*LOT_SIZE"):
        instrument_from_exchange_info(bad, MarketType.SPOT)


def test_rounding_to_tick_and_step():
    inst = instrument_from_exchange_info({**USDM_BTCUSDT, "filters": [
        {"filterType": "PRICE_FILTER", "tickSize": "0.50"}, *USDM_BTCUSDT["filters"][1:]]}, MarketType.USDM)
    assert (inst.price_prec, inst.tick_size) == (1, 5)
    # 61800.37 (prec 2): a buy rounds down to 61800.0, a sell up to 61800.5
    assert round_price(inst, 6180037, 2, Side.BUY) == 618000
    assert round_price(inst, 6180037, 2, Side.SELL) == 618005
    assert round_price(inst, 618005, 1, Side.SELL) == 618005          # on the grid: unchanged
    assert round_qty(inst, 12345, 4) == 1234                           # 1.2345 -> 1.234 (floor)


# --------------------------------------------------------------- order params
def _orders(market=MarketType.USDM, info=USDM_BTCUSDT) -> BinanceOrderAPI:
    cfg = BinanceConfig.from_mapping({"venue": "http://127.0.0.1:1"})
    table = InstrumentTable()
    table.update([instrument_from_exchange_info(info, market)])
    return BinanceOrderAPI(BinanceRest(market, cfg, None), table)


def test_limit_order_params_are_rounded_and_keep_the_client_id():
    api = _orders()
    order = Order("cid-1", "binance", MarketType.USDM, "BTCUSDT", Side.SELL, OrderType.LIMIT,
                  qty=15009, qty_prec=4, price=6180037, price_prec=2, tif=TimeInForce.IOC, reduce_only=True)
    assert api.order_params(order) == {
        "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "IOC",
        "quantity": "1.500", "price": "61800.4", "reduceOnly": True, "newClientOrderId": "cid-1"}


def test_stop_market_params_and_local_rejections():
    api = _orders()
    stop = Order("s1", "binance", MarketType.USDM, "BTCUSDT", Side.SELL, OrderType.STOP_MARKET,
                 qty=2, qty_prec=3, stop_price=6000049, price_prec=2)
    assert api.order_params(stop)["stopPrice"] == "60000.4"     # a sell stop never fires early: down
    tiny = Order("t1", "binance", MarketType.USDM, "BTCUSDT", Side.BUY, OrderType.LIMIT,
                 qty=1, qty_prec=4, price=6000000, price_prec=2)
    with pytest.raises(OrderRejectedError, match="below the minimum 0.001") as rej:
        api.order_params(tiny)
    # Binance's own codes for these refusals; status 0: never sent.
    assert (rej.value.code, rej.value.status) == (-4003, 0)     # rounds to zero
    small = Order("t2", "binance", MarketType.USDM, "BTCUSDT", Side.BUY, OrderType.LIMIT,
                  qty=1, qty_prec=3, price=6000000, price_prec=2)
    with pytest.raises(OrderRejectedError, match="notional 60.0 is below the minimum 100.0") as rej:
        api.order_params(small)
    assert rej.value.code == -4164
    with pytest.raises(OrderRejectedError, match="'ETHUSDT' is not in binance usdm exchangeInfo") as rej:
        api.order_params(Order("t3", "binance", MarketType.USDM, "ETHUSDT", Side.BUY, OrderType.MARKET,
                               qty=5, qty_prec=3))
    assert rej.value.code == -1121
    spot = _orders(MarketType.SPOT, SPOT_BTCUSDT)
    with pytest.raises(OrderRejectedError, match="USD-M order type"):
        spot.order_params(Order("x", "binance", MarketType.SPOT, "BTCUSDT", Side.SELL,
                                OrderType.STOP_MARKET, qty=100, qty_prec=5, stop_price=1, price_prec=2))


def test_signed_call_without_credentials_fails_before_sending():
    api = _orders()
    order = Order("c", "binance", MarketType.USDM, "BTCUSDT", Side.BUY, OrderType.MARKET, qty=5, qty_prec=3)
    with pytest.raises(AuthError, match="no API credentials"):
        asyncio.run(api.place(order))
    assert api.rest.requests == 0


# --------------------------------------------------------------- rate limiter
class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def test_limiter_waits_for_the_next_window_instead_of_exceeding():
    clock = FakeClock(60 * 16_667 + 20.0)           # 20 s into a minute window
    lim = WeightLimiter(100, safety=0.9, clock=clock, sleep=clock.sleep)

    async def run():
        for _ in range(4):
            await lim.acquire(20)                    # 80 of a 90 budget
        assert clock.slept == []
        await lim.acquire(20)                        # would be 100 > 90: wait for the next minute
    asyncio.run(run())
    assert len(clock.slept) == 1 and 40.0 < clock.slept[0] < 40.2
    assert lim.used == 20 and lim.waits == 1


def test_limiter_trusts_the_exchange_header_and_retry_after():
    clock = FakeClock(600.0)
    lim = WeightLimiter(1200, clock=clock, sleep=clock.sleep)
    lim.observe(1065)                                # another process spent weight on our IP
    assert lim.delay_for(10) == 0 and lim.delay_for(50) > 0
    lim.block(7.5)
    assert lim.delay_for(1) == pytest.approx(7.5)
    asyncio.run(lim.acquire(1))
    assert clock.slept[0] == pytest.approx(7.5)


def test_limiter_admits_a_heavy_request_into_an_empty_window():
    clock = FakeClock(0.0)
    lim = WeightLimiter(100, clock=clock, sleep=clock.sleep)
    assert lim.delay_for(250) == 0


# --------------------------------------------------------------- backoff
def test_backoff_grows_with_jitter_caps_and_resets():
    b = Backoff(0.5, 8.0, rng=random.Random(7))
    delays = [b.next_delay() for _ in range(12)]
    ceilings = [min(8.0, 0.5 * 2 ** n) for n in range(12)]
    assert all(0.25 <= d <= c for d, c in zip(delays, ceilings))
    assert max(delays[6:]) <= 8.0 and len(set(delays)) == 12        # jittered, never equal
    assert sum(delays[6:]) > sum(delays[:6])
    b.reset()
    assert b.next_delay() <= 0.5


def test_backoff_rejects_nonsense():
    with pytest.raises(ValueError):
        Backoff(5, 1)


# --------------------------------------------------------------- timeframes
def test_timeframes_round_trip_and_refuse_unsupported():
    for market in (MarketType.SPOT, MarketType.USDM):
        for tf in TIMEFRAMES.supported(market):
            assert TIMEFRAMES.from_exchange(TIMEFRAMES.to_exchange(tf, market)) == tf
    assert TIMEFRAMES.to_exchange(Timeframe.H4, MarketType.USDM) == "4h"
    with pytest.raises(ConnectorConfigError, match="no 1s klines"):
        TIMEFRAMES.to_exchange(Timeframe.S1, MarketType.USDM)
    with pytest.raises(ConnectorConfigError, match="no 5s klines"):
        TIMEFRAMES.to_exchange(Timeframe.S5, MarketType.SPOT)


# --------------------------------------------------------------- user data + REST orders
PREC = {"BTCUSDT": (2, 5)}


def test_parse_rounded():
    assert parse_rounded("61820.12645678", 2) == 6182013
    assert parse_rounded("-0.00001234", 6) == -12
    assert parse_rounded("61820.10", 2) == 6182010
    with pytest.raises(ValueError):
        parse_rounded("abc", 2)


def test_spot_execution_report_trade_gives_update_and_fill():
    # Field set as documented for the spot executionReport event.
    ev = {"e": "executionReport", "E": 1499405658658, "s": "BTCUSDT", "c": "mUvoqJxFIILMdfAW5iGSOW",
          "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "1.00000000", "p": "61000.00000000",
          "x": "TRADE", "X": "PARTIALLY_FILLED", "r": "NONE", "i": 4293153, "l": "0.25000000",
          "z": "0.25000000", "L": "61000.00000000", "n": "0.00025000", "N": "BTC", "T": 1499405658657,
          "t": 77, "m": False, "Z": "15250.00000000", "C": ""}
    update, fill = user_event(ev, MarketType.SPOT, PREC)
    assert isinstance(update, OrderUpdate) and isinstance(fill, Fill)
    assert (update.client_order_id, update.status, update.filled_qty, update.avg_price) == (
        "mUvoqJxFIILMdfAW5iGSOW", OrderStatus.PARTIALLY_FILLED, 25000, 6100000)
    assert (fill.trade_id, fill.price, fill.qty, fill.fee, fill.fee_asset, fill.is_maker) == (
        77, 6100000, 25000, 25000, "BTC", False)


def test_spot_cancel_reports_the_original_client_id():
    ev = {"e": "executionReport", "s": "BTCUSDT", "c": "cancel-req", "C": "orig-id", "S": "SELL",
          "x": "CANCELED", "X": "CANCELED", "i": 9, "z": "0.00000000", "Z": "0.00000000", "T": 1}
    (update,) = user_event(ev, MarketType.SPOT, PREC)
    assert update.client_order_id == "orig-id" and update.status == OrderStatus.CANCELED


def test_usdm_order_trade_update_and_account_update():
    prec = {"BTCUSDT": (1, 3)}
    otu = {"e": "ORDER_TRADE_UPDATE", "E": 1568879465651, "T": 1568879465650, "o": {
        "s": "BTCUSDT", "c": "TEST", "S": "SELL", "o": "MARKET", "q": "0.001", "p": "0", "ap": "9356.66667",
        "x": "TRADE", "X": "FILLED", "i": 8886774, "l": "0.001", "z": "0.001", "L": "9356.7",
        "N": "USDT", "n": "0.00374268", "T": 1568879465650, "t": 42, "m": False, "R": False}}
    update, fill = user_event(otu, MarketType.USDM, prec)
    assert (update.status, update.avg_price, fill.price, fill.qty, fill.side) == (
        OrderStatus.FILLED, 93567, 93567, 1, Side.SELL)
    acct = {"e": "ACCOUNT_UPDATE", "E": 1, "T": 1, "a": {"m": "ORDER", "B": [
        {"a": "USDT", "wb": "122624.12345678", "cw": "100.12345678", "bc": "50.12345678"}], "P": [
        {"s": "BTCUSDT", "pa": "-0.020", "ep": "9356.66667", "cr": "200", "up": "-1.5", "mt": "cross",
         "iw": "0", "ps": "BOTH"}]}}
    wallet, position = user_event(acct, MarketType.USDM, prec)
    assert isinstance(wallet, AccountEvent) and wallet.asset == "USDT"
    assert isinstance(position, Position)
    assert (position.direction, position.qty, position.entry_price, position.unrealized_pnl) == (
        Direction.SHORT, 20, 93567, -1.5)


def test_rest_order_bodies():
    spot = {"symbol": "BTCUSDT", "orderId": 28, "clientOrderId": "abc", "transactTime": 1507725176595,
            "price": "0.00000000", "origQty": "10.00000000", "executedQty": "0.50000000",
            "cummulativeQuoteQty": "30900.01500000", "status": "PARTIALLY_FILLED"}
    u = order_update_from_rest(spot, 2, 5)
    assert (u.exchange_order_id, u.filled_qty, u.avg_price, u.exch_ts_ns) == (
        "28", 50000, 6180003, 1507725176595 * 1_000_000)
    usdm = {"symbol": "BTCUSDT", "orderId": 22542179, "clientOrderId": "x", "avgPrice": "0.00000",
            "executedQty": "0", "status": "NEW", "updateTime": 1566818724722}
    assert order_update_from_rest(usdm, 1, 3).status == OrderStatus.NEW

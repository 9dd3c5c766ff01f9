"""The indicator catalog the rule compiler reads agrees with the classes of both
backends, fills and checks parameters, and says the warm-up."""
import pytest

from barfinex import backend
from barfinex.indicator_catalog import BAR_FIELDS, CATALOG, Param, build

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_entries_agree_with_both_backends(name):
    spec = CATALOG[name]
    assert spec.name == name == name.lower() and "\n" not in spec.doc
    assert set(spec.bar_inputs) <= set(BAR_FIELDS)
    assert spec.outputs and len(set(spec.outputs)) == len(spec.outputs)
    for p in spec.params:
        assert p.kind in (int, float)
        if p.default is not None:
            assert p.check(name, p.default) == p.default
    params = {p.name: (p.default if p.default is not None else 7) for p in spec.params}
    for be in backend.BACKENDS:
        cls = getattr(backend.load("indicators", be), spec.cls_name)
        ind = cls(*params.values())                      # positional order is the catalog's
        assert (ind.n_in, ind.n_out) == (spec.n_in, spec.n_out)
        assert all(getattr(ind, k) == v for k, v in params.items())
        assert type(build(name, params, be)) is cls


def test_language_signatures():
    sig = {name: (s.series, s.bar_inputs, tuple(p.name for p in s.params), s.outputs)
           for name, s in CATALOG.items()}
    assert sig["sma"] == (("x",), (), ("n",), ("value",))
    assert sig["atr"] == ((), ("high", "low", "close"), ("n",), ("value",))
    assert sig["macd"] == (("x",), (), ("fast", "slow", "signal"), ("macd", "signal", "hist"))
    assert sig["bollinger"][2:] == (("n", "k"), ("mid", "upper", "lower"))
    assert sig["adx"][3] == ("adx", "plus_di", "minus_di")
    assert sig["stoch"][1:] == (("high", "low", "close"), ("n", "smooth_k", "d"), ("k", "d"))
    assert sig["donchian"][1:] == (("high", "low"), ("n",), ("upper", "lower", "mid"))
    assert sig["mfi"][1] == ("high", "low", "close", "volume")
    assert sig["vwap"][1] == ("quote_volume", "volume")
    assert sig["obv"] == ((), ("close", "volume"), (), ("value",))
    assert sorted(CATALOG) == sorted(["sma", "ema", "wma", "rsi", "atr", "adx", "macd", "bollinger",
                                      "donchian", "stoch", "cci", "mfi", "obv", "vwap", "zscore", "roc",
                                      "highest", "lowest", "stdev"])


def test_warmups():
    w = {name: s.warmup({p.name: 10 for p in s.params if p.default is None}) for name, s in CATALOG.items()}
    assert w == {"sma": 10, "ema": 10, "wma": 10, "rsi": 15, "atr": 15, "adx": 28, "macd": 34,
                 "bollinger": 20, "donchian": 20, "stoch": 16, "cci": 20, "mfi": 15, "obv": 1,
                 "vwap": 10, "zscore": 20, "roc": 11, "highest": 10, "lowest": 10, "stdev": 10}
    assert CATALOG["stoch"].warmup({"n": 5, "smooth_k": 3, "d": 4}) == 10
    assert CATALOG["macd"].warmup({"fast": 3, "slow": 5, "signal": 2}) == 6


def test_resolve_fills_defaults_and_refuses_what_it_does_not_know():
    assert CATALOG["macd"].resolve({"slow": 30}) == {"fast": 12, "slow": 30, "signal": 9}
    assert CATALOG["bollinger"].resolve({"k": 1}) == {"n": 20, "k": 1.0}
    with pytest.raises(ValueError, match=r"sma: parameter n is required"):
        CATALOG["sma"].resolve({})
    with pytest.raises(ValueError, match=r"rsi: unknown parameter 'length' \(parameters: n\)"):
        CATALOG["rsi"].resolve({"length": 3})
    with pytest.raises(ValueError, match=r"obv: unknown parameter 'n' \(parameters: none\)"):
        CATALOG["obv"].resolve({"n": 3})
    with pytest.raises(ValueError, match=r"macd: fast \(9\) must be < slow \(9\)"):
        CATALOG["macd"].resolve({"fast": 9, "slow": 9})
    with pytest.raises(ValueError, match=r"unknown indicator 'kama'"):
        build("kama", {})


@pytest.mark.parametrize("value, ok", [(3, True), (True, False), (2.0, False), ("3", False),
                                       (0, False), (100_001, False), (100_000, True)])
def test_integer_parameters(value, ok):
    p = CATALOG["sma"].params[0]
    if ok:
        assert p.check("sma", value) == value
    else:
        with pytest.raises(ValueError, match=r"sma: n must be an integer in \[1, 100000\]"):
            p.check("sma", value)


def test_float_parameters():
    p = Param("k", float, 2.0, 0.0, None, "width")
    assert p.check("bollinger", 1) == 1.0 and isinstance(p.check("bollinger", 1), float)
    for bad in (-0.5, float("nan"), float("inf"), "2", None, True):
        with pytest.raises(ValueError, match=r"bollinger: k must be a number in \[0, inf\]"):
            p.check("bollinger", bad)

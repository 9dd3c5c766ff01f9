"""Lifecycle table and sequence tracking: pure logic."""
import pytest

from barfinex.bus.subscriber import SequenceTracker
from barfinex.model import ActorState as S
from barfinex.runtime.lifecycle import InvalidTransition, Lifecycle, Trigger

pytestmark = pytest.mark.unit


def test_lifecycle_happy_path_and_refusals():
    seen = []
    lc = Lifecycle(lambda old, new: seen.append((old, new)))
    for trig in (Trigger.START, Trigger.STARTED, Trigger.STOP, Trigger.STOPPED):
        lc.fire(trig)
    assert lc.state == S.STOPPED
    assert seen[0] == (S.INIT, S.STARTING) and seen[-1] == (S.STOPPING, S.STOPPED)
    with pytest.raises(InvalidTransition, match="start is not allowed in state STOPPED"):
        lc.fire(Trigger.START)


def test_fault_while_starting_can_still_stop():
    lc = Lifecycle()
    lc.fire(Trigger.START)
    lc.fire(Trigger.FAULT)
    assert lc.state == S.FAULTED and lc.can(Trigger.STOP) and not lc.can(Trigger.STARTED)


A, B = b"A" * 8, b"B" * 8


def test_gap_is_counted_and_reported():
    gaps = []
    t = SequenceTracker(gaps.append)
    assert all(t.check(b"p", b"T", s, A) for s in (1, 2, 3))
    assert t.check(b"p", b"T", 7, A)
    assert (t.gaps, t.missing) == (1, 3)
    assert (gaps[0].expected_seq, gaps[0].got_seq, gaps[0].missing) == (4, 7, 3)


def test_duplicates_dropped_and_topics_independent():
    t = SequenceTracker()
    assert t.check(b"p", b"T1", 1, A) and t.check(b"p", b"T2", 1, A)
    assert t.check(b"p", b"T1", 2, A)
    assert not t.check(b"p", b"T1", 2, A)
    assert not t.check(b"p", b"T1", 1, A)
    assert t.duplicates == 2 and t.gaps == 0


def test_publisher_restart_is_not_a_gap_even_if_its_first_messages_were_lost():
    t = SequenceTracker()
    for s in range(1, 50):
        t.check(b"p", b"T", s, A)
    assert t.check(b"p", b"T", 3, B)   # new instance id, seq 1-2 lost to the slow joiner
    assert t.check(b"p", b"T", 4, B)
    assert (t.restarts, t.gaps, t.duplicates) == (1, 0, 0)


def test_late_joiner_takes_the_first_seq_as_its_baseline():
    t = SequenceTracker()
    assert t.check(b"p", b"T", 1000, A) and t.check(b"p", b"T", 1001, A)
    assert t.gaps == 0


def test_from_dict_builds_wire_structs_and_names_bad_fields():
    from barfinex.model import MarketType, Order
    from barfinex.model.codec import from_dict
    base = {"client_order_id": "a", "connector": "binance", "market": 2, "symbol": "BTCUSDT",
            "side": 1, "type": 1, "qty": 10, "qty_prec": 3}
    order = from_dict(Order, base)
    assert order.market == MarketType.USDM and order.price == 0 and order.reduce_only is False
    with pytest.raises(ValueError, match="unknown field.*colour"):
        from_dict(Order, {**base, "colour": 1})
    with pytest.raises(ValueError, match="missing field 'qty'"):
        from_dict(Order, {k: v for k, v in base.items() if k != "qty"})
    with pytest.raises(ValueError, match=r"Order.market: Invalid enum value 9"):
        from_dict(Order, {**base, "market": 9})

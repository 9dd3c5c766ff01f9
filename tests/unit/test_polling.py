"""The adaptive spin window (poll: spin): grows when a longer spin would have
caught an event, halves to 0 (plain epoll) on a sparse stream, never passes
its cap."""
import pytest

from barfinex.runtime.polling import MIN_WINDOW_NS, AdaptiveSpin

pytestmark = pytest.mark.unit

US = 1_000


def test_starts_at_the_cap_and_a_sparse_stream_brings_it_to_zero():
    spin = AdaptiveSpin(100 * US)
    assert spin.window_ns == 100 * US
    seen = []
    for _ in range(10):
        spin.woke_after(60_000_000)         # a trade every 60 ms: spinning is wasted
        seen.append(spin.window_ns)
    assert seen[:4] == [50 * US, 25 * US, 12_500, 6_250]
    assert seen[4:] == [0] * 6              # idle actor: epoll only, no CPU burnt
    assert spin.shrinks == 5                # no more halving once it is 0


def test_gaps_a_longer_spin_would_cover_grow_it_back_to_the_cap():
    spin = AdaptiveSpin(100 * US)
    for _ in range(8):
        spin.woke_after(10 * 1_000_000)
    assert spin.window_ns == 0
    windows = []
    for _ in range(8):
        spin.woke_after(90 * US)           # a round trip here: within the cap
        windows.append(spin.window_ns)
    assert windows[0] == MIN_WINDOW_NS
    assert windows[-1] == 100 * US and max(windows) == 100 * US
    assert windows == sorted(windows)


def test_gaps_inside_the_window_change_nothing():
    spin = AdaptiveSpin(100 * US)
    spin.woke_after(30 * US)
    spin.woke_after(100 * US)               # exactly the cap: still covered
    assert (spin.window_ns, spin.grows, spin.shrinks) == (100 * US, 0, 0)


def test_cap_must_be_at_least_a_microsecond():
    with pytest.raises(ValueError):
        AdaptiveSpin(999)

"""Row 4's p50 and p99 over all of a side's windows, from each window's percentiles alone.

wrk reports a window's latencies as percentiles on ``QUANTILE_GRID``, not one by one, so
``bench.http.pooled_percentile`` works the pooled percentile out from those. These check it
against the exact percentile of all the latencies together: never below it, and above it
by no more than the grid allows.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from bench.http import QUANTILE_GRID, Load, nearest_rank, pooled_percentile


def _window(latencies: Sequence[float]) -> Load:
    ordered = sorted(latencies)
    return Load(rate=0.0, p50=0.0, p99=0.0, cpu_per_request=0.0, errors=0, first_error=None,
                requests=len(ordered),
                quantiles=tuple(nearest_rank(ordered, p) for p in QUANTILE_GRID))


def _exact(windows: Sequence[Sequence[float]], p: float) -> float:
    return nearest_rank(sorted(x for window in windows for x in window), p)


def test_nearest_rank_is_wrks_percentile() -> None:
    latencies = [float(n) for n in range(1, 101)]  # 1 .. 100

    assert nearest_rank(latencies, 50) == 51.0  # wrk: rank round(50 + 0.5) = 51
    assert nearest_rank(latencies, 99) == 100.0
    assert nearest_rank(latencies, 99.99) == 100.0
    assert nearest_rank(latencies, 100) == 100.0
    assert nearest_rank([7.0], 99) == 7.0


def test_a_stall_in_one_window_counts_once_among_all_the_requests() -> None:
    # Three windows of 1,000 requests at 30-39 ms; the first also has 20 stalled at 300 ms.
    # 20 of 3,000 is under 1%: the pooled p99 is a normal request's, while that window's
    # own p99 is the stall.
    steady = [30.0 + n % 10 for n in range(1_000)]
    stalled = steady[20:] + [300.0] * 20
    windows = [stalled, steady, steady]

    assert _window(stalled).quantiles[QUANTILE_GRID.index(99.0)] == 300.0
    assert pooled_percentile([_window(w) for w in windows], 99) == 39.0
    assert pooled_percentile([_window(w) for w in windows], 99) == _exact(windows, 99)


def test_a_stall_longer_than_one_percent_of_all_the_requests_sets_the_p99() -> None:
    steady = [30.0 + n % 10 for n in range(1_000)]
    stalled = steady[40:] + [300.0] * 40  # 40 of 3,000: more than 1%
    windows = [stalled, steady, steady]

    assert pooled_percentile([_window(w) for w in windows], 99) == 300.0 == _exact(windows, 99)


latency_lists = st.lists(st.floats(min_value=0.1, max_value=2_000.0), min_size=1,
                         max_size=3_000)


@given(st.lists(latency_lists, min_size=1, max_size=4),
       st.sampled_from([50.0, 90.0, 99.0, 99.9]))
def test_the_pooled_percentile_is_never_below_the_exact_one_nor_far_above(
    windows: list[list[float]], p: float,
) -> None:
    pooled = pooled_percentile([_window(w) for w in windows], p)

    assert pooled >= _exact(windows, p)
    # The grid steps by at most one percent: no window can put more than that share of its
    # requests on the wrong side, however unlike the others it is.
    assert pooled <= _exact(windows, min(p + 1.0, 100.0))


@given(st.lists(st.floats(min_value=1.0, max_value=500.0), min_size=100, max_size=3_000),
       st.integers(min_value=1, max_value=4))
def test_for_windows_alike_the_pooled_p99_is_within_a_hundredth_of_a_percent(
    latencies: list[float], copies: int,
) -> None:
    windows = [latencies] * copies

    pooled = pooled_percentile([_window(w) for w in windows], 99)

    assert _exact(windows, 99) <= pooled <= _exact(windows, 99.01)

"""The benchmark's arithmetic: percentiles, medians and ratios (no benchmark is run)."""

from __future__ import annotations

import pytest

from bench.stats import latency_summary, median, percentile, ratio_of_rounds


def test_percentiles_are_observed_samples_by_nearest_rank() -> None:
    samples = list(range(1, 101))  # 1..100, shuffled order does not matter
    assert percentile(list(reversed(samples)), 50) == 50
    assert percentile(samples, 99) == 99
    assert percentile(samples, 99.9) == 100
    assert percentile(samples, 100) == 100
    assert percentile([7.0], 99.9) == 7.0
    assert percentile(list(range(1, 1001)), 99.9) == 999
    assert percentile([1, 2, 3, 4], 50) == 2


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], 0)


def test_median_of_odd_and_even_counts() -> None:
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    with pytest.raises(ValueError, match="no values"):
        median([])


def test_latency_summary_is_in_milliseconds() -> None:
    summary = latency_summary([0.001 * n for n in range(1, 1001)])
    assert summary["n"] == 1000
    assert summary["p50"] == pytest.approx(500)
    assert summary["p99"] == pytest.approx(990)
    assert summary["p999"] == pytest.approx(999)
    assert summary["max"] == pytest.approx(1000)
    assert latency_summary([]) == {"n": 0}


def test_ratio_is_the_median_of_per_round_ratios() -> None:
    # Round 2 ran on a slow machine: both sides slowed, its ratio is still 0.5.
    assert ratio_of_rounds([100, 10, 120], [200, 20, 200]) == 0.5
    assert ratio_of_rounds([1.0], [0.0]) is None


def test_diamonds_follow_the_published_share_rounded_half_up() -> None:
    from fractions import Fraction

    from bench.checks import diamonds_half_up

    half = Fraction(1, 2)
    assert diamonds_half_up(1, half) == 1  # a 1-coin rose still earns a diamond
    assert diamonds_half_up(3, half) == 2
    assert diamonds_half_up(10, half) == 5
    assert diamonds_half_up(7, Fraction(1, 3)) == 2
    assert diamonds_half_up(5, Fraction(3, 10)) == 2

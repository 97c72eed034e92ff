"""Percentiles and medians for the benchmark: small, exact and tested (tests/bench/).

Percentiles use the nearest-rank method: the reported value is always one that was
observed, never an interpolation between two samples. With n samples, p99.9 is the
largest sample whenever n < 1,000, which the report says by printing n.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction


def percentile(samples: Sequence[float], p: float) -> float:
    """The smallest sample with at least ``p`` percent of the samples at or below it."""
    if not samples:
        raise ValueError("no samples")
    if not 0 < p <= 100:
        raise ValueError(f"a percentile is in (0, 100], not {p}")
    ordered = sorted(samples)
    # Exact: 99.9 % of 1,000 samples is rank 999, where floats would say 999.0000000000001.
    rank = math.ceil(Fraction(str(p)) * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]


def median(values: Sequence[float]) -> float:
    """The middle value; the mean of the two middle values for an even count."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def latency_summary(samples_s: Sequence[float]) -> dict[str, float | int]:
    """Milliseconds: p50, p90, p99, p99.9, max and mean of latencies given in seconds."""
    if not samples_s:
        return {"n": 0}
    ms = [s * 1000 for s in samples_s]
    return {
        "n": len(ms),
        "p50": round(percentile(ms, 50), 3),
        "p90": round(percentile(ms, 90), 3),
        "p99": round(percentile(ms, 99), 3),
        "p999": round(percentile(ms, 99.9), 3),
        "max": round(max(ms), 3),
        "mean": round(sum(ms) / len(ms), 3),
    }


def ratio_of_rounds(numerators: Sequence[float], denominators: Sequence[float]) -> float | None:
    """The median of per-round ratios: each pair was measured minutes apart at most, so a
    slow spell of the shared machine hits both sides of a ratio alike."""
    pairs = [(a, b) for a, b in zip(numerators, denominators, strict=True) if b]
    if not pairs:
        return None
    return median([a / b for a, b in pairs])

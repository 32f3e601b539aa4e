"""The statistics of the package: the percentiles it reports, how they are computed, and a safe mean.

Every p50/p95/p99 that zgen_otel shows (``performance.get_performance_stats``, the ``performance`` and
``llm`` dashboards) comes from here: `nearest_rank` over raw values when they are all at hand,
`bucket_quantile` over histogram bucket counts when they are not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["QUANTILES", "Bucket", "bucket_quantile", "mean", "nearest_rank", "weighted_percentiles"]

#: A rolled-up bucket of a stored series: its (min, max, sum, count).
Bucket = tuple[float, float, float, float]

#: The quantiles reported everywhere as p50, p95 and p99, in that order.
QUANTILES: tuple[float, ...] = (0.5, 0.95, 0.99)


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted values by the nearest-rank method: always one of the values.

    Args:
        ordered: the values, sorted ascending; not empty.
        q: the quantile, 0 to 1 (0.95 for p95).

    Returns:
        The value at rank ``ceil(q * n)`` (the smallest value for ``q = 0``).
    """
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def bucket_quantile(counts: Sequence[int], bounds: Sequence[float], q: float, observed_max: float) -> float:
    """The ``q`` quantile of a histogram, interpolated inside its bucket (like PromQL's ``histogram_quantile``).

    Args:
        counts: observations per bucket: ``len(bounds) + 1`` counts, the last for values above every bound.
        bounds: the buckets' upper bounds, ascending; the first bucket starts at 0.
        q: the quantile, 0 to 1.
        observed_max: the largest observation: the upper end of the last bucket, and a cap on the result.

    Returns:
        The interpolated value, never above ``observed_max`` (``observed_max`` when the counts are all 0).
    """
    target = q * sum(counts)
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= target:
            lower = bounds[i - 1] if i else 0.0
            upper = bounds[i] if i < len(bounds) else observed_max
            return min(lower + (upper - lower) * (target - seen) / n, observed_max)
        seen += n
    return observed_max


def mean(values: Sequence[float]) -> float:
    """The mean of finite, non-empty values, also when their sum passes the float range (values near 1.8e308)."""
    n = len(values)
    total = sum(values)
    return total / n if math.isfinite(total) else sum(v / n for v in values)


def weighted_percentiles(raw: Sequence[float], buckets: Sequence[Bucket], qs: tuple[float, ...]) -> list[float]:
    """Percentiles of a stored window: raw values plus rolled-up buckets, each bucket's mean weighted by its count.

    With raw values only, these are exact `nearest_rank` percentiles.
    """
    if not buckets:
        ordered = sorted(raw)
        return [nearest_rank(ordered, q) for q in qs]
    weighted = sorted([(v, 1.0) for v in raw] + [(b[2] / b[3], b[3]) for b in buckets])
    total = sum(w for _, w in weighted)
    out = []
    for q in qs:
        target, acc = q * total, 0.0
        for v, w in weighted:
            acc += w
            if acc >= target:
                out.append(v)
                break
        else:
            out.append(weighted[-1][0])
    return out

"""Statistics on the counts: rates and their 95 % Wilson score intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The 97.5th percentile of the standard normal distribution.
Z95 = 1.959963984540054


def wilson(successes, trials, z: float = Z95) -> tuple:
    """Rate, lower and upper bounds of the Wilson score interval; NaN where ``trials`` is 0.
    Arrays in, arrays out; Series in, Series out (indexed like ``successes``). (On the
    arrays: a table's rows are few, and pandas' own operations cost more than the
    arithmetic.)"""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    n = np.where(n > 0, n, np.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    bounds = (p, np.maximum(centre - half, 0.0), np.minimum(centre + half, 1.0))
    if isinstance(successes, pd.Series):
        return tuple(pd.Series(b, index=successes.index) for b in bounds)
    return bounds


def newcombe(p1, low1, high1, p2, low2, high2) -> tuple:
    """``p1 - p2`` and Newcombe's hybrid score interval from the two intervals:
    ``(p1 - p2) ∓ √((p1 - l1)² + (u2 - p2)²)`` below, ``√((u1 - p1)² + (p2 - l2)²)`` above.
    NaN wherever a rate or a bound is missing. Series in, Series out (indexed like ``p1``);
    numbers in, numbers out."""
    index = p1.index if isinstance(p1, pd.Series) else None
    p1, low1, high1, p2, low2, high2 = (
        np.asarray(pd.to_numeric(s, errors="coerce"), dtype=float)
        for s in (p1, low1, high1, p2, low2, high2))
    delta = p1 - p2
    below = np.sqrt((p1 - low1) ** 2 + (high2 - p2) ** 2)
    above = np.sqrt((high1 - p1) ** 2 + (p2 - low2) ** 2)
    bounds = (delta, delta - below, delta + above)
    if index is None:
        return tuple(float(b) for b in bounds)
    return tuple(pd.Series(b, index=index) for b in bounds)


def poisson_change_significant(now: int, before: int, z: float = Z95) -> bool | None:
    """Whether two counts differ beyond noise: given their sum, ``now`` is binomial with
    probability ½ if both come from the same rate; significant when the Wilson interval of
    ``now / (now + before)`` excludes ½. None when both are 0."""
    total = now + before
    if total <= 0:
        return None
    _, low, high = wilson(np.array([now]), np.array([total]), z)
    return bool(low[0] > 0.5 or high[0] < 0.5)


def funnel_half_width(overall: float, trials, z: float = Z95):
    """Half the width of a funnel plot's control limits at ``trials`` (binomial, around the
    overall rate): a unit further from the overall rate is outside them."""
    return z * np.sqrt(overall * (1 - overall) / np.asarray(trials, dtype=float))


def outside_funnel(rates: pd.Series, trials: pd.Series, overall: float,
                   z: float = Z95) -> pd.Series:
    """Which units (training providers) lie outside the funnel plot's limits at ``z``: their
    rate differs from the overall rate more than chance explains at their volume."""
    half = funnel_half_width(overall, trials, z)
    return (rates.astype(float) - overall).abs() > half

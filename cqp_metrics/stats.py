"""Statistics on the counts: rates and their 95 % Wilson score intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The 97.5th percentile of the standard normal distribution.
Z95 = 1.959963984540054


def wilson(successes: pd.Series, trials: pd.Series, z: float = Z95) -> tuple[pd.Series, ...]:
    """Rate, lower and upper bounds of the Wilson score interval; NaN where ``trials`` is 0."""
    k = successes.astype(float)
    n = trials.astype(float).where(trials > 0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return p, (centre - half).clip(lower=0.0), (centre + half).clip(upper=1.0)

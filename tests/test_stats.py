"""Wilson score interval against an independent computation (roots of its quadratic)."""

import numpy as np
import pandas as pd
import pytest

from cqp_metrics.stats import Z95, wilson


@pytest.mark.parametrize("k,n", [(0, 5), (3, 5), (5, 5), (60, 100), (1, 1000), (999, 1000)])
def test_wilson_bounds_are_the_roots_of_the_score_equation(k, n):
    p_hat = k / n
    # (p_hat - p)^2 = z^2 p (1 - p) / n  <=>  a p^2 + b p + c = 0
    a = 1 + Z95**2 / n
    b = -(2 * p_hat + Z95**2 / n)
    c = p_hat**2
    low, high = sorted(np.roots([a, b, c]).real)
    rate, lo, hi = (s.iloc[0] for s in wilson(pd.Series([k]), pd.Series([n])))
    assert rate == pytest.approx(p_hat)
    assert lo == pytest.approx(max(low, 0.0), abs=1e-9)
    assert hi == pytest.approx(min(high, 1.0), abs=1e-9)


def test_an_empty_denominator_gives_no_rate():
    rate, low, high = wilson(pd.Series([0]), pd.Series([0]))
    assert rate.isna().all() and low.isna().all() and high.isna().all()

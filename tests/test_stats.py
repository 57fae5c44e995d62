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


def _roots(k: int, n: int) -> tuple[float, float]:
    p_hat = k / n
    low, high = sorted(np.roots([1 + Z95**2 / n, -(2 * p_hat + Z95**2 / n), p_hat**2]).real)
    return max(low, 0.0), min(high, 1.0)


def test_version_changes_put_both_intervals_beside_the_difference_and_its_own_interval():
    from cqp_metrics.render import version_changes

    (l1, h1), (l2, h2) = _roots(30, 50), _roots(40, 50)
    blocks = pd.DataFrame({
        "referential_version": ["2019", "2023", "2019", "2023"],
        "block_code": ["B1", "B1", "B2", "B2"],
        "block_pass_rate": [0.6, 0.8, np.nan, 0.5],
        "block_pass_rate_low": [l1, l2, np.nan, 0.3],
        "block_pass_rate_high": [h1, h2, np.nan, 0.7]})
    table = version_changes(blocks)
    first = table.iloc[0]
    assert (first["Bloc"], first["Version avant"], first["Version après"]) == ("B1", "2019",
                                                                               "2023")
    # Newcombe by hand: 0.8 - 0.6, minus sqrt((0.8 - l2)² + (h1 - 0.6)²), plus the mirror.
    low = 0.2 - np.sqrt((0.8 - l2) ** 2 + (h1 - 0.6) ** 2)
    high = 0.2 + np.sqrt((h2 - 0.8) ** 2 + (0.6 - l1) ** 2)
    fr = lambda v: f"{v * 100:+.1f}".replace(".", ",")  # noqa: E731
    assert first["Écart (IC 95 %, Newcombe)"].startswith(f"+20,0 pt [{fr(low)} ; {fr(high)}]")
    assert first["Écart (IC 95 %, Newcombe)"].endswith(
        "significatif" if low > 0 else "dans la marge d'incertitude")
    assert first["Taux avant (IC 95 %)"].startswith("60,0") and "[" in first["Taux avant (IC 95 %)"]
    assert f"{h2 * 100:.1f}".replace(".", ",") in first["Taux après (IC 95 %)"]
    second = table.iloc[1]
    assert second["Taux avant (IC 95 %)"] == "secret"
    assert second["Écart (IC 95 %, Newcombe)"] == "non calculable"

"""Correcting survey rates for non-response by raking, on aggregated counts.

The respondents of a survey are weighted so that, for each margin (CQP, pathway, sex, age
band), the weighted respondents of every category add up to the surveyed population of that
category: iterative proportional fitting (Deming & Stephan 1940), the calibration INSEE and
the DARES use for their insertion surveys. The database gives the counts per combination of
the margins' categories (a cell); every respondent of a cell gets the cell's weight. A
rate's interval then uses Kish's effective size, (Σw)² / Σw², which falls as the weights
spread. A plain IPF on a few hundred cells needs no library (``balance`` would bring
scikit-learn and statsmodels for it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: When the weighted margins are this close to their targets (relative), raking stops.
TOLERANCE = 1e-10
ITERATIONS = 500


def rake(cells: pd.DataFrame, margins: Sequence[str], respondents: str,
         population: str) -> np.ndarray:
    """The weight of a respondent of each cell (a row of ``cells``: one combination of the
    ``margins``' categories, with its counts of ``respondents`` and of the ``population``),
    such that for every margin the weighted respondents of each category add up to the
    population of that category. A category with no respondent at all cannot be reached:
    the population of its cells is left out of every margin, so that the margins still add
    up to one total. Where the margins cannot all be reached at once (a small promotion,
    whose few respondents leave combinations empty), the last margins are given up one by
    one (age band, then sex, then pathway) until they can. Cells without respondents get
    the weight 0."""
    return rake_codes([categories(cells[m]) for m in margins],
                      cells[respondents].to_numpy(dtype=float),
                      cells[population].to_numpy(dtype=float))


def categories(values: pd.Series) -> np.ndarray:
    """A margin's category of each cell, as a code (a missing value is a category)."""
    return pd.factorize(values.astype(object).where(values.notna(), "\0missing"))[0]


def rake_codes(codes: Sequence[np.ndarray], counts: np.ndarray,
               targets: np.ndarray) -> np.ndarray:
    """:func:`rake` on the margins' :func:`categories` of the cells (codes of a larger
    table's cells may be given for some of them: a group raked alone)."""
    if not counts.sum():
        return np.zeros(len(counts))
    for kept in range(len(codes), 0, -1):
        weights, reached = _fit(list(codes[:kept]), counts, targets)
        if reached:
            return weights
    return weights


def _fit(codes_of: list[np.ndarray], counts: np.ndarray,
         targets: np.ndarray) -> tuple[np.ndarray, bool]:
    """Iterative proportional fitting on these margins: the weights, and whether every
    reachable category's target was met."""
    reached = np.ones(len(counts), dtype=bool)
    for codes in codes_of:
        reached &= (np.bincount(codes, weights=counts) > 0)[codes]
    targets = np.where(reached, targets, 0.0)
    groups = []
    for codes in codes_of:
        wanted = np.bincount(codes, weights=targets)
        has = np.bincount(codes, weights=counts) > 0
        groups.append((codes, wanted, has))
    weights = np.where(counts > 0, 1.0, 0.0)
    for _ in range(ITERATIONS):
        worst = 0.0
        for codes, wanted, has in groups:
            current = np.bincount(codes, weights=weights * counts, minlength=len(wanted))
            factor = np.ones_like(wanted)
            factor[has] = wanted[has] / current[has]
            worst = max(worst, float(np.abs(factor[has] - 1).max(initial=0.0)))
            weights = weights * factor[codes]
        if worst < TOLERANCE:
            return weights, True
    return weights, False


def kish(weights: np.ndarray, counts: np.ndarray) -> float:
    """Kish's effective size of ``counts`` units weighted ``weights`` each: (Σw)² / Σw²."""
    total = float(np.sum(weights * counts))
    squares = float(np.sum(weights ** 2 * counts))
    return total * total / squares if squares > 0 else 0.0

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
#: Every this many iterations, a group whose pace over the last ones would leave it
#: :data:`PACE_SLACK` times the tolerance away or more at :data:`ITERATIONS` stops being
#: waited for (it is not reached: a margin it cannot reach stalls it at once, where a
#: group that can converges at a steady pace).
PACE_WINDOW = 25
PACE_SLACK = 1e4


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
    return pd.factorize(values, use_na_sentinel=False)[0]


def groups_of(keys: Sequence[pd.Series], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's group by the values of ``keys`` (a missing value is a value), groups
    numbered in the order they first appear, and each group's first cell (no key: one
    group of ``size`` cells)."""
    if not keys:
        return np.zeros(size, dtype=np.intp), np.zeros(1, dtype=np.intp)
    combined = np.zeros(size, dtype=np.int64)
    for key in keys:  # numbered again after each key: the numbers stay below ``size``
        codes = categories(key)
        combined = np.unique(combined * (int(codes.max(initial=-1)) + 1) + codes,
                             return_inverse=True)[1].ravel()
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(order), dtype=np.intp)
    rank[order] = np.arange(len(order))
    return rank[inverse.ravel()], first[order]


def rake_codes(codes: Sequence[np.ndarray], counts: np.ndarray,
               targets: np.ndarray) -> np.ndarray:
    """:func:`rake` on the margins' :func:`categories` of the cells (codes of a larger
    table's cells may be given for some of them: a group raked alone)."""
    return rake_groups(np.zeros(len(counts), dtype=np.intp), codes, counts, targets)


def rake_groups(groups: np.ndarray, codes: Sequence[np.ndarray], counts: np.ndarray,
                targets: np.ndarray) -> np.ndarray:
    """:func:`rake_codes` of each group of cells alone (``groups``: a group's number for
    each cell), all groups in the same iterations: a margin's category within a group is
    one category of the whole, so the groups do not touch one another (the same weights as
    raking each group alone, within the tolerance), and a request cut by a hundred
    promotions rakes in one loop instead of a hundred. A group whose margins cannot all be
    reached gives up its last margins, as :func:`rake` says, without the others."""
    groups = pd.factorize(groups)[0]
    weights = np.zeros(len(counts))
    todo = np.bincount(groups, weights=counts)[groups] > 0
    for kept in range(len(codes), 0, -1):
        at = np.flatnonzero(todo)
        if not len(at):
            break
        within = pd.factorize(groups[at])[0]
        fitted, reached = _fit([_within(within, c[at]) for c in codes[:kept]], within,
                               counts[at], targets[at])
        weights[at] = fitted
        todo[at] = ~reached[within]
    return weights


def _within(groups: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """A margin's category in its group, as one code over every group."""
    return pd.factorize(groups * (int(codes.max(initial=0)) + 1) + codes)[0]


def _fit(codes_of: list[np.ndarray], groups: np.ndarray, counts: np.ndarray,
         targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Iterative proportional fitting on these margins: the weights, and whether every
    reachable category's target was met, per group."""
    reached = np.ones(len(counts), dtype=bool)
    for codes in codes_of:
        reached &= (np.bincount(codes, weights=counts) > 0)[codes]
    targets = np.where(reached, targets, 0.0)
    margins = []
    for codes in codes_of:
        wanted = np.bincount(codes, weights=targets)
        has = np.bincount(codes, weights=counts) > 0
        group_of = np.zeros(len(wanted), dtype=np.intp)
        group_of[codes] = groups
        margins.append((codes, wanted, has, group_of[has]))
    count = int(groups.max(initial=-1)) + 1
    weights = np.where(counts > 0, 1.0, 0.0)
    hopeless = np.zeros(count, dtype=bool)
    worst = before = np.zeros(count)
    for iteration in range(1, ITERATIONS + 1):
        worst = np.zeros(count)
        for codes, wanted, has, group_of in margins:
            current = np.bincount(codes, weights=weights * counts, minlength=len(wanted))
            factor = np.ones_like(wanted)
            factor[has] = wanted[has] / current[has]
            np.maximum.at(worst, group_of, np.abs(factor[has] - 1))
            weights = weights * factor[codes]
        done = worst < TOLERANCE
        if (done | hopeless).all():
            break
        if iteration % PACE_WINDOW == 0:
            # IPF closes in at a steady pace: a group whose last iterations' pace would
            # leave it far from the tolerance at the last iteration is given up now, not
            # then (a margin it cannot reach: it stalls at once)
            if iteration > PACE_WINDOW:
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    pace = (worst / before) ** (1 / PACE_WINDOW)
                    ahead = worst * pace ** (ITERATIONS - iteration)
                hopeless |= ~done & ~(ahead < TOLERANCE * PACE_SLACK)
            before = worst
    return weights, worst < TOLERANCE


def kish(weights: np.ndarray, counts: np.ndarray) -> float:
    """Kish's effective size of ``counts`` units weighted ``weights`` each: (Σw)² / Σw²."""
    total = float(np.sum(weights * counts))
    squares = float(np.sum(weights ** 2 * counts))
    return total * total / squares if squares > 0 else 0.0

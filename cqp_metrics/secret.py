"""Statistical secret: primary suppression, then complementary suppression.

Primary: a count of persons below ``min_count`` is hidden; a rate whose denominator is below
``min_denominator`` is hidden, and so is its numerator (the rate and its denominator would
give it back).

Complementary (as INSEE practises it): a hidden cell must not be recoverable from the cells
shown beside it. The tables carry linear relations:

- in a row, ``juries = full + partial + refused`` and ``certified = full``;
- a rate, its numerator and its denominator: two of them give the third;
- with total rows, the total of a column equals the sum of the rows it totals.

Whenever a relation has exactly one hidden cell, the smallest other visible cell of that
relation is hidden too, and so on until no relation has a single hidden cell.
"""

from __future__ import annotations

import pandas as pd

from .config import SecretRule
from .registry import COUNTS, RATES

#: The value a dimension takes in a total row.
TOTAL = "Total"
#: Sums that hold in every row: total column, then the columns that add up to it.
ROW_SUMS = (("juries", ("full", "partial", "refused")),)
#: Columns that always hold the same value.
SAME_VALUE = (("full", "certified"),)


def hidden_cells(values: pd.DataFrame, rule: SecretRule, by: list[str],
                 total_dim: str | None = None) -> pd.DataFrame:
    """A boolean frame (index and indicator columns of ``values``): True where hidden."""
    columns = [c for c in values.columns if c not in by]
    hidden = pd.DataFrame(False, index=values.index, columns=columns)
    if not rule.enabled:
        return hidden
    for name in columns:
        if name in COUNTS and COUNTS[name].secret:
            hidden[name] = values[name] < rule.min_count
    for name, rate in RATES.items():
        if name in columns and rate.secret:
            small = values[rate.denominator] < rule.min_denominator
            hidden[name] |= small
            if rate.numerator in columns:
                hidden[rate.numerator] |= small
    while _spread(values, hidden, by, total_dim):
        pass
    for name in RATES:
        if name in columns:
            for end in ("_low", "_high"):
                if f"{name}{end}" in columns:
                    hidden[f"{name}{end}"] = hidden[name]
    return hidden


def _spread(values: pd.DataFrame, hidden: pd.DataFrame, by: list[str],
            total_dim: str | None) -> bool:
    """One pass of complementary suppression; True if it hid anything."""
    before = int(hidden.to_numpy().sum())
    columns = set(hidden.columns)
    for name, rate in RATES.items():
        terms = [t for t in (name, rate.numerator, rate.denominator) if t in columns]
        if len(terms) == 3 and rate.secret:
            # Hide the rate whenever one of its terms is hidden; a hidden rate hides its
            # numerator unless the denominator is already hidden.
            hidden[name] |= hidden[rate.numerator] | hidden[rate.denominator]
            hidden[rate.numerator] |= hidden[name] & ~hidden[rate.denominator]
    for left, right in SAME_VALUE:
        if left in columns and right in columns:
            either = hidden[left] | hidden[right]
            hidden[left], hidden[right] = either, either
    for total, parts in ROW_SUMS:
        cells = [total, *parts]
        if all(c in columns for c in cells):
            for index in hidden.index[hidden[cells].sum(axis=1) == 1]:
                _hide_another(values, hidden, [(index, c) for c in cells], total=(index, total))
    if total_dim is not None:
        others = [d for d in by if d != total_dim]
        is_total = values[total_dim].astype(str) == TOTAL
        groups = _groups(values, others)
        for index in groups.values():
            for column in hidden.columns:
                if column not in COUNTS or not COUNTS[column].secret:
                    continue
                cells = [(i, column) for i in index]
                total_rows = [i for i in index if is_total.loc[i]]
                if not total_rows:
                    continue
                if sum(hidden.at[i, c] for i, c in cells) == 1:
                    _hide_another(values, hidden, cells, total=(total_rows[0], column))
    return int(hidden.to_numpy().sum()) > before


def _groups(values: pd.DataFrame, others: list[str]) -> dict:
    """Row indexes of each group of rows that a total row sums up."""
    if not others:
        return {(): values.index}
    return values.groupby(others[0] if len(others) == 1 else others, dropna=False).groups


def _hide_another(values: pd.DataFrame, hidden: pd.DataFrame, cells: list[tuple],
                  total: tuple) -> None:
    """Hide the smallest visible part of the relation (the total if no part is visible)."""
    visible = [cell for cell in cells if cell != total and not hidden.at[cell]]
    if not visible:
        hidden.at[total] = True
        return
    smallest = min(visible, key=lambda cell: values.at[cell])
    hidden.at[smallest] = True

"""The one Python entry point: indicators as a table, for the CLI, dashboards and notebooks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from .config import SecretRule
from .dimensions import DIMENSIONS
from .query import IndicatorQuery, build_select
from .registry import RATES
from .secret import TOTAL, hidden_cells
from .stats import wilson

#: What a hidden cell reads in every published table.
SECRET = "secret"


@dataclass
class IndicatorTable:
    """Computed indicators: ``values`` (numbers; hidden cells still hold theirs) and
    ``hidden`` (True where the secret hides a cell)."""

    query: IndicatorQuery
    values: pd.DataFrame
    hidden: pd.DataFrame
    rule: SecretRule
    total_dim: str | None = None

    def published(self, secret_label: str = SECRET) -> pd.DataFrame:
        """The table as it may be shown: hidden cells read ``secret``, numbers elsewhere."""
        frame = self.values.copy()
        for column in self.hidden.columns:
            mask = self.hidden[column]
            if mask.any():
                frame[column] = frame[column].astype(object).where(~mask, secret_label)
        return frame

    def masked(self) -> pd.DataFrame:
        """Numbers with hidden cells as NaN: for charts, which must not draw them."""
        frame = self.values.copy()
        for column in self.hidden.columns:
            frame[column] = frame[column].astype(float).where(~self.hidden[column])
        return frame


def compute(engine: sa.Engine | sa.Connection, names: Iterable[str] | None = None,
            by: Iterable[str] = (), where: dict[str, object] | None = None,
            years: tuple[int | None, int | None] | None = None,
            scope: Iterable[str] | None = None, secret: SecretRule | bool = True,
            totals: bool = False) -> IndicatorTable:
    """Compute indicators in the database and apply the statistical secret.

    ``by``: dimensions to cut by; ``where``: {dimension: value or values}; ``years``: (from, to)
    inclusive; ``scope``: the branches the user may see (None: all); ``totals``: add a total
    row over the last dimension of ``by`` (per value of the others), with complementary
    suppression across the rows.
    """
    query = IndicatorQuery.make(names, by, where, years, scope)
    rule = _rule(secret)
    values = _counts(engine, query)
    total_dim = None
    if totals and query.by:
        total_dim = query.by[-1]
        rest = IndicatorQuery(query.names, query.by[:-1], query.where, query.years, query.scope)
        margin = _counts(engine, rest)
        margin[total_dim] = TOTAL
        values = pd.concat([values.astype({total_dim: object}), margin[values.columns]],
                           ignore_index=True)
        values = _sorted(values, query.by)
    values = _with_rates(values, query)
    hidden = hidden_cells(values, rule, list(query.by), total_dim)
    return IndicatorTable(query, values, hidden, rule, total_dim)


def indicators(engine: sa.Engine | sa.Connection, names: Iterable[str] | None = None,
               by: Iterable[str] = (), where: dict[str, object] | None = None,
               years: tuple[int | None, int | None] | None = None,
               scope: Iterable[str] | None = None, secret: SecretRule | bool = True,
               totals: bool = False) -> pd.DataFrame:
    """The published indicator table: one column per dimension of ``by``, then each
    indicator named as in DOMAIN.md (rates with ``_low``/``_high``); secret cells read
    ``secret``, undefined rates are empty (NaN)."""
    return compute(engine, names, by, where, years, scope, secret, totals).published()


def _rule(secret: SecretRule | bool) -> SecretRule:
    if isinstance(secret, SecretRule):
        return secret
    return SecretRule(enabled=bool(secret))


def _counts(engine: sa.Engine | sa.Connection, query: IndicatorQuery) -> pd.DataFrame:
    select = build_select(query)
    if isinstance(engine, sa.Connection):
        rows = engine.execute(select).all()
    else:
        with engine.connect() as connection:
            rows = connection.execute(select).all()
    frame = pd.DataFrame(rows, columns=[*query.by, *query.counts()])
    for name in query.counts():
        frame[name] = frame[name].astype("int64")
    for dim in query.by:
        if DIMENSIONS[dim].numeric:
            frame[dim] = frame[dim].astype("Int64")
        else:
            frame[dim] = frame[dim].astype(object).where(frame[dim].notna(), None)
    return _sorted(frame, query.by)


def _sorted(frame: pd.DataFrame, by: Iterable[str]) -> pd.DataFrame:
    """Rows by dimension values; missing values, then totals, last."""
    by = list(by)
    if not by or frame.empty:
        return frame.reset_index(drop=True)
    order = sorted(frame.index, key=lambda i: tuple(_sort_key(frame.at[i, d]) for d in by))
    return frame.loc[order].reset_index(drop=True)


def _sort_key(value: object) -> tuple:
    if isinstance(value, str):
        return (value == TOTAL, 0, "", value)
    if value is None or pd.isna(value):
        return (False, 1, "", "")
    return (False, 0, f"{float(value):020.3f}", "")


def _with_rates(counts: pd.DataFrame, query: IndicatorQuery) -> pd.DataFrame:
    frame = counts.copy()
    for name, rate in RATES.items():
        if name in query.columns():
            p, low, high = wilson(frame[rate.numerator], frame[rate.denominator])
            frame[name], frame[f"{name}_low"], frame[f"{name}_high"] = p, low, high
    return frame[[*query.by, *query.columns()]]

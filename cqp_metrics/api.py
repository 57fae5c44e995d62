"""The one Python entry point: indicators as a table, for the CLI, dashboards and notebooks."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, replace

import pandas as pd
import sqlalchemy as sa

from . import schema
from .config import SecretRule
from .dimensions import DIMENSIONS
from .query import IndicatorQuery, build_select
from .registry import COUNTS, RATES, family
from .secret import TOTAL, Knowledge, Suppression, rate_hidden
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
    row over the last dimension of ``by`` (per value of the others).

    The secret is decided on the table together with its margins (the same filters without
    one of the cuts), coarse tables first, so that a cell hidden here cannot be recovered
    from any other table served for the same filters (:mod:`cqp_metrics.secret`).
    """
    query = IndicatorQuery.make(names, by, where, years, scope)
    rule = _rule(secret)
    with _connection(engine) as connection:
        decisions = _suppressions(connection, query, rule)
        values = _counts(connection, query)
        hidden = _hidden(values, query.by, decisions, rule)
        total_dim = None
        if totals and query.by:
            total_dim = query.by[-1]
            rest = replace(query, by=query.by[:-1])
            margin = _counts(connection, rest)
            margin_hidden = _hidden(margin, rest.by, decisions, rule)
            margin[total_dim] = TOTAL
            values = pd.concat([values.astype({total_dim: object}), margin[values.columns]],
                               ignore_index=True)
            hidden = pd.concat([hidden, margin_hidden], ignore_index=True)
        order = _order(values, query.by)
        values = values.loc[order].reset_index(drop=True)
        hidden = hidden.loc[order].reset_index(drop=True)
    values = _with_rates(values, query)
    return IndicatorTable(query, values, _published_mask(values, hidden, query, rule), rule,
                          total_dim)


def _suppressions(connection: sa.Connection, query: IndicatorQuery,
                  rule: SecretRule) -> list[Suppression]:
    """The secret's decisions for this filter set, one per fact: each over every count of
    its fact and the rows where that fact has something, whatever the request names."""
    if not rule.enabled:
        return []
    knowledge = _knowledge(connection, query)
    out = []
    for fact in dict.fromkeys(COUNTS[n].fact for n in family(query.counts())):
        names = tuple(family([n for n in query.counts() if COUNTS[n].fact == fact]))

        def counts_of(dims: tuple[str, ...], names=names) -> pd.DataFrame:
            # Rows in a fixed order: ties in the secret's choices fall the same way each time.
            frame = _counts(connection, replace(query, by=dims, names=names))
            return frame.loc[_order(frame, dims)].reset_index(drop=True)

        out.append(Suppression(counts_of, rule, knowledge, list(names)))
    return out


def _hidden(values: pd.DataFrame, by: tuple[str, ...], decisions: list[Suppression],
            rule: SecretRule) -> pd.DataFrame:
    """The decided fate of every count of ``values``; counts of no fact under secret: shown."""
    hidden = pd.DataFrame(False, index=values.index,
                          columns=[c for c in values.columns if c not in by])
    for decision in decisions:
        fates = decision.table(by).hidden_in(values, rule)
        hidden[fates.columns] = fates
    return hidden


def _knowledge(connection: sa.Connection, query: IndicatorQuery) -> Knowledge:
    """Who owns which CQP (a CQPI counts in each of its branches), what the filters fix."""
    allowed = {dim: frozenset(values) for dim, values in query.where}
    owners: dict[str, set[str]] = {}
    if "branch_code" in query.by:
        branches = query.allowed_branches()
        link = schema.certification_branch
        for cqp, branch in connection.execute(sa.select(link.c.cqp_code, link.c.branch_code)):
            if branches is None or branch in branches:
                owners.setdefault(cqp, set()).add(branch)
    return Knowledge({cqp: frozenset(b) for cqp, b in owners.items()}, allowed)


def _published_mask(values: pd.DataFrame, hidden: pd.DataFrame, query: IndicatorQuery,
                    rule: SecretRule) -> pd.DataFrame:
    """True where a published cell is hidden: counts as decided, rates with their terms."""
    columns = [c for c in values.columns if c not in query.by]
    mask = pd.DataFrame(False, index=values.index, columns=columns)
    for name in columns:
        if name in hidden:
            mask[name] = hidden[name].to_numpy()
    for name in RATES:
        if name in columns:
            shown = rate_hidden(values, mask, rule, name)
            for column in (name, f"{name}_low", f"{name}_high"):
                mask[column] = shown
    return mask


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


@contextmanager
def _connection(engine: sa.Engine | sa.Connection):
    if isinstance(engine, sa.Connection):
        yield engine
    else:
        with engine.connect() as connection:
            yield connection


def _counts(connection: sa.Connection, query: IndicatorQuery) -> pd.DataFrame:
    rows = connection.execute(build_select(query)).all()
    frame = pd.DataFrame(rows, columns=[*query.by, *query.counts()])
    for name in query.counts():
        frame[name] = frame[name].astype("int64")
    for dim in query.by:
        if DIMENSIONS[dim].numeric:
            frame[dim] = frame[dim].astype("Int64")
        else:
            frame[dim] = frame[dim].astype(object).where(frame[dim].notna(), None)
    return frame


def _order(frame: pd.DataFrame, by: Iterable[str]) -> list:
    """Rows by dimension values; missing values, then totals, last."""
    by = list(by)
    return sorted(frame.index, key=lambda i: tuple(_sort_key(frame.at[i, d]) for d in by))


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

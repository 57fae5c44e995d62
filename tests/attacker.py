"""An attacker of the statistical secret, written apart from ``cqp_metrics.secret``.

It reads published tables as a user would (numbers, and ``secret`` where hidden), writes down
every relation a reader knows (sums over decisions, equal columns, rate x denominator, a table
against its margin, a CQPI shown in each of its branches) and solves them by substitution,
again and again, until nothing more comes out. A hidden cell whose value comes out is a leak.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import sqlalchemy as sa

from cqp_metrics import compute, schema
from cqp_metrics.registry import COUNTS, RATES

Cell = tuple  # (dimensions, key, column)

SUMS = {"juries": ("full", "partial", "refused")}
EQUAL = {"certified": "full"}
VAE_OF = {"vae_enrolments": "enrolments", "vae_juries": "juries", "vae_full": "full"}


def _norm(value: object) -> object:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return int(value) if not isinstance(value, str) else value


class Reader:
    """What one user saw for one filter set, and what they can work out of it."""

    def __init__(self, engine: sa.Engine, where: dict, years: tuple, scope,
                 owners: dict[str, set[str]] | None = None) -> None:
        self.engine, self.where, self.years, self.scope = engine, where, years, scope
        self.shown: dict[Cell, float | None] = {}  # None: read "secret"
        self.truth: dict[Cell, float] = {}
        self.rows: dict[tuple, set[tuple]] = defaultdict(set)
        self.equations: list[dict[Cell, float]] = []
        self.owners = owners if owners is not None else _owners(engine)
        self.fates: dict[Cell, set[bool]] = defaultdict(set)

    def read(self, by: tuple[str, ...], names=None, totals: bool = False) -> None:
        """Request one table as the CLI or a page would, and note what it shows."""
        table = compute(self.engine, names=names, by=list(by), where=self.where,
                        years=self.years, scope=self.scope, totals=totals)
        truth = compute(self.engine, names=names, by=list(by), where=self.where,
                        years=self.years, scope=self.scope, totals=totals, secret=False)
        published = table.published()
        for i in published.index:
            dims = tuple(by)
            if totals and by and published.at[i, by[-1]] == "Total":
                dims = tuple(by[:-1])
            key = tuple(sorted((d, _norm(published.at[i, d])) for d in dims))
            self.rows[tuple(sorted(dims))].add(key)
            for column in published.columns:
                if column in by or column.endswith(("_low", "_high")):
                    continue
                cell = (tuple(sorted(dims)), key, column)
                value = published.at[i, column]
                hidden = isinstance(value, str)
                self.fates[cell].add(hidden)
                real = truth.values.at[i, column]
                self.truth[cell] = None if pd.isna(real) else float(real)
                if hidden:
                    self.shown.setdefault(cell, None)
                else:
                    self.shown[cell] = None if pd.isna(value) else float(value)

    def inconsistent(self) -> list[Cell]:
        """Cells shown by one request and hidden by another."""
        return [cell for cell, fates in self.fates.items() if len(fates) > 1]

    # -- relations -----------------------------------------------------------------------

    def _pathways(self, key: tuple) -> set | None:
        values = dict(key)
        if "pathway" in values:
            return {values["pathway"]}
        if "pathway" in self.where:
            return set(self.where["pathway"])
        return None

    def row_relations(self) -> None:
        for (dims, key, column) in list(self.shown):
            def cell(name: str, dims=dims, key=key) -> Cell:
                return (dims, key, name)

            if column in SUMS and all(cell(p) in self.shown for p in SUMS[column]):
                self.equations.append({cell(column): 1.0,
                                       **{cell(p): -1.0 for p in SUMS[column]}})
            if column in EQUAL and cell(EQUAL[column]) in self.shown:
                self.equations.append({cell(column): 1.0, cell(EQUAL[column]): -1.0})
            if column in VAE_OF:
                pathways = self._pathways(key)
                if pathways == {"vae"} and cell(VAE_OF[column]) in self.shown:
                    self.equations.append({cell(column): 1.0, cell(VAE_OF[column]): -1.0})
                elif pathways is not None and "vae" not in pathways:
                    self.equations.append({cell(column): 1.0})
            if column in RATES:
                rate = RATES[column]
                p = self.shown[(dims, key, column)]
                numerator, denominator = cell(rate.numerator), cell(rate.denominator)
                if p is not None and numerator in self.shown and denominator in self.shown:
                    self.equations.append({numerator: 1.0, denominator: -p})

    def margin_relations(self, fine: tuple[str, ...], coarse: tuple[str, ...]) -> None:
        """The coarse table is the fine one summed over the dimension it lacks."""
        fine, coarse = tuple(sorted(fine)), tuple(sorted(coarse))
        (lost,) = set(fine) - set(coarse)
        columns = {c for (d, _k, c) in self.shown if d == fine and c in COUNTS}
        groups: dict[tuple, list[tuple]] = defaultdict(list)
        for key in self.rows[fine]:
            groups[tuple((d, v) for d, v in key if d != lost)].append(key)
        for group, keys in groups.items():
            if group not in self.rows[coarse]:
                continue
            for column in columns:
                if lost == "branch_code":
                    if "cqp_code" in fine:  # a CQPI's cell in each branch is its own cell
                        for key in keys:
                            self.equations.append({(fine, key, column): 1.0,
                                                   (coarse, group, column): -1.0})
                    continue
                self.equations.append({(coarse, group, column): 1.0,
                                       **{(fine, key, column): -1.0 for key in keys}})

    # -- solving -------------------------------------------------------------------------

    def attack(self) -> dict[Cell, float]:
        """Hidden cells worked out by substitution: {cell: value}."""
        known = {c: v for c, v in self.shown.items() if v is not None}
        found: dict[Cell, float] = {}
        progress = True
        while progress:
            progress = False
            for equation in self.equations:
                unknown = [c for c in equation if c not in known]
                if len(unknown) != 1:
                    continue
                (target,) = unknown
                rest = sum(coefficient * known[c] for c, coefficient in equation.items()
                           if c != target)
                value = round(-rest / equation[target], 6)
                known[target] = value
                found[target] = value
                progress = True
        return {cell: value for cell, value in found.items() if self._sensitive(cell)}

    def _sensitive(self, cell: Cell) -> bool:
        """A hidden cell, unless it is a structural zero: VAE figures where VAE is excluded,
        or a row where its fact has nothing at all (no jury in that region that year: no
        person is behind it, see docs/secret.md)."""
        dims, key, column = cell
        if self.shown.get(cell, 0.0) is not None and cell in self.shown:
            return False
        if column in COUNTS:
            fact = COUNTS[column].fact
            same_fact = [self.truth.get((dims, key, c)) for c in COUNTS
                         if COUNTS[c].fact == fact and (dims, key, c) in self.truth]
            if all(v == 0 for v in same_fact):
                return False
        if column in VAE_OF:
            pathways = self._pathways(key)
            if pathways is not None and "vae" not in pathways or self.truth.get(cell) == 0:
                return False  # no VAE there: the table cut by pathway has no VAE row
        return True


def _owners(engine: sa.Engine) -> dict[str, set[str]]:
    link = schema.certification_branch
    owners: dict[str, set[str]] = defaultdict(set)
    with engine.connect() as connection:
        for cqp, branch in connection.execute(sa.select(link.c.cqp_code, link.c.branch_code)):
            owners[cqp].add(branch)
    return owners


def leaks(engine: sa.Engine, where: dict, years: tuple, scope, cuts: list[str],
          names=None) -> tuple[dict, list]:
    """Read the tables a user gets for one filter set cut by ``cuts`` (up to two) and their
    margins, as separate requests; return (recovered hidden cells, inconsistent cells)."""
    reader = Reader(engine, where, years, scope)
    tables = [()] + [(d,) for d in cuts] + ([tuple(cuts)] if len(cuts) == 2 else [])
    for by in tables:
        reader.read(by, names=names)
    if len(cuts) == 2:
        reader.read(tuple(cuts), names=names, totals=True)
    reader.row_relations()
    for by in tables[1:]:
        for lost in by:
            reader.margin_relations(by, tuple(d for d in by if d != lost))
    found = reader.attack()
    for cell, value in found.items():  # the attacker is right: the leak is real
        assert reader.truth[cell] is None or abs(reader.truth[cell] - value) < 1e-6, cell
    return found, reader.inconsistent()

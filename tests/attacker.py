"""An attacker of the statistical secret across requests, written apart from
``cqp_metrics.secret``.

A user of the CLI, the pages or the API chooses filter sets at will: value lists, year
ranges, ``--until`` days, a branch or the list of its CQPs, a scope. The attacker reads, as
separate requests, pairs of filter sets that select **the same people** (a row of a cut and
the same filter alone; a year row and ``--from y --to y``; a branch, its CQPs and a scope;
``vae_x`` and ``x`` under a VAE-only filter; ``certified`` and ``full``; ``--until 12-31``
and the whole year) and notes every count they publish differently; and it subtracts
published totals of two filter sets whose difference is one small cell, to see how often
that lands on the cell's true value.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from cqp_metrics import compute, schema
from cqp_metrics.dimensions import DIMENSIONS
from cqp_metrics.registry import COUNTS, fact_of

#: Counts of persons or decisions (the secret's); counts of CQPs are public facts.
PERSONS = [name for name, entry in COUNTS.items() if entry.secret]
#: ``vae_x`` is ``x`` where only VAE is selected.
VAE_OF = {"vae_enrolments": "enrolments", "vae_juries": "juries", "vae_full": "full"}
#: The dimensions a user cuts and filters by (their values read from the published rows).
CUTS = ("region_code", "pathway", "sex", "age_band", "status", "funding", "cqp_code",
        "branch_code", "contract")


def _key(value: object) -> object:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return int(value) if not isinstance(value, str) else value


def published_counts(table) -> list[dict]:
    """Each row of a published table as {column: value} for the counts of persons: a number,
    or the text « secret »; the cuts as keys."""
    frame = table.published()
    rows = []
    for _, row in frame.iterrows():
        rows.append({c: (row[c] if isinstance(row[c], str) else _key(row[c]))
                     for c in frame.columns})
    return rows


def _only(table) -> dict:
    (row,) = published_counts(table)
    return row


class Attacker:
    """One user reading the published tables of a database, as separate requests."""

    def __init__(self, engine: sa.Engine, where: dict | None = None,
                 years: tuple = (None, None), scope=None) -> None:
        self.engine, self.where, self.years, self.scope = engine, dict(where or {}), years, scope
        #: (route, column, one value, the other) for every count read differently.
        self.differences: list[tuple[str, str, object, object]] = []
        self.routes = 0

    def read(self, by: Iterable[str] = (), where: dict | None = None, years=None,
             scope=..., until=None, names=PERSONS):
        """A published table of the counts it compares (``names=None``: every indicator,
        as a page or ``indicators`` asks: the counts must not depend on what else is
        asked)."""
        if names is PERSONS:  # a cut or filter that only some facts carry keeps their counts
            used = [*by, *(where if where is not None else self.where)]
            facts = [DIMENSIONS[d].facts for d in used if DIMENSIONS[d].facts]
            names = [n for n in PERSONS if all(fact_of(n) in f for f in facts)]
        return compute(self.engine, names=names, by=list(by),
                       where=where if where is not None else self.where,
                       years=years if years is not None else self.years,
                       scope=self.scope if scope is ... else scope, until=until)

    def compare(self, route: str, one: dict, other: dict,
                columns: Iterable[tuple[str, str]] | None = None) -> None:
        """Two readings of the same people: every count must read the same."""
        self.routes += 1
        pairs = columns if columns is not None else [(c, c) for c in PERSONS if c in one]
        for a, b in pairs:
            if one[a] != other[b]:
                self.differences.append((route, f"{a}/{b}", one[a], other[b]))

    # -- the routes ----------------------------------------------------------------------

    def a_row_and_its_filter(self, dim: str, limit: int = 6) -> None:
        """The row ``v`` of the table cut by ``dim``, and the filter ``dim = v`` alone."""
        rows = published_counts(self.read([dim], names=None))
        for row in rows[:limit]:
            value = row[dim]
            if value is None or (dim in self.where and value not in self.where[dim]):
                continue
            where = {**self.where, dim: [value]}
            if dim == "branch_code" and self.scope is not None and value not in self.scope:
                continue
            self.compare(f"{dim}={value}: row / filter", row, _only(self.read((), where)))

    def a_year_and_its_range(self) -> None:
        """The row ``y`` of the table by year, and ``--from y --to y``; and a year range
        made of its years' rows read as one total."""
        rows = published_counts(self.read(["year"]))
        for row in rows:
            year = row["year"]
            self.compare(f"year {year}: row / --from --to", row,
                         _only(self.read((), years=(year, year))))

    def the_whole_year_and_until_december(self) -> None:
        """``--until 12-31`` keeps every fact of each year: the table by year, twice."""
        whole = published_counts(self.read(["year"]))
        until = published_counts(self.read(["year"], until=(12, 31)))
        for one, other in zip(whole, until, strict=True):
            self.compare(f"year {one['year']}: whole / --until 12-31", one, other)

    def a_branch_its_cqps_and_its_scope(self, branches: dict[str, list[str]]) -> None:
        """A branch filter, the list of its CQPs as a filter, and the branch as a scope."""
        for branch, cqps in branches.items():
            by_branch = _only(self.read((), {**self.where, "branch_code": [branch]}))
            by_cqps = _only(self.read((), {**self.where, "cqp_code": cqps}))
            scoped = _only(self.read((), self.where, scope=[branch]))
            self.compare(f"branch {branch} / its CQPs", by_branch, by_cqps)
            self.compare(f"branch {branch} / scope", by_branch, scoped)

    def vae_columns_under_a_vae_filter(self) -> None:
        """``vae_x`` of every request and ``x`` where only VAE is selected; ``certified``
        and ``full`` in every row."""
        everyone = published_counts(self.read(["year"]))
        vae_only = published_counts(self.read(["year"], {**self.where, "pathway": ["vae"]}))
        by_year = {row["year"]: row for row in vae_only}
        for row in everyone:
            if row["year"] in by_year:
                self.compare(f"year {row['year']}: vae_x / x under pathway=vae", row,
                             by_year[row["year"]], VAE_OF.items())
            self.compare(f"year {row['year']}: certified / full", row, row,
                         [("certified", "full")])


def branches_and_cqps(engine: sa.Engine) -> dict[str, list[str]]:
    link = schema.certification_branch
    out: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for cqp, branch in connection.execute(sa.select(link.c.cqp_code, link.c.branch_code)):
            out.setdefault(branch, []).append(cqp)
    return {b: sorted(c) for b, c in out.items()}


def every_route(engine: sa.Engine, where: dict | None = None, years: tuple = (None, None),
                scope=None, rows: int = 6) -> Attacker:
    """Read every pair of requests of the same people the attacker knows, for one filter
    set (up to ``rows`` rows of each cut); the attacker holds the differences found."""
    attacker = Attacker(engine, where, years, scope)
    for dim in CUTS:
        attacker.a_row_and_its_filter(dim, rows)
    attacker.a_year_and_its_range()
    attacker.the_whole_year_and_until_december()
    branches = branches_and_cqps(engine)
    if scope is not None:
        branches = {b: c for b, c in branches.items() if b in scope}
    attacker.a_branch_its_cqps_and_its_scope(branches)
    attacker.vae_columns_under_a_vae_filter()
    return attacker


def subtractions(engine: sa.Engine, cqps: Iterable[str], dim: str = "region_code",
                 count: str = "enrolments", every: bool = False) -> list[tuple[int, int]]:
    """For every small cell (true count 1 to 4) of ``count`` by CQP and ``dim``: the
    difference of two published totals of the same CQP, ``dim`` in {v, w} minus ``dim`` = w
    (w another value: the first that works, or ``every`` one), against the cell's true
    count. [(estimate, truth)]"""
    out = []
    for cqp in cqps:
        exact = compute(engine, [count], [dim], {"cqp_code": [cqp]}, secret=False).values
        values = [v for v in exact[dim] if v is not None]
        for v, truth in zip(exact[dim], exact[count], strict=True):
            if v is None or not 1 <= truth <= 4:
                continue
            for w in values:
                if w == v:
                    continue
                pair = compute(engine, [count], (), {"cqp_code": [cqp], dim: [v, w]})
                alone = compute(engine, [count], (), {"cqp_code": [cqp], dim: [w]})
                a, b = pair.values[count].iloc[0], alone.values[count].iloc[0]
                if pair.hidden[count].iloc[0] or alone.hidden[count].iloc[0]:
                    continue  # a small total reads « secret »: nothing to subtract
                out.append((int(a - b), int(truth)))
                if not every:
                    break  # one route per cell: each cell counted once
    return out

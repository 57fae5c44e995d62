"""Turn (indicators, cuts, filters, years, scope) into one SQL ``Select`` of counts.

Each fact involved is aggregated in its own CTE, grouped by the cuts; the CTEs are joined on
the union of their keys. Rates and intervals are derived from these counts afterwards
(:mod:`cqp_metrics.stats`): the database does all the counting.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from . import schema
from .dimensions import DIMENSIONS
from .facts import FACTS, FactSource, cqps_of, last_activity_year, registered_on_last_day, year_of
from .registry import COUNTS, RATES, REGISTRY, Count


class QueryError(ValueError):
    """The request names an unknown indicator or dimension, or mixes incompatible cuts."""


@dataclass(frozen=True)
class IndicatorQuery:
    """What to compute: a hashable description, also the key results are cached by."""

    names: tuple[str, ...] = ()
    by: tuple[str, ...] = ()
    where: tuple[tuple[str, tuple], ...] = ()
    years: tuple[int | None, int | None] = (None, None)
    #: The branches the user may see; None means all.
    scope: frozenset[str] | None = None

    @classmethod
    def make(cls, names: Iterable[str] | None = None, by: Iterable[str] = (),
             where: dict[str, object] | None = None,
             years: tuple[int | None, int | None] | None = None,
             scope: Iterable[str] | None = None) -> IndicatorQuery:
        """Normalise and check the user's request."""
        by = tuple(by)
        filters = []
        for dim, values in sorted((where or {}).items()):
            if not isinstance(values, list | tuple | set | frozenset):
                values = (values,)
            filters.append((dim, tuple(sorted(values, key=str))))
        for dim in (*by, *(d for d, _ in filters)):
            if dim not in DIMENSIONS:
                raise QueryError(f"dimension inconnue : {dim} (connues : "
                                 + ", ".join(DIMENSIONS) + ")")
        if len(set(by)) != len(by):
            raise QueryError("une dimension est répétée dans --by")
        block_cut = "block_code" in by or any(d == "block_code" for d, _ in filters)
        if names is None:
            names = tuple(e.name for e in REGISTRY
                          if not block_cut or _fact_of(e.name) == "block_result")
        names = tuple(names)
        for name in names:
            if name not in COUNTS and name not in RATES:
                raise QueryError(f"indicateur inconnu : {name}")
            if block_cut and _fact_of(name) != "block_result":
                raise QueryError(f"{name} ne se découpe pas par bloc de compétences")
        lo, hi = years or (None, None)
        if lo is not None and hi is not None and lo > hi:
            raise QueryError(f"période vide : de {lo} à {hi}")
        return cls(names, by, tuple(filters), (lo, hi),
                   None if scope is None else frozenset(scope))

    def allowed_branches(self) -> frozenset[str] | None:
        """The branches a row may belong to: the scope, narrowed by a branch filter."""
        allowed = self.scope
        for dim, values in self.where:
            if dim == "branch_code":
                chosen = frozenset(values)
                allowed = chosen if allowed is None else allowed & chosen
        return allowed

    def counts(self) -> list[str]:
        """Every count needed: those asked for and the terms of the rates asked for."""
        needed: list[str] = []
        for name in self.names:
            terms = [name] if name in COUNTS else [RATES[name].numerator, RATES[name].denominator]
            needed += [t for t in terms if t not in needed]
        return [e.name for e in REGISTRY if e.name in needed]

    def columns(self) -> list[str]:
        """Output columns after the dimensions: asked indicators, their terms and intervals."""
        wanted = set(self.counts()) | set(self.names)
        out: list[str] = []
        for entry in REGISTRY:
            if entry.name in wanted:
                out.append(entry.name)
                if entry.name in RATES:
                    out += [f"{entry.name}_low", f"{entry.name}_high"]
        return out


def _fact_of(name: str) -> str:
    entry = COUNTS.get(name) or COUNTS[RATES[name].numerator]
    return entry.fact


def _aggregate(count: Count, fact: FactSource) -> sa.ColumnElement:
    if count.distinct:
        target = fact[count.distinct]
        if count.condition is not None:
            target = sa.case((count.condition(fact), target))
        return sa.func.count(sa.distinct(target))
    if count.condition is None:
        return sa.func.count()
    return sa.func.coalesce(sa.func.sum(sa.case((count.condition(fact), 1), else_=0)), 0)


def _fact_select(name: str, counts: Sequence[Count], query: IndicatorQuery) -> sa.Select:
    fact = FACTS[name]()
    cand = fact.candidacy
    link = None
    if "branch_code" in query.by:
        link = schema.certification_branch.alias("cb")
    lo, hi = query.years
    if name == "activity":
        if "year" in query.by:
            end_year = year_of(fact.date)
        elif hi is not None:
            end_year = sa.literal(hi)
        else:
            end_year = last_activity_year()
        fact.columns["registered_at_end"] = registered_on_last_day(cand.c.cqp_code, end_year)
    dims = [DIMENSIONS[d].expression(fact, link).label(d) for d in query.by]
    aggregates = [_aggregate(c, fact).label(c.name) for c in counts]
    select = sa.select(*dims, *aggregates).select_from(fact.from_)
    if link is not None:
        select = select.join(link, link.c.cqp_code == cand.c.cqp_code)
    conditions = []
    if lo is not None:
        conditions.append(year_of(fact.date) >= lo)
    if hi is not None:
        conditions.append(year_of(fact.date) <= hi)
    branches = query.allowed_branches()
    if branches is not None:
        if link is not None:
            conditions.append(link.c.branch_code.in_(sorted(branches)))
        else:
            conditions.append(cand.c.cqp_code.in_(cqps_of(branches)))
    for dim, values in query.where:
        if dim == "branch_code":
            continue
        expression = DIMENSIONS[dim].expression(fact, link)
        present = [v for v in values if v is not None]
        condition = expression.in_(present) if present else sa.false()
        if len(present) < len(values):
            condition = sa.or_(condition, expression.is_(None))
        conditions.append(condition)
    if conditions:
        select = select.where(*conditions)
    if dims:
        select = select.group_by(*dims)
    return select


def build_select(query: IndicatorQuery) -> sa.Select:
    """One SELECT returning the dimensions of ``query.by`` and every count it needs."""
    by_fact: dict[str, list[Count]] = {}
    for name in query.counts():
        by_fact.setdefault(COUNTS[name].fact, []).append(COUNTS[name])
    ctes = {fact: _fact_select(fact, counts, query).cte(f"f_{fact}")
            for fact, counts in by_fact.items()}
    names = query.counts()
    if not query.by:
        first, *rest = ctes.values()
        from_ = first
        for cte in rest:
            from_ = from_.join(cte, sa.true())
        columns = [_count_column(ctes, n) for n in names]
        return sa.select(*columns).select_from(from_)
    keys = sa.union(*(sa.select(*(cte.c[d] for d in query.by)) for cte in ctes.values()))
    keys = keys.subquery("k")
    from_ = keys
    for cte in ctes.values():
        on = sa.and_(*(keys.c[d].is_not_distinct_from(cte.c[d]) for d in query.by))
        from_ = from_.outerjoin(cte, on)
    columns = [keys.c[d] for d in query.by] + [_count_column(ctes, n) for n in names]
    return sa.select(*columns).select_from(from_)


def _count_column(ctes: dict[str, sa.CTE], name: str) -> sa.ColumnElement:
    fact = COUNTS[name].fact
    return sa.func.coalesce(ctes[fact].c[name], 0).label(name)

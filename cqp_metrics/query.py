"""Turn (indicators, cuts, filters, years, scope) into one SQL ``Select``.

Each fact involved is read once, in its own CTE: its rows (after the filters), with the
row-level columns the indicators' kinds ask for, then grouped by the cuts with their
aggregates. The CTEs are joined on the union of their keys. Rates, intervals and estimates
are derived from these aggregates afterwards (:meth:`cqp_metrics.kinds.Indicator.derive`):
the database does all the counting.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import sqlalchemy as sa

from . import cubes, schema
from .derived import FACTS
from .dialects import Rules, rules_for
from .dimensions import DIMENSIONS, canonical
from .facts import (
    FactSource,
    cqps_of,
    last_activity_year,
    on_or_before,
    registered_on_last_day,
    year_of,
)
from .kinds import ROWS, Indicator, Sql, SqlContext
from .registry import BY_NAME, REGISTRY, fact_of


class QueryError(ValueError):
    """The request names an unknown indicator or dimension, or mixes incompatible cuts."""


def parse_until(text: str) -> tuple[int, int]:
    """``MM-DD`` (``09-30``) as (month, day); 29 February is refused (not in every year)."""
    parts = text.strip().split("-")
    try:
        month, day = (int(p) for p in parts)
        dt.date(2023, month, day)
    except ValueError:
        raise QueryError(f"--until attend MM-JJ (par exemple 09-30), reçu « {text} »") from None
    return month, day


@dataclass(frozen=True)
class IndicatorQuery:
    """What to compute: a hashable description, also the key results are cached by."""

    names: tuple[str, ...] = ()
    by: tuple[str, ...] = ()
    where: tuple[tuple[str, tuple], ...] = ()
    years: tuple[int | None, int | None] = (None, None)
    #: The branches the user may see; None means all.
    scope: frozenset[str] | None = None
    #: (month, day): keep in each year only the facts dated on or before that day.
    until: tuple[int, int] | None = None
    #: The data cut: censoring day of durations, and which years are complete.
    data_until: dt.date | None = None
    #: (month, day): where the database's cubes split each year (:func:`cqp_metrics.cubes.
    #: split_day`), known with the database's data cut (:meth:`at_data_cut`): a request
    #: ``until`` that day reads the cubes; None: it reads the rows.
    cells_split: tuple[int, int] | None = None

    @classmethod
    def make(cls, names: Iterable[str] | None = None, by: Iterable[str] = (),
             where: dict[str, object] | None = None,
             years: tuple[int | None, int | None] | None = None,
             scope: Iterable[str] | None = None, until: tuple[int, int] | None = None,
             data_until: dt.date | None = None) -> IndicatorQuery:
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
        # a dimension only some facts carry (blocks, contracts) limits the indicators
        narrowing = [DIMENSIONS[d] for d in dict.fromkeys((*by, *(d for d, _ in filters)))
                     if DIMENSIONS[d].facts is not None]
        if names is None:
            names = tuple(e.name for e in REGISTRY
                          if all(fact_of(e.name) in dim.facts for dim in narrowing))
        names = tuple(names)
        for name in names:
            if name not in BY_NAME:
                raise QueryError(f"indicateur inconnu : {name}")
            for dim in narrowing:
                if fact_of(name) not in dim.facts:
                    raise QueryError(f"{name} ne se découpe pas par "
                                     f"{dim.label_fr[0].lower()}{dim.label_fr[1:]}")
        lo, hi = years or (None, None)
        if lo is not None and hi is not None and lo > hi:
            raise QueryError(f"période vide : de {lo} à {hi}")
        if until is not None:
            until = parse_until(f"{until[0]}-{until[1]}")
        return cls(names, by, tuple(filters), (lo, hi),
                   None if scope is None else frozenset(scope), until, data_until)

    def at_data_cut(self, cut: dt.date | None) -> IndicatorQuery:
        """The request with the database's data cut ``cut`` (as read from it), and so the
        day its cubes are split at."""
        return replace(self, data_until=cut, cells_split=cubes.split_day(cut))

    def filters(self) -> IndicatorQuery:
        """The request without its indicators and cuts: what its rows are (filters, period,
        scope, data cut), shared by every request read from the same rows."""
        return replace(self, names=(), by=())

    def allowed_branches(self) -> frozenset[str] | None:
        """The branches a row may belong to: the scope, narrowed by a branch filter."""
        allowed = self.scope
        for dim, values in self.where:
            if dim == "branch_code":
                chosen = frozenset(values)
                allowed = chosen if allowed is None else allowed & chosen
        return allowed

    def needed(self) -> list[str]:
        """Every indicator involved: those asked for and what they are computed from, in
        registry order."""
        needed: set[str] = set()
        todo = list(self.names)
        while todo:
            name = todo.pop()
            if name not in needed:
                needed.add(name)
                todo += BY_NAME[name].terms()
        return [e.name for e in REGISTRY if e.name in needed]

    def counts(self) -> list[str]:
        """The counts involved (the statistical secret is decided on them)."""
        return [n for n in self.needed() if BY_NAME[n].unit == "count"]

    def columns(self) -> list[str]:
        """Output columns after the dimensions: every indicator involved, with its interval."""
        return [c for n in self.needed() for c in BY_NAME[n].columns()]


def fact_rows(name: str, query: IndicatorQuery,
              columns: Callable[[FactSource, list[sa.ColumnElement]], dict],
              cube: bool = False, bound: bool = False) -> sa.Subquery:
    """The rows of one fact under the query's filters (years, ``until``, scope, ``where``):
    a column ``k_<dim>`` per cut, then ``columns(fact, cut expressions)``. With ``cube``, the
    cells of the fact's cube (:mod:`cqp_metrics.cubes`) under the same filters: ``fact`` is
    then the cube, each dimension one of its columns. With ``bound``, the filters' values
    are parameters to give at execution (:func:`filter_values`): the select then serves
    every request of its shape."""

    def value(key: str, given: object, expanding: bool = False) -> sa.BindParameter:
        if bound:
            return sa.bindparam(key, required=True, expanding=expanding,
                                type_=None if expanding else sa.Integer)
        return sa.bindparam(key, given, expanding=expanding, unique=True)

    link = None
    if "branch_code" in query.by:
        link = schema.certification_branch.alias("cb")
    if cube:
        table = cubes.CUBES[name]
        fact = FactSource(table, table, table.c.year, {c.name: c for c in table.columns})

        def dimension(d: str) -> sa.ColumnElement:
            return link.c.branch_code if d == "branch_code" else table.c[d]
        year = table.c.year
    else:
        fact = FACTS[name]()

        def dimension(d: str) -> sa.ColumnElement:
            return DIMENSIONS[d].expression(fact, link)
        year = year_of(fact.date)
    cand = fact.candidacy
    lo, hi = query.years
    if name == "activity":
        last_day = query.until or (12, 31)
        if "year" in query.by and last_day == (12, 31):  # stored with each row
            fact.columns["registered_at_end"] = fact.columns["registered_year_end"]
        else:
            end_year = year if "year" in query.by else \
                value("year_to", hi) if hi is not None else \
                last_activity_year(fact.from_, year)
            fact.columns["registered_at_end"] = registered_on_last_day(
                cand.c.cqp_code, end_year, last_day)
    dims = {d: dimension(d) for d in query.by}
    row_columns = columns(fact, list(dims.values()))
    rows = sa.select(*(e.label(f"k_{d}") for d, e in dims.items()),
                     *(e.label(n) for n, e in row_columns.items()))
    if not dims and not row_columns:
        rows = sa.select(sa.literal(1).label("one"))
    rows = rows.select_from(fact.from_)
    if link is not None:
        rows = rows.join(link, link.c.cqp_code == cand.c.cqp_code)
    conditions = []
    if lo is not None:
        conditions.append(year >= value("year_from", lo))
    if hi is not None:
        conditions.append(year <= value("year_to", hi))
    if query.until is not None:  # a cube serves only the day it is split at
        conditions.append(table.c[cubes.SPLIT] if cube else
                          on_or_before(fact.date, *query.until))
    branches = query.allowed_branches()
    if branches is not None:
        allowed = value("branches", sorted(branches), expanding=True)
        if link is not None:
            conditions.append(link.c.branch_code.in_(allowed))
        else:
            conditions.append(cand.c.cqp_code.in_(cqps_of(allowed)))
    for dim, values in query.where:
        if dim == "branch_code":
            continue
        expression = dimension(dim)
        present = [v for v in values if v is not None]
        condition = expression.in_(value(f"where_{dim}", present, expanding=True)) \
            if present else sa.false()
        if len(present) < len(values):
            condition = sa.or_(condition, expression.is_(None))
        conditions.append(condition)
    if conditions:
        rows = rows.where(*conditions)
    return rows.subquery(f"r_{name}")


def filter_values(query: IndicatorQuery) -> dict[str, object]:
    """The values of a request's filters, as its select's parameters (:func:`fact_rows`
    with ``bound``)."""
    lo, hi = query.years
    values: dict[str, object] = {}
    if lo is not None:
        values["year_from"] = lo
    if hi is not None:
        values["year_to"] = hi
    branches = query.allowed_branches()
    if branches is not None:
        values["branches"] = sorted(branches)
    for dim, given in query.where:
        present = [v for v in given if v is not None]
        if dim != "branch_code" and present:
            values[f"where_{dim}"] = present
    return values


def shape_of(query: IndicatorQuery) -> IndicatorQuery:
    """The request with its filters' values left out: what its select's form depends on
    (which filters, whether one keeps missing values), the key of :func:`_shaped`."""
    lo, hi = query.years
    where = tuple((dim, ((0,) if any(v is not None for v in given) else ())
                   + ((None,) if None in given else ())) for dim, given in query.where)
    return replace(query, where=where, years=(None if lo is None else 0,
                                              None if hi is None else 0),
                   scope=None if query.scope is None else frozenset())


def _shaped(shape: IndicatorQuery, dialect: str, presence: bool,
            sets: tuple[tuple[str, ...], ...] | None) -> sa.Select:
    """The select of every request of this shape, its filters' values parameters (built
    once per shape: a select of every indicator takes 20–30 ms to build, and as long again
    for SQLAlchemy to find its compiled form the first time), for the tables the facts and
    cubes are read from now (the benchmarks' reference and the tests swap them)."""
    readers = (tuple((k, id(v)) for k, v in FACTS.items()),
               tuple((k, id(v)) for k, v in cubes.CUBES.items()))
    return _shaped_by(shape, dialect, presence, sets, readers)


@functools.lru_cache(maxsize=512)
def _shaped_by(shape: IndicatorQuery, dialect: str, presence: bool,
               sets: tuple[tuple[str, ...], ...] | None, readers: tuple) -> sa.Select:
    return _joined(shape, dialect, presence, None if sets is None else list(sets), True)


def statement(query: IndicatorQuery, dialect: str = "duckdb",
              presence: bool = False) -> tuple[sa.Select, dict[str, object]]:
    """:func:`build_select`'s select, shared by the requests of its shape, and this
    request's parameters to execute it with."""
    return _shaped(shape_of(query), dialect, presence, None), filter_values(query)


def rows_column(fact: str) -> str:
    """The column of a wide select (``build_select(..., presence=True)``) counting the rows
    of ``fact`` in each group: where it is 0, the fact has nothing there."""
    return f"rows__{fact}"


def facts_of(query: IndicatorQuery) -> list[str]:
    """The facts a request reads, in the order of its select's columns."""
    return list(dict.fromkeys(BY_NAME[n].fact for n in query.needed() if BY_NAME[n].fact))


def _fact_select(name: str, indicators: Sequence[Indicator], query: IndicatorQuery,
                 context: SqlContext, presence_column: bool = False,
                 sets: Sequence[tuple[str, ...]] | None = None, cube: bool = False,
                 bound: bool = False) -> tuple[sa.Select, dict[str, object]]:
    """The fact's rows under the filters, grouped by the cuts, with each indicator's
    aggregates (and the count of its rows with ``presence_column``); and the value of each
    column for a group without rows. With ``sets``, grouped by each of these sets of
    ``query.by`` at once (``GROUPING SETS``), each row saying its set in
    :data:`GROUPING_COLUMN`. With ``cube``, the cells of the fact's cube instead of its
    rows (for indicators :attr:`~cqp_metrics.kinds.Indicator.in_cube` only). Indicators
    that read the rows through a step of theirs (:meth:`~cqp_metrics.kinds.Indicator.
    step`, the same for all) aggregate what it makes."""
    parts: list[Sql] = []

    def columns(fact: FactSource, partition: list[sa.ColumnElement]) -> dict:
        out: dict[str, sa.ColumnElement] = {}
        for indicator in indicators:
            parts.append(indicator.cube_sql(fact) if cube else
                         indicator.sql(fact, partition, context))
            out.update(parts[-1].rows)
        if cube and presence_column:
            out[ROWS] = fact.from_.c[ROWS]
        return out

    rows = fact_rows(name, query, columns, cube, bound)
    stepped = indicators[0].step_key(context.rules) is not None
    if stepped:
        rows = indicators[0].step(rows, query.by, f"s_{name}")
    cuts = [rows.c[f"k_{d}"] for d in query.by]
    keys = [cut.label(d) for cut, d in zip(cuts, query.by, strict=True)]
    if sets is not None:
        keys.append(sa.func.grouping(*cuts).label(GROUPING_COLUMN))
    aggregates, fill = [], {}
    for part in parts:
        for column, aggregate in part.aggregates.items():
            aggregates.append(aggregate(rows).label(column))
        fill.update(part.fill)
    if presence_column:
        present = sa.func.sum(rows.c[ROWS]) if cube or stepped else sa.func.count()
        aggregates.append(present.label(rows_column(name)))
        fill[rows_column(name)] = 0
    select = sa.select(*keys, *aggregates).select_from(rows)
    if sets is not None:
        select = select.group_by(sa.func.grouping_sets(
            *(sa.tuple_(*(rows.c[f"k_{d}"] for d in cut)) for cut in sets)))
    elif cuts:
        select = select.group_by(*cuts)
    return select, fill


def build_select(query: IndicatorQuery, dialect: str = "duckdb",
                 presence: bool = False) -> sa.Select:
    """One SELECT returning the dimensions of ``query.by`` and the database's columns of every
    indicator involved (counts, and what the other kinds derive theirs from); with
    ``presence``, also each fact's count of rows (:func:`rows_column`), so that the select of
    fewer indicators can be cut out of it (:func:`narrowed`)."""
    select, values = statement(query, dialect, presence)
    return select.params(values)


#: The column of a grouped select (:func:`build_grouped_select`) saying which set of cuts a
#: row belongs to: SQL's ``GROUPING()`` of every cut, a bit set for each cut not in the set.
GROUPING_COLUMN = "grouping__set"


def grouping_mask(dims: Sequence[str], cut: Iterable[str]) -> int:
    """The :data:`GROUPING_COLUMN` of the rows grouped by ``cut`` in a select over ``dims``
    (``GROUPING(a, b, c)``: the first argument is the most significant bit)."""
    cut = set(cut)
    return sum(1 << (len(dims) - 1 - i) for i, d in enumerate(dims) if d not in cut)


def grouped_cuts(queries: Sequence[IndicatorQuery]) -> tuple[str, ...]:
    """The cuts of a grouped select of ``queries``: all of theirs, in registry order."""
    return canonical(d for q in queries for d in q.by)


def build_grouped_select(queries: Sequence[IndicatorQuery], dialect: str) -> sa.Select:
    """:func:`grouped_statement`'s select with its parameters' values."""
    select, values = grouped_statement(queries, dialect)
    return select.params(values)


def grouped_statement(queries: Sequence[IndicatorQuery], dialect: str,
                      ) -> tuple[sa.Select, dict[str, object]]:
    """One SELECT for requests that differ only by their cuts and indicators, with presence
    (:func:`build_select`): each fact's rows are read once and grouped by every set of cuts
    at once (``GROUPING SETS``). A row carries every cut of :func:`grouped_cuts` (NULL
    where its set has not it), the columns of every request, and :data:`GROUPING_COLUMN`.

    The requests must share one reading of the rows (:func:`scan_of`: the same filters,
    the branch link for all or none of them) and have no window over the cuts
    (:func:`windowed`)."""
    if len({scan_of(q) for q in queries}) != 1 or any(windowed(q.names, dialect)
                                                       for q in queries):
        raise QueryError("ces requêtes ne se lisent pas en un seul passage")
    names = {n for q in queries for n in q.names}
    union = replace(queries[0], by=grouped_cuts(queries),
                    names=tuple(e.name for e in REGISTRY if e.name in names))
    sets = tuple(dict.fromkeys(tuple(d for d in union.by if d in q.by) for q in queries))
    return _shaped(shape_of(union), dialect, True, sets), filter_values(union)


def scan_of(query: IndicatorQuery) -> tuple:
    """What the reading of a request's rows depends on besides its indicators and cuts:
    requests of one scan may be grouped in one select (:func:`build_grouped_select`). The
    filters; the facts read (a fact's rows are grouped by every set of cuts of the select,
    and only blocks are cut by block); whether the rows are joined to their branches (a
    CQPI's rows count in each of its branches when cut by branch); for the activity fact,
    whether the year is a cut (the end of the period a registration is checked at)."""
    facts = tuple(facts_of(query))
    return (query.filters(), facts, "branch_code" in query.by,
            "activity" in facts and "year" in query.by)


def reads_rows(query: IndicatorQuery) -> bool:
    """Whether an indicator of the request reads its fact's rows rather than its cube's
    cells (:func:`_reads_of`): a median, an estimate, or a fact the cube does not serve."""
    return any(len(_summed(fact, indicators, query)) < len(indicators)
               for fact, indicators in _by_fact(query).items())


def _summed(fact: str, indicators: list[Indicator], query: IndicatorQuery) -> list[Indicator]:
    """The indicators of ``fact`` that the request reads off its cube's cells (the others
    read its rows)."""
    return [i for i in indicators if i.in_cube] if cubes.serves(fact, query) else []


@functools.lru_cache(maxsize=1024)
def windowed(names: tuple[str, ...], dialect: str) -> bool:
    """Whether a row-level column of these indicators is a window over the cuts
    (Kaplan–Meier's at-risk counts, a median where the backend has none): their rows then
    depend on the cuts, and cannot be grouped by other sets of cuts in the same scan."""
    context = SqlContext(rules_for(dialect), None)
    query = IndicatorQuery(names)
    for _, fact, indicators, cube in _reads_of(query, context.rules):
        select, _ = _fact_select(fact, indicators, query, context, cube=cube)
        if any(isinstance(e, sa.sql.elements.Over) for e in sa.sql.visitors.iterate(select)):
            return True
    return False


def _by_fact(query: IndicatorQuery) -> dict[str, list[Indicator]]:
    by_fact: dict[str, list[Indicator]] = {}
    for name in query.needed():
        entry = BY_NAME[name]
        if entry.fact:
            by_fact.setdefault(entry.fact, []).append(entry)
    return by_fact


def _reads_of(query: IndicatorQuery, rules: Rules,
              ) -> list[tuple[str, str, list[Indicator], bool]]:
    """What a select reads, each in its CTE: (its name, the fact, the indicators, whether
    from the fact's cube). A fact's counts come from its cube where the cube serves the
    request (:func:`cqp_metrics.cubes.serves`), its medians from its rows, the indicators
    of a step (:meth:`~cqp_metrics.kinds.Indicator.step`: Kaplan–Meier's) from its rows
    through that step; the first read of a fact carries its presence column."""
    reads = []
    for fact, indicators in _by_fact(query).items():
        summed = _summed(fact, indicators, query)
        steps: dict[object, list[Indicator]] = {}
        for indicator in indicators:
            if indicator not in summed:
                steps.setdefault(indicator.step_key(rules), []).append(indicator)
        parts = [*([(summed, True, None)] if summed else []),
                 *((group, False, key) for key, group in steps.items())]
        for at, (group, cube, key) in enumerate(parts):
            name = f"f_{fact}" if at == 0 else f"f_{fact}_rows" if key is None else \
                f"f_{fact}_{at}"
            reads.append((name, fact, group, cube))
    return reads


def _joined(query: IndicatorQuery, dialect: str, presence: bool,
            sets: list[tuple[str, ...]] | None, bound: bool = False) -> sa.Select:
    """Each fact's grouped rows in its CTE, joined on the union of their keys."""
    context = SqlContext(rules_for(dialect), query.data_until)
    ctes, fills = {}, {}
    for cte, fact, indicators, cube in _reads_of(query, context.rules):
        select, fill = _fact_select(fact, indicators, query, context,
                                    presence and cte == f"f_{fact}", sets, cube, bound)
        ctes[cte] = select.cte(cte)
        fills.update({column: (cte, value) for column, value in fill.items()})
    columns = list(fills)
    if not query.by:
        first, *rest = ctes.values()
        from_ = first
        for cte in rest:
            from_ = from_.join(cte, sa.true())
        return sa.select(*(_filled(ctes, fills, c) for c in columns)).select_from(from_)
    key_columns = [*query.by, *([GROUPING_COLUMN] if sets is not None else [])]
    keys = sa.union(*(sa.select(*(cte.c[d] for d in key_columns)) for cte in ctes.values()))
    keys = keys.subquery("k")
    from_ = keys
    for cte in ctes.values():
        on = sa.and_(*(keys.c[d].is_not_distinct_from(cte.c[d]) for d in key_columns))
        from_ = from_.outerjoin(cte, on)
    return sa.select(*(keys.c[d] for d in key_columns),
                     *(_filled(ctes, fills, c) for c in columns)).select_from(from_)


def _filled(ctes: dict[str, sa.CTE], fills: dict[str, tuple[str, object]],
            column: str) -> sa.ColumnElement:
    fact, value = fills[column]
    expression = ctes[fact].c[column]
    if value is not None:
        expression = sa.func.coalesce(expression, value)
    return expression.label(column)


@functools.lru_cache(maxsize=1024)
def select_columns(names: tuple[str, ...], by: tuple[str, ...], dialect: str,
                presence: bool = False) -> tuple[str, ...]:
    """The columns of :func:`build_select` for these indicators and cuts."""
    select = build_select(IndicatorQuery(names, by), dialect, presence)
    return tuple(select.selected_columns.keys())


def narrowed(wide: pd.DataFrame, query: IndicatorQuery, dialect: str,
             presence: bool = False) -> pd.DataFrame:
    """What :func:`build_select` of ``query`` (with ``presence`` or not) returns, cut out of
    the frame of a wider request with the same cuts and filters, made with ``presence``:
    its columns, and the groups where one of its facts has rows."""
    columns = list(select_columns(query.names, query.by, dialect, presence))
    if query.by:
        wide = wide[present_rows(wide, query, len(wide))]
    return wide[columns].reset_index(drop=True)


def present_rows(wide: Mapping[str, object], query: IndicatorQuery, size: int) -> np.ndarray:
    """Of ``size`` rows of a wider select (with presence: a frame, or its columns by name),
    those where one of ``query``'s facts has rows (every row when it has no cut)."""
    if not query.by:
        return np.ones(size, dtype=bool)
    present = np.zeros(size, dtype=bool)
    for fact in facts_of(query):
        present |= np.asarray(wide[rows_column(fact)]) > 0
    return present

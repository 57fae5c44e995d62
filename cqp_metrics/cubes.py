"""Aggregates kept at load: each fact's counts summed by every dimension (its cube).

A count (:class:`cqp_metrics.kinds.Count`) and its cell key are sums over the fact's rows
(the key modulo 256): summed over a group of cells, a cell holding them for its rows gives
the same published figure as the rows themselves, so a request reads a fact's cube (some
100,000 cells for 1,000,000 candidacies) instead of its rows. A cube has a cell per
combination of the year and every dimension that cuts the fact, except the training
provider (twice as many cells) and the branch (a CQP's branches are joined when asked,
as for the rows). A count of distinct CQPs reads the cells as it reads rows: each cell is
one CQP's. Medians and Kaplan–Meier estimates are not sums: they still read the rows
(:func:`cqp_metrics.query.build_select` reads both in one select).

Each cell also says whether its rows are dated on or before the data cut's day of their
year (:data:`SPLIT`): the same months of every year (``--until`` that day, the Vue
d'ensemble's comparison of an incomplete year) are read from the cells too.

Each cube is rebuilt with its fact (:func:`cqp_metrics.derived.rebuild`), in the same
transaction, and records what it was built by (:func:`fingerprint`, in ``cube_definition``):
a release that counts differently (a new count, another condition, another dimension or
age band) finds the cubes stale, refuses to read them (``check_schema``: « lancez
cqp-metrics db upgrade ») and makes them again at the next upgrade or load
(:func:`cqp_metrics.derived.ensure_current`), so the same people never read two figures.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from . import schema
from .dimensions import DIMENSIONS
from .facts import FactSource, on_or_before
from .kinds import ROWS, Count, SqlContext
from .period import data_cut, until_of
from .registry import REGISTRY
from .secret import CELL_KEY

if TYPE_CHECKING:  # the query builder imports this module
    from .query import IndicatorQuery

#: Dimensions no cube carries: the branch (joined through the CQP when asked) and the
#: training provider (a request cut or filtered by it reads the rows).
LEFT_OUT = ("branch_code", "provider_id")
_TYPES = {"year": sa.Integer(), "age_band": sa.String(8)}
#: The column of a cube saying whether its cell's rows are dated on or before the day of
#: their year that the cube was split at (:func:`split_day`: the data cut's).
SPLIT = "by_cut"


def split_day(cut: dt.date | None) -> tuple[int, int]:
    """(month, day): where a database whose data cut is ``cut`` splits each year of its
    cubes (the data cut's day; the year's end for a database without data)."""
    return until_of(cut) if cut is not None else (12, 31)


def dimensions_of(fact: str) -> tuple[str, ...]:
    """The dimensions a fact's cube is grouped by."""
    return tuple(d for d, dim in DIMENSIONS.items()
                 if d not in LEFT_OUT and (dim.facts is None or fact in dim.facts))


#: A fact's own columns its cube keeps as they are, one value per cell (they depend only
#: on the cell's dimensions): what its distinct counts' conditions read.
KEPT = {"activity": ("registered_year_end",)}


def counts_of(fact: str) -> list[Count]:
    """The fact's indicators a cube answers (:attr:`cqp_metrics.kinds.Indicator.in_cube`)."""
    return [e for e in REGISTRY if e.fact == fact and e.in_cube]


def _summed(fact: str) -> list[Count]:
    """The counts whose values a cube's cells hold (the others count distinct values)."""
    return [c for c in counts_of(fact) if not c.distinct]


def _table(fact: str, facts: sa.Table) -> sa.Table:
    columns = [sa.Column(d, _TYPES.get(d) or facts.c[d].type)
               for d in (*dimensions_of(fact), *KEPT.get(fact, ()))]
    columns.append(sa.Column(SPLIT, sa.Boolean))
    columns.append(sa.Column(ROWS, sa.Integer, nullable=False))
    for count in counts_of(fact):
        if count.distinct:
            if count.distinct not in (c.name for c in columns):
                raise ValueError(f"{count.name}: a cube's cells do not hold {count.distinct}")
            continue
        columns.append(sa.Column(count.name, sa.Integer, nullable=False))
        if count.secret:
            columns.append(sa.Column(count.name + CELL_KEY, sa.SmallInteger, nullable=False,
                                     doc="the cell's key: its rows' record keys, mod 256"))
    return sa.Table(f"cube_{fact}", schema.metadata, *columns,
                    info={"derived": True, "cube": fact})


#: Each fact with counts, and its cube's table (its rows' in ``fact_<fact>``); a request
#: reads a cube only through this mapping (the benchmarks' reference and the tests empty it
#: to read the rows).
CUBES: dict[str, sa.Table] = {
    fact: _table(fact, schema.metadata.tables[f"fact_{fact}"])
    for fact in dict.fromkeys(e.fact for e in REGISTRY if e.fact) if counts_of(fact)}


def serves(fact: str, query: IndicatorQuery) -> bool:
    """Whether the cube of ``fact`` can answer ``query``'s counts on it: it has one, and the
    request's cuts and filters are among its dimensions (or the branch), with no ``until``
    or with the day the cubes are split at (:attr:`~cqp_metrics.query.IndicatorQuery.
    cells_split`, known when the request carries the database's data cut)."""
    if fact not in CUBES or query.until not in (None, query.cells_split):
        return False
    held = {*dimensions_of(fact), "branch_code"}
    return all(d in held for d in (*query.by, *(d for d, _ in query.where)))


#: The names of the bound parameters holding the (month, day) each year of a cube is split
#: at: a cube's statement is the same whatever the data cut (made and compiled once per
#: process), executed with their values (:func:`split_parameters`).
SPLIT_PARAMETERS = ("split_month", "split_day_of_month")


def split_parameters(split: tuple[int, int]) -> dict[str, int]:
    """The values of :data:`SPLIT_PARAMETERS` for ``split`` (month, day)."""
    return dict(zip(SPLIT_PARAMETERS, split, strict=True))


def select_cells(fact: str, source: FactSource, split: tuple[int, int]) -> sa.Select:
    """The cells of the cube of ``fact`` from its rows (``source``), in its table's columns:
    each summed count as its kind computes it, grouped by every dimension of the cube, the
    columns it keeps and whether the rows are dated on or before ``split`` (month, day) in
    their year."""
    return _cells(fact, source).params(split_parameters(split))


def _cells(fact: str, source: FactSource) -> sa.Select:
    """:func:`select_cells` with the split day left as parameters (:data:`SPLIT_PARAMETERS`)."""
    dims = {d: DIMENSIONS[d].expression(source, None) for d in dimensions_of(fact)}
    dims.update({c: source[c] for c in KEPT.get(fact, ())})
    month, day = (sa.bindparam(name, type_=sa.Integer()) for name in SPLIT_PARAMETERS)
    dims[SPLIT] = on_or_before(source.date, month, day)
    parts = [count.sql(source, [], SqlContext(None)) for count in _summed(fact)]
    rows = sa.select(*(e.label(f"k_{d}") for d, e in dims.items()),
                     *(e.label(n) for part in parts for n, e in part.rows.items()))
    rows = rows.select_from(source.from_).subquery("r")
    cuts = [rows.c[f"k_{d}"] for d in dims]
    aggregates = {ROWS: sa.func.count()}
    for part in parts:
        aggregates.update({n: aggregate(rows) for n, aggregate in part.aggregates.items()})
    values = {**{d: cut for d, cut in zip(dims, cuts, strict=True)}, **aggregates}
    table = CUBES[fact]
    return (sa.select(*(values[c.name].label(c.name) for c in table.columns))
            .group_by(*cuts).order_by(rows.c.k_cqp_code))


@functools.cache
def _definition(fact: str, source: Callable[[str], FactSource],
                ) -> tuple[str, tuple[tuple[str, object], ...]]:
    """The SQL of :func:`select_cells` over ``source(fact)`` (PostgreSQL's, whatever the
    backend: the definition, not a dialect's text) and its parameters' values, the split
    day's left empty (once per process)."""
    compiled = _cells(fact, source(fact)).compile(dialect=postgresql.dialect())
    return str(compiled), tuple(compiled.params.items())


@functools.cache
def fingerprint(fact: str, source: Callable[[str], FactSource],
                split: tuple[int, int]) -> str:
    """What the cube of ``fact`` is built by, in this release and split at ``split``: a
    digest of the SQL of :func:`select_cells` over ``source(fact)`` and its values. A cube
    split at another day than the data cut's is as stale as one another release built."""
    sql, values = _definition(fact, source)
    values = {**dict(values), **split_parameters(split)}
    text = f"{sql}\n{sorted(values.items())!r}"
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def _insert(fact: str, source: Callable[[str], FactSource]) -> sa.Insert:
    """The statement that fills the cube of ``fact``, executed with the split day's
    parameters (made once per process: a load rebuilds every cube)."""
    table = CUBES[fact]
    return table.insert().from_select([c.name for c in table.columns],
                                      _cells(fact, source(fact)))


def rebuild(connection: sa.Connection, facts: Iterable[str],
            source: Callable[[str], FactSource]) -> None:
    """Make the cubes of ``facts`` again from their rows (``source(fact)``: the derived
    fact), in the caller's transaction (ordered by CQP, as the facts are: DuckDB skips the
    row groups a CQP filter excludes), split at the data cut's day, and record what they
    were built by."""
    facts = [f for f in facts if f in CUBES]
    split = split_day(data_cut(connection))
    for fact in facts:
        connection.execute(CUBES[fact].delete())
        connection.execute(_insert(fact, source), split_parameters(split))
    if facts:
        built = schema.cube_definition
        names = [CUBES[f].name for f in facts]
        connection.execute(built.delete().where(built.c.cube.in_(names)))
        connection.execute(built.insert(), [
            {"cube": CUBES[f].name, "fingerprint": fingerprint(f, source, split)}
            for f in facts])

"""Per-database SQL, in one place: what each backend says differently, and what it lacks.

The rest of the package writes portable SQLAlchemy Core; the few constructs that differ
between DuckDB, SQLite and PostgreSQL are SQLAlchemy elements compiled here, one rule per
backend (the way ibis' compilers keep one translation table per backend):

- days between two dates: DuckDB ``date_diff('day', start, end)``, PostgreSQL
  ``end - start``, SQLite the difference of ``julianday`` (dates are ISO text there);
- median: DuckDB ``median(x)``, PostgreSQL ``percentile_cont(0.5) WITHIN GROUP (ORDER BY x)``;
  SQLite has none: the kind reads it off the ranks of the distinct values (a window);
- natural logarithm: ``ln`` everywhere, but SQLite has it only when built with its math
  functions; :func:`prepare` registers one otherwise;
- PostgreSQL's JIT compiling is turned off on every connection: it costs more than it saves
  on the indicators' selects;
- several sets of cuts in one scan: ``GROUP BY GROUPING SETS`` with ``GROUPING()`` on DuckDB
  and PostgreSQL; SQLite has neither, and reads each set of cuts in its own select;
- SQLAlchemy compiles a select once per shape and keeps it (its compiled cache) for SQLite and
  PostgreSQL; duckdb_engine leaves that cache off (set so to silence SQLAlchemy's warning
  until tested, Mause/duckdb_engine#268): :class:`DuckDBDialect` turns it on for
  ``duckdb://`` URLs.

- reading a result: DuckDB hands its columns over as arrays (``fetchnumpy``); the others'
  rows are made into columns (:func:`fetched`).

What a backend cannot do is declared in :data:`RULES` (``native_median``,
``grouping_sets``), and the query builder asks here rather than testing backend names
itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb_engine
import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import registry
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


@dataclass(frozen=True)
class Rules:
    """What one backend can compute natively."""

    name: str
    #: A ``median`` aggregate (exact: the mean of the two middle values for an even count);
    #: else the median is read off the ranks of the distinct values
    #: (:meth:`cqp_metrics.kinds.Median.step`).
    native_median: bool
    #: ``GROUP BY GROUPING SETS`` with ``GROUPING()``: several sets of cuts in one scan.
    grouping_sets: bool = False
    #: What every connection is opened with (the DBAPI's ``connect`` arguments).
    connect_args: tuple[tuple[str, str], ...] = ()


RULES = {
    "duckdb": Rules("duckdb", native_median=True, grouping_sets=True),
    # PostgreSQL compiles a query to machine code (JIT) once its estimated cost is high, as
    # every indicator's scan of a million rows is: 0.3-0.6 s of compiling per select, for
    # selects of 1-2 s (measured at 1,000,000 candidacies, docs/benchmarks.md). Its
    # percentile_cont sorts each group's rows but reads every median of a fact in one scan;
    # read off the counts per value, each median scans the rows again, and a scan of the
    # survey's 700,000 rows costs it 270 ms (the Données page 1.7 s instead of 0.9, by hand)
    "postgresql": Rules("postgresql", native_median=True, grouping_sets=True,
                        connect_args=(("options", "-c jit=off"),)),
    "sqlite": Rules("sqlite", native_median=False),
}


def rules_for(dialect_name: str) -> Rules:
    """The rules of a backend; an unknown one gets the portable fallbacks."""
    return RULES.get(dialect_name, Rules(dialect_name, native_median=False))


# -- DuckDB with SQLAlchemy's compiled cache -------------------------------------------------


class DuckDBDialect(duckdb_engine.Dialect):
    """duckdb_engine's dialect with SQLAlchemy's compiled cache: a select is compiled once
    per shape and engine, its values bound at each execution, as on SQLite and PostgreSQL.
    Its compiler is PostgreSQL's with this module's DuckDB rules; every value reaches the SQL
    as a bound parameter and this module's elements declare ``inherit_cache``, and the suite
    runs the same requests on the three backends against the same expectations."""

    supports_statement_cache = True  # read on the class itself, not inherited


# ``duckdb://`` URLs made in this process use it (SQLAlchemy looks in its registry first).
registry.register("duckdb", __name__, "DuckDBDialect")


# -- reading a result ------------------------------------------------------------------------


def fetched(result: sa.CursorResult) -> pd.DataFrame:
    """A select's result as a frame: its columns as arrays straight from DuckDB, made from
    the rows elsewhere. (Building a frame from rows costs more than the select itself on a
    wide result of a few thousand rows: 80 ms for 3,000 rows of 150 columns, by hand.) The
    same frame as one made from the rows: a column of numbers with missing values is a float
    column with NaN, a column of texts holds them missing."""
    return pd.DataFrame(fetched_columns(result), columns=list(result.keys()))


def fetched_columns(result: sa.CursorResult) -> dict[str, np.ndarray | pd.Series]:
    """:func:`fetched`'s columns by name, before they are made a frame (arrays from DuckDB,
    the columns of a frame of the rows elsewhere): for a reader that converts each column
    anyway."""
    columns = list(result.keys())
    if result.dialect.name != "duckdb":
        frame = pd.DataFrame(result.all(), columns=columns)
        return {column: frame[column] for column in columns}
    arrays = result.cursor.fetchnumpy()
    out = {}
    for name in columns:
        array = arrays[name]
        if isinstance(array, np.ma.MaskedArray):
            missing = np.ma.getmaskarray(array)
            array = array.data.astype(float if array.dtype.kind in "iufb" else object)
            array[missing] = np.nan if array.dtype.kind == "f" else None
        out[name] = array
    return out


# -- days between two dates ------------------------------------------------------------------


class days_between(FunctionElement):  # noqa: N801 - an SQL function, named like one
    """Whole days from ``start`` to ``end`` (``end - start``), as an integer."""

    type = sa.Integer()
    name = "days_between"
    inherit_cache = True


@compiles(days_between)
def _days_default(element, compiler, **kw):  # PostgreSQL: date - date is an integer
    start, end = list(element.clauses)
    return f"({compiler.process(end, **kw)} - {compiler.process(start, **kw)})"


@compiles(days_between, "duckdb")
def _days_duckdb(element, compiler, **kw):
    start, end = list(element.clauses)
    return f"date_diff('day', {compiler.process(start, **kw)}, {compiler.process(end, **kw)})"


@compiles(days_between, "sqlite")
def _days_sqlite(element, compiler, **kw):  # dates are ISO text: julianday is exact on days
    start, end = list(element.clauses)
    return (f"CAST(julianday({compiler.process(end, **kw)}) - "
            f"julianday({compiler.process(start, **kw)}) AS INTEGER)")


# -- median ----------------------------------------------------------------------------------


class _median(FunctionElement):  # noqa: N801
    type = sa.Double()
    name = "median"
    inherit_cache = True


@compiles(_median)
def _median_default(element, compiler, **kw):
    raise sa.exc.CompileError(f"pas de médiane native sur {compiler.dialect.name}")


@compiles(_median, "duckdb")
def _median_duckdb(element, compiler, **kw):
    return f"median({compiler.process(element.clauses, **kw)})"


@compiles(_median, "postgresql")
def _median_postgresql(element, compiler, **kw):
    return (f"percentile_cont(0.5) WITHIN GROUP (ORDER BY "
            f"{compiler.process(element.clauses, **kw)})")


def median(value: sa.ColumnElement) -> sa.ColumnElement:
    """The backend's own median of ``value`` per group (NULLs ignored), where
    :attr:`Rules.native_median` says it has one; elsewhere the kind reads the median off the
    ranks of the group's distinct values (:meth:`cqp_metrics.kinds.Median.step`)."""
    return _median(value)


# -- natural logarithm -----------------------------------------------------------------------


def prepare(connection: sa.Connection) -> None:
    """Give a connection what its backend lacks: SQLite built without its math functions
    gets ``ln`` as a registered function (once per DBAPI connection)."""
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.driver_connection
    if getattr(raw, "_cqp_prepared", False):
        return
    try:
        raw.execute("SELECT ln(2.0)").fetchone()
    except Exception:  # noqa: BLE001 - sqlite3.OperationalError: no such function
        raw.create_function("ln", 1, lambda x: None if x is None or x <= 0 else math.log(x),
                            deterministic=True)
    try:
        raw._cqp_prepared = True
    except AttributeError:  # a DBAPI connection that takes no attribute: check each time
        pass

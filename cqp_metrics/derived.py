"""The derived fact layer: each fact of :mod:`cqp_metrics.facts` materialised in its own
table (``fact_jury``, ``fact_candidacy``…), one row per thing counted, carrying its date,
its precomputed flags (a decision, in a registration window, completed and when…) and its
candidacy's dimensions.

The raw definitions (correlated ``EXISTS``, first decisions, joins) are evaluated once per
load instead of once per request: :func:`refresh` rebuilds the tables inside the writing
transaction of a load or a correction (:func:`cqp_metrics.loading.write_dataset`), of an
RNCP import, and after the migrations of an upgrade (:func:`ensure_current`). Nothing in them
depends on the data cut or on a request: the cut, the period and the filters apply when a
request reads them.
"""

from __future__ import annotations

import datetime as dt
import functools

import sqlalchemy as sa

from . import cubes, schema
from .facts import RAW_FACTS, FactSource
from .period import data_cut

#: Each fact's table and the column of its own that dates it (None: the candidacy's entry).
TABLES: dict[str, tuple[sa.Table, str | None]] = {
    "candidacy": (schema.fact_candidacy, None),
    "jury": (schema.fact_jury, "jury_date"),
    "first_partial": (schema.fact_first_partial, "start"),
    "first_jury": (schema.fact_first_jury, "first_jury"),
    "block_result": (schema.fact_block_result, "jury_date"),
    "activity": (schema.fact_activity, "activity_date"),
    "holder": (schema.fact_holder, "first_full"),
    "insertion": (schema.fact_insertion, "first_full"),
}
_CANDIDACY = [c.name for c in schema.candidacy.columns]


def _own(raw: FactSource, table: sa.Table, date: str | None) -> dict[str, sa.ColumnElement]:
    """A raw fact's columns that its table stores besides the candidacy's (its own record
    key among them, where its unit is not the candidacy)."""
    own = {date: raw.date} if date else {}
    own.update({k: v for k, v in raw.columns.items()
                if k not in _CANDIDACY or k in table.info["own"]})
    return own


#: Each fact's named columns (its raw definition's), read once rather than per request.
_COLUMNS = {name: tuple(RAW_FACTS[name]().columns) for name in TABLES}


def source(name: str) -> FactSource:
    """The fact ``name`` read from its derived table: the same columns as its raw definition,
    each now a stored column."""
    table, date = TABLES[name]
    columns = {k: table.c[k] for k in _COLUMNS[name]}
    return FactSource(table, table, table.c[date or "entered_on"], columns)


#: What the query builder reads: every fact from the derived layer.
FACTS = {name: (lambda name=name: source(name)) for name in TABLES}


def select_raw(name: str) -> sa.Select:
    """The rows of fact ``name`` computed from the raw tables, as its table stores them."""
    table, date = TABLES[name]
    raw = RAW_FACTS[name]()
    values = {c: raw.candidacy.c[c] for c in _CANDIDACY}
    values.update(_own(raw, table, date))
    return sa.select(*(values[c.name].label(c.name) for c in table.columns)).select_from(
        raw.from_)


def reading(*tables: sa.Table) -> tuple[str, ...]:
    """The facts whose raw definition reads any of ``tables`` (through an alias, a join or a
    correlated ``EXISTS``): those a write to these tables leaves stale."""
    wanted = set(tables)
    facts = []
    for name in TABLES:
        read = sa.sql.util.find_tables(select_raw(name), include_aliases=True,
                                       include_joins=True, include_selects=True)
        bases = {getattr(table, "element", table) for table in read}
        if bases & wanted:
            facts.append(name)
    return tuple(facts)


def ensure_current(connection: sa.Connection) -> bool:
    """Bring the derived tables to this release's definition: when one is missing or its
    columns differ from :mod:`cqp_metrics.schema`'s (a migration changed the facts, or
    dropped the tables to have them rebuilt), every derived table is made again and filled,
    with a new version of the data. Called by :func:`cqp_metrics.db.upgrade` once the
    migrations have run, so that no migration depends on a later definition. True when
    rebuilt."""
    existing = set(sa.inspect(connection).get_table_names())
    tables = [*(table for table, _ in TABLES.values()), *cubes.CUBES.values()]
    current = all(
        table.name in existing and list(connection.execute(sa.text(
            f'SELECT * FROM "{table.name}" WHERE 1 = 0')).keys())
        == [c.name for c in table.columns]
        for table in tables) and cubes_current(connection)
    if current:
        return False
    for table in tables:
        table.drop(connection, checkfirst=True)
        table.create(connection)
    refresh(connection)
    return True


def cubes_current(connection: sa.Connection) -> bool:
    """Whether every cube was built by this release's definition (:func:`cqp_metrics.cubes.
    fingerprint`): else a request would read counts another definition made."""
    built = schema.cube_definition
    stored = dict(connection.execute(sa.select(built.c.cube, built.c.fingerprint)).all())
    split = cubes.split_day(data_cut(connection))
    return all(stored.get(table.name) == cubes.fingerprint(fact, source, split)
               for fact, table in cubes.CUBES.items())


def refresh(connection: sa.Connection, names: tuple[str, ...] | None = None) -> None:
    """Rebuild the derived tables (of the facts ``names``; all by default) from the raw
    tables, in the caller's transaction, and record the new version of the data."""
    rebuilt = rebuild(connection, names)
    connection.execute(schema.fact_refresh.insert().values(
        version=version(connection) + 1, refreshed_at=dt.datetime.now(),
        facts=",".join(rebuilt)))


def new_version(connection: sa.Connection, what: str) -> None:
    """Record a new version of the data without rebuilding anything (``what`` changed: the
    secret's rule), so that every cache of results is renewed."""
    connection.execute(schema.fact_refresh.insert().values(
        version=version(connection) + 1, refreshed_at=dt.datetime.now(), facts=what))


def rebuild(connection: sa.Connection, names: tuple[str, ...] | None = None) -> list[str]:
    """Rebuild the derived tables only, each fact's cube with it (:mod:`cqp_metrics.cubes`);
    the facts done."""
    rebuilt = [name for name in TABLES if names is None or name in names]
    for name in rebuilt:
        connection.execute(TABLES[name][0].delete())
        connection.execute(_insert(name))
    cubes.rebuild(connection, rebuilt, source)
    return rebuilt


@functools.cache
def _insert(name: str) -> sa.Insert:
    """The statement that fills fact ``name``'s table (made once per process: a load
    rebuilds every fact)."""
    table, _ = TABLES[name]
    return table.insert().from_select([c.name for c in table.columns], stored_order(name))


def stored_order(name: str) -> sa.Select:
    """The rows of fact ``name`` in the order its table keeps them: by CQP. DuckDB stores
    rows in the order they arrive and skips the row groups (about 120,000 rows each) whose
    CQPs a filter excludes (a branch, a CQP, a user's scope): such selects read a fraction
    of the table. Other backends ignore the order."""
    select = select_raw(name)
    return select.order_by(select.selected_columns.cqp_code)


def version(connection: sa.Connection) -> int:
    """The version of the data the indicators read: one more at each load, correction or
    RNCP import (0: never built). Caches of results are keyed by it."""
    latest = connection.execute(sa.select(sa.func.max(schema.fact_refresh.c.version))).scalar()
    return int(latest or 0)

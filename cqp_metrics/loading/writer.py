"""Write a :class:`Dataset` in one transaction: rows are upserted by their key.

Loading the same files twice changes nothing; a corrected row replaces the old one, in the
columns its file carries only (a column absent from the file keeps the stored values). Each
candidacy, jury decision and block result gets its record key (:mod:`cqp_metrics.secret`)
from its identity, so a reload or a correction never changes it. A
CQP's branches, and its registrations when the file has the RNCP columns, read from
``certifications.csv`` are replaced as a whole.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from .. import derived, schema
from ..period import latest_fact_date
from ..secret import UNITS, hmac_key, with_record_keys
from .problems import LoadError, Problem
from .validate import Dataset

#: Called with (table name, rows written so far, rows in all) while writing.
Progress = Callable[[str, int, int], None]
CHUNK = 20_000


def write_dataset(connection: sa.Connection, dataset: Dataset, source: str,
                  progress: Progress | None = None, data_until: dt.date | None = None,
                  refresh: bool = True) -> int:
    """Upsert every table of ``dataset`` on ``connection`` (inside the caller's transaction)
    and record the load with its data cut: ``data_until``, by default the latest date of a
    fact in the database once written (for a whole load, the latest date in its files; a
    partial correction keeps the data cut its data reach). ``refresh``: rebuild the derived
    facts (False only for a base written in parts, the last part rebuilding them)."""
    total = dataset.rows()
    done = 0
    if "certification" in dataset.tables:
        cqps = list(dataset.tables["certification"]["cqp_code"])
        replaced = [schema.certification_branch]
        if dataset.registrations:  # a file without the RNCP columns keeps the windows
            replaced.append(schema.registration)
        for table in replaced:
            condition = table.c.cqp_code.in_(sa.bindparam("cqps", expanding=True))
            if table is schema.registration:
                condition &= table.c.source == "file"
            for start in range(0, len(cqps), 1000):
                connection.execute(table.delete().where(condition),
                                   {"cqps": cqps[start:start + 1000]})
    key = None
    for table in schema.WRITE_ORDER:
        frame = dataset.tables.get(table.name)
        if frame is None or frame.empty:
            continue
        if table.name in UNITS:  # each unit's record key, from its identity (never changes)
            key = key or hmac_key(connection)
            frame = with_record_keys(frame, table.name, key)
        _upsert(connection, table, frame, lambda n, t=table.name, d=done: progress and progress(
            t, d + n, total))
        done += len(frame)
    latest = latest_fact_date(connection)
    if data_until is None:
        data_until = latest
    elif latest is not None and latest > data_until:
        raise LoadError([Problem("base", None, None, latest.isoformat(),
                                 "la base contient des faits datés après la date d'arrêt "
                                 f"demandée ({data_until:%d/%m/%Y}) : donnez une date "
                                 "d'arrêt postérieure")])
    connection.execute(schema.load_log.insert().values(
        loaded_at=dt.datetime.now(), source=source, rows=total, data_until=data_until))
    if refresh:
        derived.refresh(connection)
    return total


def _upsert(connection: sa.Connection, table: sa.Table, frame: pd.DataFrame,
            progress: Callable[[int], None]) -> None:
    columns = list(frame.columns)
    keys = [c.name for c in table.primary_key.columns]
    # A foreign-key column is never updated: DuckDB cannot update an indexed column of a row
    # that other rows reference, and the validation refuses such changes on every backend.
    others = [c for c in columns if c not in keys and not table.c[c].foreign_keys]
    set_based = {"duckdb": _upsert_duckdb, "postgresql": _upsert_postgresql}
    if connection.dialect.name in set_based:
        set_based[connection.dialect.name](connection, table, frame, keys, others)
        progress(len(frame))
        return
    statement = sqlite.insert(table)
    if others:
        statement = statement.on_conflict_do_update(
            index_elements=keys, set_={c: statement.excluded[c] for c in others})
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    records = _records(frame, table)
    for start in range(0, len(records), CHUNK):
        connection.execute(statement, records[start:start + CHUNK])
        progress(min(start + CHUNK, len(records)))


def _typed(frame: pd.DataFrame, table: sa.Table) -> pd.DataFrame:
    """The rows with each column in its table's type: dates as datetimes, integers as
    nullable integers, text as text (blanks stay missing)."""
    columns = {}
    for column in frame.columns:
        kind = table.c[column].type
        if isinstance(kind, sa.Date):
            columns[column] = pd.to_datetime(frame[column])
        elif isinstance(kind, sa.Integer):
            columns[column] = frame[column].astype("Int64")
        elif isinstance(kind, sa.Float):
            columns[column] = frame[column].astype("Float64")
        elif isinstance(kind, sa.Boolean):  # missing stays missing (in_target_job)
            columns[column] = frame[column].astype("boolean")
        else:
            columns[column] = frame[column].astype("str")
    return pd.DataFrame(columns)


def _set_based(keys: list[str], others: list[str]) -> str:
    """The ``ON CONFLICT`` clause of a set-based upsert (DuckDB and PostgreSQL spell it
    alike)."""
    conflict = ", ".join(f'"{c}"' for c in keys)
    return f" ON CONFLICT ({conflict}) " + (
        "DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in others)
        if others else "DO NOTHING")


def _upsert_duckdb(connection: sa.Connection, table: sa.Table, frame: pd.DataFrame,
                   keys: list[str], others: list[str]) -> None:
    """DuckDB reads the rows in place, as one Arrow table: one set-based INSERT (… ON CONFLICT
    when the table already holds rows)."""
    duck = connection.connection.driver_connection
    staged = pa.Table.from_pandas(_typed(frame, table), preserve_index=False)
    name = f"incoming_{table.name}"
    duck.register(name, staged)
    try:
        column_list = ", ".join(f'"{c}"' for c in staged.column_names)
        select_list = ", ".join(
            f'CAST("{c}" AS DATE)' if isinstance(table.c[c].type, sa.Date) else f'"{c}"'
            for c in staged.column_names)
        insert = f'INSERT INTO "{table.name}" ({column_list}) SELECT {select_list} FROM {name}'
        empty = duck.execute(f'SELECT NOT EXISTS (SELECT 1 FROM "{table.name}")').fetchone()[0]
        if not empty:  # an upsert checks every row against the key index: only when needed
            insert += _set_based(keys, others)
        duck.execute(insert)
    finally:
        duck.unregister(name)


def _upsert_postgresql(connection: sa.Connection, table: sa.Table, frame: pd.DataFrame,
                       keys: list[str], others: list[str]) -> None:
    """PostgreSQL copies the rows, as CSV, into a temporary table of the same columns, then
    one set-based INSERT … ON CONFLICT (row by row, a million candidacies took minutes).
    A blank is NULL, quoted or not (the validation has made every blank text missing)."""
    columns = list(frame.columns)
    column_list = ", ".join(f'"{c}"' for c in columns)
    name = f"incoming_{table.name}"
    buffer = io.StringIO()
    _typed(frame, table).to_csv(buffer, index=False, header=False, date_format="%Y-%m-%d")
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(f'CREATE TEMPORARY TABLE "{name}" AS '
                       f'SELECT {column_list} FROM "{table.name}" WITH NO DATA')
        with cursor.copy(f'COPY "{name}" ({column_list}) FROM STDIN WITH (FORMAT csv, '
                         f'FORCE_NULL ({column_list}))') as copy:
            copy.write(buffer.getvalue())
        cursor.execute(f'INSERT INTO "{table.name}" ({column_list}) '
                       f'SELECT {column_list} FROM "{name}"' + _set_based(keys, others))
        cursor.execute(f'DROP TABLE "{name}"')
    finally:
        cursor.close()


def _records(frame: pd.DataFrame, table: sa.Table) -> list[dict]:
    """Rows as dicts of plain Python values (dates as ``date``, blanks as None)."""
    converted = {}
    for column in frame.columns:
        series = frame[column]
        if isinstance(table.c[column].type, sa.Date):
            stamps = pd.to_datetime(series)
            values = [None if pd.isna(v) else v.date() for v in stamps]
        elif isinstance(table.c[column].type, sa.Integer):
            values = [None if pd.isna(v) else int(v) for v in series]
        elif isinstance(table.c[column].type, sa.Float):
            values = [None if pd.isna(v) else float(v) for v in series]
        elif isinstance(table.c[column].type, sa.Boolean):
            values = [None if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v))
                      else bool(v) for v in series]
        else:
            values = [None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
                      for v in series]
        converted[column] = values
    columns = list(converted)
    return [dict(zip(columns, row, strict=True)) for row in zip(*converted.values(), strict=True)]

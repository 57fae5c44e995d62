"""The database layer: a served DuckDB file shared by the process's queries."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import sqlalchemy as sa

from cqp_metrics import compute
from cqp_metrics.db import SharedReadOnlyFile, make_engine, writing
from cqp_metrics.dialects import fetched


def _value(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT v FROM t")).scalar_one()


def _write(url: str, value: int) -> None:
    """As every command writes: into a copy renamed over the file."""
    with writing(url) as engine, engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE IF NOT EXISTS t (v INTEGER)"))
        connection.execute(sa.text("DELETE FROM t"))
        connection.execute(sa.text("INSERT INTO t VALUES (:v)"), {"v": value})


def test_one_open_database_then_the_replaced_file(tmp_path):
    url = f"duckdb:///{tmp_path / 'cqp.duckdb'}"
    _write(url, 1)
    engine = make_engine(url, read_only=True, hold_file=False)
    assert _value(engine) == 1
    shared = SharedReadOnlyFile.of(tmp_path / "cqp.duckdb")
    opened = shared._database
    assert _value(engine) == 1 and shared._database is opened  # not opened once more
    _write(url, 2)  # while the server holds the old file open
    assert _value(engine) == 2
    assert shared._database is not opened


def test_a_new_file_waits_for_the_queries_on_the_old_one(tmp_path):
    url = f"duckdb:///{tmp_path / 'cqp.duckdb'}"
    _write(url, 1)
    engine = make_engine(url, read_only=True, hold_file=False)
    seen = []
    with engine.connect() as reading:  # a query still reading the old file
        assert reading.execute(sa.text("SELECT v FROM t")).scalar_one() == 1
        _write(url, 2)
        later = threading.Thread(target=lambda: seen.append(_value(engine)))
        later.start()
        time.sleep(0.3)
        assert not seen  # it waits: DuckDB would hand it the old database
        assert reading.execute(sa.text("SELECT v FROM t")).scalar_one() == 1
    later.join(timeout=SharedReadOnlyFile.WAIT)
    assert seen == [2]


def test_postgresql_connections_compile_no_jit_and_keep_the_urls_options(postgres_server):
    """JIT compiling costs PostgreSQL more than it saves on the indicators' selects: every
    connection turns it off, after the options the URL gives (kept)."""
    url = postgres_server.url()
    for address, expected in ((url, "4MB"), (url + "?options=-c%20work_mem%3D64MB", "64MB")):
        engine = make_engine(address)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW jit").scalar() == "off"
            assert connection.exec_driver_sql("SHOW work_mem").scalar() == expected
        engine.dispose()


def test_a_request_s_selects_compile_once_per_shape(engine):
    """Another value of the same filter runs the selects compiled for the first one, its
    values bound (SQLAlchemy's compiled cache, turned on for DuckDB too): a filter change
    pays for no compiling after the first time."""
    compiled = []
    sa.event.listen(engine, "after_cursor_execute",
                    lambda _c, _cur, _s, _p, context, _m: compiled.append(context.compiled))
    compute(engine, by=["year"], where={"region_code": ["11"]})
    first = list(compiled)
    compiled.clear()
    compute(engine, by=["year"], where={"region_code": ["24", "32"]})
    assert first and compiled  # (the first request also read what stays: the data's version)
    assert all(any(c is f for f in first) for c in compiled)


def test_duckdb_draws_no_progress_bar_of_its_own(tmp_path):
    """A long query (a large ``db upgrade``) prints nothing of DuckDB's on the terminal,
    for the writer and for the dashboards' shared read-only file alike. (Asked in a process
    of its own: under pytest's capture DuckDB leaves its bar off by itself.)"""
    url = f"duckdb:///{tmp_path / 'cqp.duckdb'}"
    _write(url, 1)
    script = f"""
import sqlalchemy as sa
from cqp_metrics.db import make_engine
for engine in (make_engine({url!r}), make_engine({url!r}, read_only=True, hold_file=False)):
    with engine.connect() as connection:
        print(connection.execute(sa.text(
            "SELECT current_setting('enable_progress_bar')")).scalar_one())
    engine.dispose()
"""
    plain = """
import duckdb
print(duckdb.connect().execute("SELECT current_setting('enable_progress_bar')").fetchone()[0])
"""
    assert _run(plain) == ["True"]  # DuckDB's own default, in such a process
    assert _run(script) == ["False", "False"]


def _run(script: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    return done.stdout.split()


def test_duckdb_s_arrays_read_as_the_rows_would(tmp_path):
    """:func:`cqp_metrics.dialects.fetched` takes DuckDB's columns as arrays: the same frame
    as one made from the rows (missing numbers NaN, missing texts missing)."""
    engine = make_engine(f"duckdb:///{tmp_path / 'cqp.duckdb'}")
    select = sa.text("SELECT * FROM (VALUES (1, 2.5::DOUBLE, 'a', 7), (NULL, NULL, NULL, 8), "
                     "(3, 0.5::DOUBLE, 'c', 9)) AS t(i, f, s, n)")
    with engine.connect() as connection:
        rows = connection.execute(select)
        expected = pd.DataFrame(rows.all(), columns=list(rows.keys()))
        got = fetched(connection.execute(select))
    # the same columns and values (DuckDB's own widths: INTEGER is int32 here)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert [got[c].dtype.kind for c in ("i", "f", "n")] == ["f", "f", "i"]
    assert np.isnan(got["i"][1]) and np.isnan(got["f"][1]) and got["s"].isna()[1]
    engine.dispose()

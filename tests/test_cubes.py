"""The cubes (aggregates kept at load) hold their facts' counts, and a request reads the same
table from them as from the rows, on the three backends."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from test_derived import assert_exact, statements

from cqp_metrics import api, cache, cubes, db, demo, derived, dialects, schema
from cqp_metrics.loading import write_dataset
from cqp_metrics.period import data_cut
from cqp_metrics.query import IndicatorQuery, build_select

from conftest import copy_of_template, write_demo


def _with_missing_values(engine: sa.Engine) -> None:
    """test_secret's demo (a CQPI in two branches), with missing values where the demo has
    none: some candidacies without a region, others without a birth year (no age band)."""
    write_demo(engine, 3000, 7)
    cand = schema.candidacy
    with engine.begin() as connection:
        ids = connection.execute(sa.select(cand.c.candidacy_id).order_by(
            cand.c.candidacy_id)).scalars().all()
        for column, chosen in (("region_code", ids[::41]), ("birth_year", ids[7::37])):
            connection.execute(cand.update().where(cand.c.candidacy_id.in_(chosen))
                               .values({column: None}))
        derived.refresh(connection)


@pytest.fixture
def demo_engine(backend, templates, request):
    """A copy of :func:`_with_missing_values`'s database (made once per session and worker)."""
    engine = copy_of_template(backend, templates, request, "demo_cubes", _with_missing_values)
    yield engine
    engine.dispose()


@contextlib.contextmanager
def rows_only():
    """Requests read every fact's rows, as before the cubes."""
    saved = dict(cubes.CUBES)
    cubes.CUBES.clear()
    try:
        yield
    finally:
        cubes.CUBES.update(saved)


def _age_band(entered_on: pd.Series, birth_year: pd.Series) -> pd.Series:
    age = pd.to_datetime(entered_on).dt.year - birth_year
    return pd.Series(np.select([birth_year.isna(), age < 26, age < 45], [None, "<26", "26-44"],
                               "45+"), index=entered_on.index).where(birth_year.notna(), None)


def test_a_cube_is_split_at_any_day_by_one_statement(demo_engine):
    """A load fills a cube by one statement whatever the data cut (the split day is its
    parameter): each day splits the rows as their dates say, and is in the fingerprint."""
    source, table = derived.source("jury"), cubes.CUBES["jury"]
    with demo_engine.connect() as connection:
        dates = pd.to_datetime(pd.Series(connection.execute(
            sa.select(source.date).select_from(source.from_)).scalars().all()))
        with statements(demo_engine, lambda sql: "INSERT INTO cube_jury" in sql) as ran:
            for month, day in ((3, 31), (6, 15), (12, 31)):
                expected = ((dates.dt.month < month)
                            | ((dates.dt.month == month) & (dates.dt.day <= day))).sum()
                cells = connection.execute(cubes.select_cells("jury", source, (month, day)))
                assert sum(c[cubes.ROWS] for c in cells.mappings() if c[cubes.SPLIT]) \
                    == expected > 0, (month, day)
                connection.execute(table.delete())  # as a load fills it, then undone
                connection.execute(cubes._insert("jury", derived.source),
                                   cubes.split_parameters((month, day)))
                stored = connection.execute(sa.select(sa.func.sum(table.c[cubes.ROWS])).where(
                    table.c[cubes.SPLIT])).scalar()
                connection.rollback()
                assert stored == expected, (month, day)
    assert len(ran) == 3 and len(set(ran)) == 1  # one SQL text for the three days
    assert len({cubes.fingerprint("jury", derived.source, split)
                for split in ((3, 31), (6, 15), (12, 31))}) == 3


def test_the_candidacy_cube_holds_its_rows_counts_and_keys(demo_engine):
    """Each cell: its candidacies, their record keys summed modulo 256, its VAE entries,
    whether they entered on or before the data cut's day of their year, computed here from
    the rows with pandas."""
    with demo_engine.connect() as connection:
        rows = pd.read_sql(sa.select(schema.fact_candidacy), connection)
        cells = pd.read_sql(sa.select(cubes.CUBES["candidacy"]), connection)
        cut = data_cut(connection)
    entered = pd.to_datetime(rows["entered_on"])
    rows["year"] = entered.dt.year
    rows["age_band"] = _age_band(rows["entered_on"], rows["birth_year"])
    rows["vae"] = (rows["pathway"] == "vae").astype(int)
    rows["by_cut"] = (entered.dt.month < cut.month) | (
        (entered.dt.month == cut.month) & (entered.dt.day <= cut.day))
    assert 0 < rows["by_cut"].mean() < 1  # (the demo's cut is within a year)
    cells["by_cut"] = cells["by_cut"].astype(bool)
    dims = [*cubes.dimensions_of("candidacy"), "by_cut"]
    assert "provider_id" not in dims and {"year", "cqp_code", "age_band"} <= set(dims)
    expected = rows.assign(key=rows["record_key"].astype(int)).groupby(
        dims, dropna=False).agg(n=("key", "size"), key=("key", "sum"), vae=("vae", "sum"))
    expected["key"] %= 256
    got = cells.rename(columns={"n_rows": "n", "enrolments__ckey": "key",
                                "vae_enrolments": "vae"})

    def cells_of(frame: pd.DataFrame) -> list[tuple]:
        frame = frame.reset_index() if frame.index.names != [None] else frame
        return sorted(tuple(str(v) if v is not None and not pd.isna(v) else "" for v in row)
                      for row in frame[[*dims, "n", "key", "vae"]].itertuples(index=False))

    assert cells_of(got) == cells_of(expected) and len(got) < len(rows)
    assert (cells["enrolments"] == cells["n_rows"]).all()


#: Each path of the query builder once: no cut; the branch joined, and filtered; a filter
#: with a missing value; a scope; a fact's own dimension; two cuts; the same months of
#: every year up to the data cut's day (``"cut"``, the cubes' split); and what the cubes do
#: not hold (another day within the year, the provider).
REQUESTS = [
    {},
    {"by": ["branch_code", "year"], "where": {"funding": "cpf"}},
    {"by": ["cqp_code"], "where": {"branch_code": ["0016"]}, "years": (2020, 2022)},
    {"by": ["age_band", "sex"], "where": {"region_code": ["11", "32", None]}},
    {"by": ["year"], "scope": ["0016"], "where": {"pathway": "vae"}},
    {"by": ["block_code"]},
    {"by": ["contract"], "where": {"sex": "F"}},
    {"by": ["year", "pathway"]},
    {"by": ["year"], "until": "cut"},
    {"by": ["year", "cqp_code"], "until": "cut", "where": {"branch_code": ["0016"]}},
    {"by": ["year"], "until": (6, 15)},
    {"by": ["provider_id"]},
]


def _both_ways(engine: sa.Engine, read) -> tuple:
    """``read(connection)`` from the cubes, then from the rows only; and whether each way
    read a cube."""
    answers, cubes_read = [], []
    for context in (contextlib.nullcontext, rows_only):
        cache.clear()
        with context(), statements(engine, lambda s: "cube_" in s) as read_cubes, \
                engine.connect() as connection:
            answers.append(read(connection))
        cubes_read.append(bool(read_cubes))
    cache.clear()
    return (*answers, *cubes_read)


def test_the_database_s_columns_are_the_same_from_cubes_and_rows(demo_engine):
    """Every indicator's database columns, exact (counts and cell keys before the secret;
    medians and Kaplan–Meier's sums read from the rows in the same select), group by
    group, with the presence columns that cut narrower requests out of it."""
    with demo_engine.connect() as connection:
        cut = data_cut(connection)
    split = cubes.split_day(cut)
    assert split not in ((12, 31), (6, 15))
    for request_ in REQUESTS:
        until = split if request_.get("until") == "cut" else request_.get("until")
        query = IndicatorQuery.make(None, request_.get("by", ()), request_.get("where"),
                                    request_.get("years"), request_.get("scope"), until)

        def read(connection, query=query):
            dialects.prepare(connection)
            asked = query.at_data_cut(data_cut(connection))
            frame = api._values(connection, asked, presence=True)
            return frame.sort_values(list(query.by)).reset_index(drop=True) if query.by \
                else frame

        cells, rows, read_cells, read_rows = _both_ways(demo_engine, read)
        assert len(cells) and not read_rows, request_
        # the same columns (a fact's cube and rows each in its CTE: not in the same order,
        # which nothing reads: the tables are cut out and published by name)
        assert sorted(cells.columns) == sorted(rows.columns), request_
        pd.testing.assert_frame_equal(cells, rows[cells.columns], obj=str(request_))
        # another day within the year and the training provider are not in the cubes
        assert read_cells == (until in (None, split) and "provider_id" not in query.by)
        # a request without the database's data cut does not know the cubes' split
        if until == split:
            assert not cubes.serves("candidacy", replace(query, data_until=cut))


def test_published_tables_are_the_same_from_cubes_and_rows(demo_engine):
    """The tables people read (the secret, rates, intervals, changes, totals' margins read
    with the grouped selects of a page)."""
    request_ = {"by": ["branch_code", "year"], "where": {"region_code": ["11", None]},
                "totals": True, "changes": True}
    cells, rows, read_cells, _ = _both_ways(
        demo_engine, lambda connection: api.indicators(demo_engine, **request_))
    pd.testing.assert_frame_equal(cells, rows)
    assert read_cells


def test_cubes_of_another_definition_are_refused_then_made_again(demo_engine):
    """A release that counts differently (here: the recorded definition changed, and a
    cell changed with it) does not read the cubes (one message) and makes them again when
    a command writes to the database."""
    built = schema.cube_definition
    with demo_engine.begin() as connection:
        connection.execute(built.update().where(built.c.cube == "cube_jury")
                           .values(fingerprint="an earlier definition"))
        table = cubes.CUBES["jury"]
        connection.execute(table.update().values({"full": table.c["full"] + 1}))
    with pytest.raises(db.DatabaseError, match="cqp-metrics db upgrade"):
        db.check_schema(demo_engine)
    db.ensure_schema(demo_engine)
    db.check_schema(demo_engine)
    assert_exact(demo_engine)


def test_cubes_split_at_another_day_than_the_data_cut_are_refused_then_made_again(
        demo_engine):
    """The cells say which rows are dated up to the data cut's day: a data cut recorded
    without the cubes made again (as no command of this release does) leaves them split
    at the wrong day: refused (one message), then made again at the next write."""
    with demo_engine.begin() as connection:
        cut = data_cut(connection)
        connection.execute(schema.load_log.insert().values(
            loaded_at=pd.Timestamp.now().to_pydatetime(), source="ailleurs", rows=0,
            data_until=cut.replace(month=3, day=31)))
    with pytest.raises(db.DatabaseError, match="cqp-metrics db upgrade"):
        db.check_schema(demo_engine)
    db.ensure_schema(demo_engine)
    db.check_schema(demo_engine)
    assert_exact(demo_engine)
    with demo_engine.connect() as connection:
        table = cubes.CUBES["candidacy"]
        before = connection.execute(sa.select(sa.func.sum(table.c.n_rows)).where(
            table.c.by_cut)).scalar_one()
        fact = schema.fact_candidacy
        month = sa.extract("month", fact.c.entered_on)
        expected = connection.execute(sa.select(sa.func.count()).where(
            sa.or_(month < 3, sa.and_(month == 3, sa.extract("day", fact.c.entered_on)
                                      <= 31)))).scalar_one()
    assert before == expected


def test_counts_read_cells_and_medians_read_rows_in_one_select():
    query = IndicatorQuery.make(["vae_full", "days_to_first_jury_median", "cqps_active"],
                                by=["year"])
    dialect = sa.dialects.postgresql.dialect()
    text = str(build_select(query, "postgresql").compile(dialect=dialect))
    assert "FROM cube_jury" in text and "FROM cube_activity" in text
    # the median of a fact whose counts come from its cube still reads the fact's rows
    assert "FROM fact_first_jury" in text and "FROM fact_jury" not in text
    with rows_only():
        text = str(build_select(query, "postgresql").compile(dialect=dialect))
    assert "cube_" not in text


def test_a_database_of_the_previous_release_gets_its_cubes_when_written_to(engine):
    """At 0011 (the release before the cubes) with its data: a command that writes to it
    (here its first step, :func:`db.ensure_schema`) upgrades it and makes its cubes from
    the facts there."""
    with engine.begin() as connection:
        write_dataset(connection, demo.generate(300, seed=5), source="test")
    with engine.begin() as connection:
        command.downgrade(db._alembic_config(connection), "0011")
    with engine.connect() as connection:
        assert not any(sa.inspect(connection).has_table(t.name) for t in cubes.CUBES.values())
        assert sa.inspect(connection).has_table("fact_candidacy")
    db.ensure_schema(engine)
    assert db.current_revision(engine) == db.head_revision()
    assert_exact(engine)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.sum(
            cubes.CUBES["candidacy"].c.n_rows))).scalar_one() == 300

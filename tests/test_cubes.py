"""The cubes (aggregates kept at load) hold their facts' counts, and a request reads the same
table from them as from the rows, on the three backends."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from test_derived import assert_exact, statements

from cqp_metrics import api, cache, cubes, db, demo, schema
from cqp_metrics.dimensions import DIMENSIONS
from cqp_metrics.loading import write_dataset
from cqp_metrics.query import IndicatorQuery, build_select
from cqp_metrics.registry import REGISTRY

from conftest import demo_engine_of


@pytest.fixture
def demo_engine(backend, templates, request):
    engine = demo_engine_of(backend, templates, request, 3000, seed=7)  # test_secret's
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


def test_the_candidacy_cube_holds_its_rows_counts_and_keys(demo_engine):
    """Each cell: its candidacies, their record keys summed modulo 256, its VAE entries,
    computed here from the rows with pandas."""
    with demo_engine.connect() as connection:
        rows = pd.read_sql(sa.select(schema.fact_candidacy), connection)
        cells = pd.read_sql(sa.select(cubes.CUBES["candidacy"]), connection)
    rows["year"] = pd.to_datetime(rows["entered_on"]).dt.year
    rows["age_band"] = _age_band(rows["entered_on"], rows["birth_year"])
    rows["vae"] = (rows["pathway"] == "vae").astype(int)
    dims = list(cubes.dimensions_of("candidacy"))
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
#: with a missing value; a scope; a fact's own dimension; page-like grouped selects with
#: their margins; and what the cubes do not hold (a day within the year, the provider).
REQUESTS = [
    {},
    {"by": ["branch_code", "year"], "where": {"funding": "cpf"}},
    {"by": ["cqp_code"], "where": {"branch_code": ["0016"]}, "years": (2020, 2022)},
    {"by": ["age_band", "sex"], "where": {"region_code": ["11", "32", None]}},
    {"by": ["year"], "scope": ["0016"], "where": {"pathway": "vae"}},
    {"by": ["block_code"]},
    {"by": ["contract"], "where": {"sex": "F"}},
    {"by": ["year", "pathway"], "totals": True},
    {"by": ["year"], "until": (9, 30)},
    {"by": ["provider_id"]},
]


def _counts_for(request_: dict) -> list[str]:
    """Every count a cube holds that the request's dimensions cut (the rates are derived
    from them in Python, the same way whichever select read them)."""
    dims = [DIMENSIONS[d] for d in (*request_.get("by", ()), *request_.get("where", {}))]
    return [e.name for e in REGISTRY if e.from_cells
            and all(d.facts is None or e.fact in d.facts for d in dims)]


def test_every_kind_of_request_reads_the_same_from_the_cubes_as_from_the_rows(demo_engine):
    """Published values and secret alike, with the grouped selects of a page and alone;
    the requests cut or filtered by what the cubes do not hold read the rows."""
    for request_ in REQUESTS:
        request_ = {"names": _counts_for(request_), **request_}
        cache.clear()
        with statements(demo_engine, lambda s: "cube_" in s) as read_cubes:
            from_cells = api.indicators(demo_engine, **request_)
        with rows_only(), statements(demo_engine, lambda s: "cube_" in s) as none:
            cache.clear()
            from_rows = api.indicators(demo_engine, **request_)
        cache.clear()
        pd.testing.assert_frame_equal(from_cells, from_rows, obj=str(request_))
        assert not none
        # a day within the year and the training provider are not in the cubes
        cells = "until" not in request_ and "provider_id" not in request_.get("by", [])
        assert bool(read_cubes) == cells, request_


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


def test_a_database_of_the_previous_release_gets_its_cubes_when_opened(engine):
    """At 0011 (the release before the cubes) with its data: opened by a command, it is
    upgraded and its cubes made from the facts there."""
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

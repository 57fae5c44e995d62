"""The derived fact layer holds exactly what the raw definitions give, after every kind of
write: a load, a correction, the migration that creates it (on the three backends)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from cqp_metrics import cubes, db, demo, derived, dialects, schema
from cqp_metrics.cli import app
from cqp_metrics.loading import write_dataset
from cqp_metrics.period import data_cut

from conftest import REFERENCE
from test_registers import EXPORT, FILES


def _rows(connection: sa.Connection, select: sa.Select) -> list[tuple]:
    return sorted(tuple("" if v is None else str(int(v) if isinstance(v, bool) else v)
                        for v in row) for row in connection.execute(select).all())


@contextlib.contextmanager
def statements(engine: sa.Engine, wanted: Callable[[str], bool]) -> Iterator[list[str]]:
    """The statements the engine runs meanwhile that ``wanted`` keeps, in order."""
    seen: list[str] = []

    def listen(conn, cursor, statement, *args):
        if wanted(statement):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


def _with(statement: str) -> bool:
    """A computation's select (its facts in CTEs)."""
    return statement.lstrip().startswith("WITH")


def assert_exact(engine: sa.Engine) -> dict[str, int]:
    """Every derived table equals its fact computed from the raw tables, and each cube its
    fact's cells (test_cubes checks what the cells hold); its row counts."""
    sizes = {}
    with engine.connect() as connection:
        for name, (table, _) in derived.TABLES.items():
            stored = _rows(connection, sa.select(table))
            expected = _rows(connection, derived.select_raw(name))
            assert stored == expected, name
            sizes[name] = len(stored)
        split = cubes.split_day(data_cut(connection))  # the data cut's day, after each load
        for name, cube in cubes.CUBES.items():
            cells = _rows(connection, cubes.select_cells(name, derived.source(name), split))
            assert _rows(connection, sa.select(cube)) == cells, cube.name
            assert bool(cells) == bool(sizes[name]), cube.name
    return sizes


def test_a_load_and_a_correction_keep_the_layer_exact(engine):
    with engine.begin() as connection:
        write_dataset(connection, demo.generate(600, seed=3), source="test")
    first = assert_exact(engine)
    assert all(first.values()), first
    # a second load with the same identifiers corrects rows (other decisions, dates, flags)
    with engine.begin() as connection:
        write_dataset(connection, demo.generate(250, seed=4), source="correction")
    assert_exact(engine)
    with engine.connect() as connection:
        juries = connection.execute(sa.select(sa.func.count()).select_from(schema.jury).where(
            schema.jury.c.decision != "absent")).scalar_one()
    assert first["jury"] and juries == assert_exact(engine)["jury"]


def test_the_migration_builds_the_layer_from_the_data_there(engine):
    with engine.begin() as connection:
        write_dataset(connection, demo.generate(300, seed=5), source="test")
    with engine.begin() as connection:
        command.downgrade(db._alembic_config(connection), "0005")
    with engine.connect() as connection:
        assert not sa.inspect(connection).has_table("fact_jury")
    db.upgrade(engine)
    sizes = assert_exact(engine)
    # the survey's table came with 0011: going down to 0005 dropped it and its rows
    assert sizes.pop("insertion") == 0 and all(sizes.values())


def test_the_layer_of_an_earlier_definition_is_rebuilt_at_the_current_one(engine):
    """A database whose activity table predates its stored flag (0007) gets the flag, exact,
    and a new version of the data (caches of results are renewed)."""
    with engine.begin() as connection:
        write_dataset(connection, demo.generate(300, seed=6), source="test")
    with engine.begin() as connection:
        command.downgrade(db._alembic_config(connection), "0007")
        connection.execute(sa.text("ALTER TABLE fact_activity DROP COLUMN registered_year_end"))
        before = derived.version(connection)
    db.upgrade(engine)
    with engine.connect() as connection:
        columns = connection.execute(sa.text("SELECT * FROM fact_activity WHERE 1 = 0")).keys()
        assert "registered_year_end" in columns
        assert derived.version(connection) == before + 1
        flagged = connection.execute(sa.select(sa.func.count()).where(
            schema.fact_activity.c.registered_year_end)).scalar_one()
    sizes = assert_exact(engine)
    sizes.pop("insertion")  # the survey's table came with 0011: going down dropped it
    assert flagged and all(sizes.values())


def test_results_are_shared_until_the_data_change(engine):
    """The second identical request is answered from the shared results; a correction
    (a new version of the data) is seen at once."""
    from cqp_metrics import compute
    from cqp_metrics.cache import VALUES

    with engine.begin() as connection:
        write_dataset(connection, demo.generate(400, seed=6), source="test")
        before = derived.version(connection)
    VALUES.clear()
    first = compute(engine, names=["juries"], by=["year"])
    misses = VALUES.misses
    again = compute(engine, names=["juries"], by=["year"])
    assert VALUES.misses == misses and VALUES.hits > 0
    pd.testing.assert_frame_equal(first.values, again.values)
    assert compute(engine, names=["full"], by=[]).values["full"].iloc[0] > 0  # now cached
    # a correction: every jury of the first candidacies becomes a refusal
    dataset = demo.generate(400, seed=6)
    jury = dataset.tables["jury"]
    changed = jury["decision"].isin(["full", "partial"])
    dataset.tables["jury"] = jury.assign(decision=jury["decision"].where(~changed, "refused"))
    with engine.begin() as connection:
        write_dataset(connection, dataset, source="correction")
        assert derived.version(connection) == before + 1
    after = compute(engine, names=["full"], by=[])
    with engine.connect() as connection:
        expected = connection.execute(sa.select(sa.func.count()).select_from(schema.jury).where(
            schema.jury.c.decision == "full")).scalar_one()
    assert expected == 0 and after.values["full"].iloc[0] == 0


def test_a_request_and_its_margin_are_read_in_one_select(engine):
    """A request with its total rows reads its own cuts and its margin (one cut fewer): one
    select where the backend groups by several sets of cuts at once; and a narrower request
    cut out of a wider select equals the narrower request's own select."""
    from cqp_metrics import compute
    from cqp_metrics.api import _values
    from cqp_metrics.cache import VALUES
    from cqp_metrics.query import IndicatorQuery, narrowed

    with engine.begin() as connection:
        write_dataset(connection, demo.generate(500, seed=8), source="test")
    VALUES.clear()
    with statements(engine, _with) as read:
        compute(engine, names=["enrolments", "full_rate", "vae_success_rate"], by=["year"],
                totals=True)
    grouped = dialects.rules_for(engine.dialect.name).grouping_sets
    # by year, and the margin without cuts: together where the backend can
    assert len(read) == (1 if grouped else 2)
    wider_somewhere = False
    with engine.connect() as connection:
        dialect = connection.dialect.name
        for names, by, where in ((["juries", "full"], ("year",), {}),
                                 (["enrolments"], ("year", "region_code"), {"sex": "F"}),
                                 (["partial_completion_rate"], ("cqp_code",), {}),
                                 (["juries", "enrolments"], (), {"pathway": "vae"})):
            query = IndicatorQuery.make(names, by, where)
            wide = IndicatorQuery.make(
                ["enrolments", "juries", "vae_admissible", "partial_candidacies", *names],
                by, where)
            frame = _values(connection, wide, presence=True)
            expected = _values(connection, query)
            pd.testing.assert_frame_equal(_sorted(narrowed(frame, query, dialect), by),
                                          _sorted(expected, by))
            wider_somewhere |= len(frame) > len(expected)
    assert wider_somewhere  # some group had only the wider request's facts: it was left out


def _sorted(frame: pd.DataFrame, by: tuple[str, ...]) -> pd.DataFrame:
    """Rows in the order of their cuts (a select without ORDER BY has none)."""
    if not by:
        return frame
    return frame.sort_values(list(by), na_position="last").reset_index(drop=True)


def test_requests_of_one_shape_share_a_select_and_read_their_own_values(engine):
    """Requests that differ only by their filters' values (regions, years, a scope) run one
    select built once, each with its values: each reads its own rows (counted here with
    pandas)."""
    from cqp_metrics.api import _values
    from cqp_metrics.query import IndicatorQuery, statement

    with engine.begin() as connection:
        write_dataset(connection, demo.generate(800, seed=21), source="test")
    with engine.connect() as connection:
        rows = pd.read_sql(sa.select(schema.fact_candidacy), connection)
        owned = pd.read_sql(sa.select(schema.certification_branch), connection)
    rows["year"] = pd.to_datetime(rows["entered_on"]).dt.year
    asked = [(["11"], (2020, 2023), None), (["32", "84"], (2019, 2024), None),
             (["11", "32"], (2021, 2021), ["0016"])]
    selects = set()
    with engine.connect() as connection:
        dialects.prepare(connection)
        for regions, (lo, hi), scope in asked:
            query = IndicatorQuery.make(["enrolments"], ["year"], {"region_code": regions},
                                        (lo, hi), scope)
            selects.add(id(statement(query, connection.dialect.name, True)[0]))
            got = _values(connection, query, True).set_index("year")["enrolments"]
            kept = rows[rows["region_code"].isin(regions) & rows["year"].between(lo, hi)]
            if scope is not None:
                kept = kept[kept["cqp_code"].isin(owned.loc[owned["branch_code"].isin(scope),
                                                             "cqp_code"])]
            expected = kept.groupby("year").size()
            assert got.to_dict() == expected.to_dict(), (regions, lo, hi, scope)
    assert len(selects) == 2  # the scope adds a filter: another shape


def test_a_grouped_select_gives_each_request_what_its_own_select_gives(engine):
    """Requests of one set of filters read in one select grouped by their cuts
    (``GROUPING SETS``): each one's rows and columns are those of its own select, NULL cuts
    included (where the backend groups; SQLite reads each alone)."""
    from cqp_metrics.api import _grouped_values, _values
    from cqp_metrics.query import IndicatorQuery, QueryError, build_grouped_select

    with engine.begin() as connection:
        write_dataset(connection, demo.generate(500, seed=12), source="test")
    where = {"pathway": ["vae", "formation"]}
    groups = [[IndicatorQuery.make(names, by, where, years=(2019, None))
                for names, by in group] for group in (
        [(["juries", "full", "partial", "refused"], ("year",)),
         (["juries", "full", "partial", "refused"], ()),
         (["juries", "vae_full"], ("funding", "region_code")),
         (["juries"], ("funding",)),
         (["juries", "full"], ("region_code", "year"))],
        [(["days_to_first_jury_median"], ("year",)), (["first_juries"], ()),
         (["days_to_first_jury_median"], ("sex",))])]
    with engine.connect() as connection:
        dialects.prepare(connection)
        if not dialects.rules_for(connection.dialect.name).grouping_sets:
            return
        nulls = False
        for group in groups:
            together = _grouped_values(connection, group)
            for query in group:
                expected = _values(connection, query, True)
                pd.testing.assert_frame_equal(_sorted(together[query], query.by),
                                              _sorted(expected, query.by))
                nulls |= bool(query.by) and expected[list(query.by)].isna().any().any()
        assert nulls  # a cut's missing values are a group of their own, kept apart
        # rows read differently cannot share a select: by branch (a CQPI in each branch)
        with pytest.raises(QueryError):
            build_grouped_select([groups[0][0], IndicatorQuery.make(
                ["juries"], ("branch_code",), where, years=(2019, None))],
                connection.dialect.name)


@pytest.mark.parametrize("side_by_side", [False, True])
def test_a_page_s_requests_are_read_together_before_they_are_computed(engine, side_by_side):
    """``prefetch`` reads what a page's requests will read (one select per
    set of filters and facts where the backend groups cuts; nothing where it cannot); their
    computations then read nothing more, and publish what each publishes alone inside a
    transaction. The same with its scans (``prefetch_scans``) read in threads side by
    side, as the dashboards do."""
    from concurrent.futures import ThreadPoolExecutor

    from cqp_metrics import cache
    from cqp_metrics.api import compute_query, prefetch, prefetch_scans
    from cqp_metrics.config import SecretRule
    from cqp_metrics.query import IndicatorQuery

    with engine.begin() as connection:
        write_dataset(connection, demo.generate(500, seed=13), source="test")
    where = {"pathway": ["vae"]}
    requests = [IndicatorQuery.make(["juries", "full_rate"], by, where) for by in
                (("year",), ("status",), ("age_band",), ("region_code", "sex"))]
    requests.append(IndicatorQuery.make(["juries"], ("branch_code",), where))
    cache.clear()
    with statements(engine, _with) as selects:
        if side_by_side:
            with ThreadPoolExecutor(2) as threads:
                for future in [threads.submit(read) for read in prefetch_scans(engine,
                                                                               requests)]:
                    future.result()
        else:
            prefetch(engine, requests)
        read = len(selects)
        tables = [compute_query(engine, query, SecretRule()) for query in requests]
    grouped = dialects.rules_for(engine.dialect.name).grouping_sets
    if grouped:  # with the branch link and without; then the computations read nothing more
        assert read == 2 and len(selects) == read
    else:  # each set of cuts alone: the computations read them side by side, not ahead
        assert read == 0 and len(selects) > 2
    with engine.connect() as connection:
        for query, table in zip(requests, tables, strict=True):
            alone = compute_query(connection, query, SecretRule())
            pd.testing.assert_frame_equal(table.published(), alone.published())


def test_the_counts_the_cubes_serve_are_read_apart_from_medians(engine):
    """Of one set of filters, the requests whose counts the cubes serve are read in one
    scan, those with a median in another, each a select on a connection of its own (a
    select grouped by several sets of cuts computes each of its columns for every set: the
    medians would be computed for the counts' cuts too); each table is then what it is
    computed alone."""
    from cqp_metrics import cache
    from cqp_metrics.api import compute_query, prefetch_scans
    from cqp_metrics.config import SecretRule
    from cqp_metrics.query import IndicatorQuery

    with engine.begin() as connection:
        write_dataset(connection, demo.generate(400, seed=17), source="test")
    where = {"pathway": ["vae"]}
    counted = [IndicatorQuery.make(["first_juries"], by, where) for by in (("year",), ("sex",))]
    medians = [IndicatorQuery.make(["days_to_first_jury_median"], by, where)
               for by in (("year",), ("sex",))]
    cache.clear()
    with statements(engine, _with) as selects:
        scans = prefetch_scans(engine, [*counted, *medians])
        for read in scans:
            read()
        tables = [compute_query(engine, query, SecretRule()) for query in [*counted, *medians]]
        read_after = len(selects) - len(scans)
    if not dialects.rules_for(engine.dialect.name).grouping_sets:
        assert scans == []
        return
    assert len(scans) == 2 and read_after == 0
    on_rows = ["fact_first_jury" in select for select in selects]
    assert sorted(on_rows) == [False, True]  # the counts from the cube only
    with engine.connect() as connection:
        for query, table in zip([*counted, *medians], tables, strict=True):
            alone = compute_query(connection, query, SecretRule())
            pd.testing.assert_frame_equal(table.published(), alone.published())


def test_a_shared_result_is_computed_once_for_callers_asking_together():
    """Callers asking for a result while another computes it wait for that one, and a
    failed computation leaves the next caller to compute it again."""
    import threading
    import time

    from cqp_metrics.cache import ResultCache

    shared = ResultCache(copy=False)
    computed = []

    def slow():
        computed.append(1)
        time.sleep(0.2)
        return "value"

    got = []
    threads = [threading.Thread(target=lambda: got.append(shared.get("k", slow)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == ["value"] * 4 and len(computed) == 1

    def failing():
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        shared.get("other", failing)
    assert shared.get("other", lambda: "again") == "again"


#: Each command that writes, after a first load of the demo and of a CQP whose registration
#: window the RNCP export moves (#31: import-rncp left the activity fact stale).
COMMANDS = ("load", "correction", "import-rncp", "import-certifinfo", "db upgrade")


@pytest.mark.parametrize("what", COMMANDS)
def test_every_command_that_writes_leaves_each_derived_table_exact(backend, tmp_path, what):
    def run(*args: str) -> None:
        done = CliRunner().invoke(app, [*args, "--db", backend])
        assert done.exit_code == 0, done.output

    demo_files, tourier = tmp_path / "demo", tmp_path / "tourier"
    demo.write_files(demo.generate(300, seed=14), demo_files)
    tourier.mkdir()
    for name, text in FILES.items():
        (tourier / name).write_text(text, encoding="utf-8")
    run("load", str(demo_files))
    if what != "load":
        run("load", str(tourier))
    if what == "correction":  # juries only: other decisions, one more jury
        correction = tmp_path / "correction"
        correction.mkdir()
        (correction / "juries.csv").write_text(
            "candidacy_id,jury_date,decision\nT1,2022-12-15,partial\nT2,2021-05-01,refused\n"
            "T2,2022-06-01,full\n", encoding="utf-8")
        run("load", str(correction))
    elif what == "import-rncp":
        run("import-rncp", str(EXPORT))
    elif what == "import-certifinfo":
        run("import-certifinfo", str(REFERENCE / "certifinfo_extract_2024-10.csv"))
    elif what == "db upgrade":
        engine = db.make_engine(backend)
        with engine.begin() as connection:
            command.downgrade(db._alembic_config(connection), "0005")
        engine.dispose()
        run("db", "upgrade")
    engine = db.make_engine(backend, read_only=True)
    try:
        sizes = assert_exact(engine)
        if what == "db upgrade":  # the survey's table came with 0011: going down dropped it
            assert sizes.pop("insertion") == 0
        assert all(sizes.values()), sizes
        with engine.connect() as connection:
            windows = connection.execute(sa.select(schema.registration.c.valid_until).where(
                schema.registration.c.cqp_code == "CQP-TOURIER")).scalars().all()
    finally:
        engine.dispose()
    if what == "import-rncp":  # the export moved the window: the layer followed it
        assert [str(w)[:10] for w in windows] == ["2021-07-21"]

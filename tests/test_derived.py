"""The derived fact layer holds exactly what the raw definitions give, after every kind of
write: a load, a correction, the migration that creates it (on the three backends)."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from alembic import command

from cqp_metrics import db, demo, derived, schema
from cqp_metrics.loading import write_dataset


def _rows(connection: sa.Connection, select: sa.Select) -> list[tuple]:
    return sorted(tuple("" if v is None else str(int(v) if isinstance(v, bool) else v)
                        for v in row) for row in connection.execute(select).all())


def assert_exact(engine: sa.Engine) -> dict[str, int]:
    """Every derived table equals its fact computed from the raw tables; its row counts."""
    sizes = {}
    with engine.connect() as connection:
        for name, (table, _) in derived.TABLES.items():
            stored = _rows(connection, sa.select(table))
            expected = _rows(connection, derived.select_raw(name))
            assert stored == expected, name
            sizes[name] = len(stored)
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
    assert all(assert_exact(engine).values())


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


def test_a_margin_is_decided_once_for_the_requests_of_its_filters(engine):
    """The requests of one filter set (a page's) share the secret's decision of their common
    margin, and publish what they publish when each decides alone (inside a transaction,
    where nothing is shared)."""
    from cqp_metrics import compute
    from cqp_metrics.cache import DECISIONS, VALUES

    with engine.begin() as connection:
        write_dataset(connection, demo.generate(500, seed=9), source="test")
    VALUES.clear()
    DECISIONS.clear()
    ask = {"names": ["juries", "full_rate"], "where": {"pathway": ["vae"]}}
    compute(engine, by=["year"], **ask)
    hits, misses = DECISIONS.hits, DECISIONS.misses
    by_status = compute(engine, by=["status"], **ask)
    assert DECISIONS.hits == hits + 1  # the jury decisions' margin without cuts
    assert DECISIONS.misses == misses + 1  # the table by status itself
    with engine.connect() as connection:
        alone = compute(connection, by=["status"], **ask)
    pd.testing.assert_frame_equal(by_status.published(), alone.published())
    pd.testing.assert_frame_equal(by_status.hidden, alone.hidden)
    other = compute(engine, by=["status"], names=ask["names"], where={"pathway": ["formation"]})
    assert DECISIONS.misses == misses + 3  # other filters: decided anew, margin included
    assert other.query.where != by_status.query.where


def test_what_a_reader_knows_is_read_once_for_its_filters(engine):
    """Who owns which CQP is read from the database once for a filter set, not by each
    computation cut by branch."""
    from cqp_metrics import compute
    from cqp_metrics.cache import KNOWLEDGE, VALUES

    with engine.begin() as connection:
        write_dataset(connection, demo.generate(300, seed=10), source="test")
    VALUES.clear()
    KNOWLEDGE.clear()
    statements = []

    def seen(conn, cursor, statement, *args):
        if "certification_branch.cqp_code, certification_branch.branch_code" in statement:
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        compute(engine, names=["juries"], by=["branch_code"])
        compute(engine, names=["enrolments"], by=["branch_code", "year"])
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 1 and KNOWLEDGE.hits == 1


def test_a_request_and_its_margins_are_read_once_per_set_of_cuts(engine):
    """Under secret, the request and the margins its secret decides on are cut out of one
    select per set of cuts; each cut-out equals the select of the narrower request itself."""
    from cqp_metrics import compute
    from cqp_metrics.api import _values
    from cqp_metrics.cache import VALUES
    from cqp_metrics.query import IndicatorQuery, narrowed

    with engine.begin() as connection:
        write_dataset(connection, demo.generate(500, seed=8), source="test")
    statements = []

    def seen(conn, cursor, statement, *args):
        if statement.lstrip().startswith("WITH"):
            statements.append(statement)

    VALUES.clear()
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        compute(engine, names=["enrolments", "full_rate", "vae_success_rate"], by=["year"])
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 2  # by year, and the margin without cuts
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

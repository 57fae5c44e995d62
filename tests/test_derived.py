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

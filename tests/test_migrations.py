"""The schema is versioned with Alembic: an older database upgrades in place, data kept."""

import sqlalchemy as sa

from cqp_metrics import db, schema
from cqp_metrics.db import make_engine


def test_an_older_database_upgrades_without_losing_data(backend):
    engine = make_engine(backend)
    db.upgrade(engine, "0001")
    assert db.current_revision(engine) == "0001"
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO branch (branch_code, name) VALUES ('0016', 'TRA')"))
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT name FROM branch")).scalar_one() == "TRA"
        assert connection.execute(sa.select(sa.func.count()).select_from(
            schema.load_log)).scalar_one() == 0
    engine.dispose()


def test_the_head_revision_matches_the_schema_module(engine):
    with engine.connect() as connection:
        for table in schema.metadata.sorted_tables:
            result = connection.execute(sa.text(f'SELECT * FROM "{table.name}" WHERE 1 = 0'))
            assert set(result.keys()) == {c.name for c in table.columns}, table.name
    if engine.dialect.name != "duckdb":  # duckdb-engine cannot reflect constraints
        inspector = sa.inspect(engine)
        for table in schema.metadata.sorted_tables:
            primary = inspector.get_pk_constraint(table.name)["constrained_columns"]
            assert set(primary) == {c.name for c in table.primary_key.columns}, table.name


def test_checks_refuse_values_outside_the_codes(engine):
    with engine.begin() as connection:
        connection.execute(schema.branch.insert().values(branch_code="0016", name="x"))
        connection.execute(schema.certification.insert().values(cqp_code="Q", title="x"))
    try:
        with engine.begin() as connection:
            connection.execute(schema.candidacy.insert().values(
                candidacy_id="K", candidate_id="P", cqp_code="Q", pathway="distance",
                entered_on=sa.func.current_date()))
    except sa.exc.DBAPIError:
        pass
    else:
        raise AssertionError("a pathway outside the codes was accepted")

"""The demo dataset: plausible rates, and its interchange files load to the same figures."""

import pandas as pd
import pytest

from cqp_metrics import demo, indicators
from cqp_metrics.db import ensure_schema, make_engine
from cqp_metrics.loading import load, write_dataset

from conftest import use_hmac_key


@pytest.fixture(scope="module")
def dataset():
    return demo.generate(3000, seed=7)


def test_files_of_the_demo_load_to_the_same_indicators(engine, dataset, tmp_path):
    """Written directly or loaded from its files (on SQLite), the demo publishes the same
    figures under the secret: with the same HMAC key, every unit gets the same record key
    whichever way its row came in."""
    use_hmac_key(engine)
    with engine.begin() as connection:
        write_dataset(connection, dataset, source="demo")
    demo.write_files(dataset, tmp_path / "files")
    other = make_engine(f"sqlite:///{tmp_path / 'loaded.sqlite'}")
    use_hmac_key(other)
    load(tmp_path / "files", other)
    for by in (["year"], ["branch_code", "pathway"], ["block_code"]):
        direct = indicators(engine, by=by)
        loaded = indicators(other, by=by)
        pd.testing.assert_frame_equal(direct, loaded, check_dtype=False)


def test_rates_are_in_the_ranges_of_official_statistics(tmp_path):
    engine = make_engine(f"duckdb:///{tmp_path / 'd.duckdb'}")
    ensure_schema(engine)
    with engine.begin() as connection:
        write_dataset(connection, demo.generate(20_000), source="demo")
    row = indicators(engine, years=(2020, 2024), secret=False).iloc[0]
    assert 0.52 <= row["vae_success_rate"] <= 0.66  # DARES: about 58-60 %
    assert 0.65 <= row["full_rate"] <= 0.80
    assert row["refusal_rate"] < 0.15 and row["refusal_rate"] < row["partial_rate"]
    assert 0.05 <= row["withdrawal_rate"] <= 0.15
    assert 0 < row["recognition_rate"] < 1
    by_branch = indicators(engine, by=["branch_code"], years=(2023, 2023), secret=False)
    total = indicators(engine, years=(2023, 2023), secret=False).iloc[0]
    assert by_branch["enrolments"].sum() > total["enrolments"]  # the CQPI counts twice


def test_the_demo_enters_candidacies_up_to_its_data_cut_and_its_volumes_hold(tmp_path):
    """The first screen a newcomer sees compares January–September of the demo's last year
    with the same months of the year before: entries run up to the data cut, so the changes
    of volume it shows are within noise (they read « −30 % · significatif » when entries
    stopped three months before the cut)."""
    import datetime as dt

    import sqlalchemy as sa

    from cqp_metrics import compute, schema
    from cqp_metrics.period import until_of
    from cqp_metrics.registry import BY_NAME

    engine = make_engine(f"duckdb:///{tmp_path / 'd.duckdb'}")
    use_hmac_key(engine)
    with engine.begin() as connection:
        write_dataset(connection, demo.generate(20_000), source="demo",
                      data_until=demo.DATA_CUT)
    with engine.connect() as connection:
        last = connection.execute(sa.select(sa.func.max(schema.candidacy.c.entered_on))
                                  ).scalar_one()
    assert last >= demo.DATA_CUT - dt.timedelta(days=7)
    year = demo.DATA_CUT.year
    table = compute(engine, ["enrolments", "juries", "full"], ["year"], years=(year - 1, year),
                    until=until_of(demo.DATA_CUT)).published()
    assert list(table["year"]) == [year - 1, year]
    for name in ("enrolments", "juries", "full"):
        moved = BY_NAME[name].compare(table.iloc[1], table.iloc[0])
        assert moved is not None and moved.significant is False, (name, moved)
    engine.dispose()

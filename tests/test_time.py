"""Time-aware figures on every backend: the data cut, complete years, the same period, the
durations, Kaplan–Meier completion and year-on-year changes, against numbers worked by hand
(docs/indicators.md) or computed another way."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from cqp_metrics import SecretRule, compute
from cqp_metrics.loading import Dataset, LoadError, load, write_dataset
from cqp_metrics.period import data_cut, period_label, until_of, year_complete
from cqp_metrics.registry import BY_NAME
from cqp_metrics.stats import wilson
from cqp_metrics.survival import completion_curve

from conftest import WORKED

CUT = dt.date(2024, 6, 30)
D = dt.date


def _dataset(cohort: list[tuple[str, dt.date, dt.date | None]],
             firsts: list[tuple[str, dt.date, dt.date]] = ()) -> Dataset:
    """Candidacies of one CQP: ``cohort`` (id, first partial, full or None) and ``firsts``
    (id, entry, first decision: refused)."""
    candidacies, juries = [], []
    for key, partial, full in cohort:
        candidacies.append({"candidacy_id": key, "candidate_id": key, "cqp_code": "Q",
                            "pathway": "formation", "entered_on": partial - dt.timedelta(30)})
        juries.append({"candidacy_id": key, "jury_date": partial, "decision": "partial"})
        if full is not None:
            juries.append({"candidacy_id": key, "jury_date": full, "decision": "full"})
    for key, entered, decided in firsts:
        candidacies.append({"candidacy_id": key, "candidate_id": key, "cqp_code": "Q",
                            "pathway": "vae", "entered_on": entered})
        juries.append({"candidacy_id": key, "jury_date": decided, "decision": "refused"})
    frames = {
        "branch": pd.DataFrame({"branch_code": ["0016"], "name": ["b"]}),
        "certification": pd.DataFrame({"cqp_code": ["Q"], "title": ["q"], "level": [None]}),
        "certification_branch": pd.DataFrame({"cqp_code": ["Q"], "branch_code": ["0016"]}),
        "candidacy": pd.DataFrame(candidacies),
        "jury": pd.DataFrame(juries),
    }
    for frame in frames.values():
        for column in ("entered_on", "jury_date"):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column])
    return Dataset(frames)


#: The hand-worked example of docs/indicators.md: times 100 (event), 100 (event),
#: 100 (censored: on an event's day), 200 (event), 300 (censored), 400 (event).
WORKED_KM = [
    ("A", D(2023, 1, 1), D(2023, 4, 11)),
    ("B", D(2023, 2, 1), D(2023, 5, 12)),
    ("C", CUT - dt.timedelta(100), None),
    ("D", D(2023, 3, 1), D(2023, 9, 17)),
    ("E", CUT - dt.timedelta(300), None),
    ("F", D(2023, 1, 15), D(2024, 2, 19)),
]


def write(engine, dataset: Dataset, data_until: dt.date | None = CUT) -> None:
    with engine.begin() as connection:
        write_dataset(connection, dataset, source="test", data_until=data_until)


def test_kaplan_meier_worked_by_hand(engine):
    write(engine, _dataset(WORKED_KM))
    row = compute(engine, names=["partial_completion_12m_km", "partial_completion_24m_km"],
                  secret=False).values.iloc[0]
    # S(365) = (1 - 2/6)(1 - 1/3) = 4/9; V = 2/(6·4) + 1/(3·2) = 1/4
    assert row["partial_completion_12m_km"] == pytest.approx(5 / 9)
    a = 1.959964 * 0.5 / math.log(4 / 9)
    assert row["partial_completion_12m_km_low"] == pytest.approx(1 - (4 / 9) ** math.exp(a),
                                                                 rel=1e-6)
    assert row["partial_completion_12m_km_high"] == pytest.approx(
        1 - (4 / 9) ** math.exp(-a), rel=1e-6)
    assert row["partial_completion_12m_km_low"] == pytest.approx(0.2151, abs=1e-4)
    assert row["partial_completion_12m_km_high"] == pytest.approx(0.9338, abs=1e-4)
    # the last time (400) is an event: S(730) = 0, completion 1, no interval
    assert row["partial_completion_24m_km"] == 1.0
    assert pd.isna(row["partial_completion_24m_km_low"])
    assert row["partial_candidacies"] == 6


def test_kaplan_meier_cohorts_with_no_event_and_a_horizon_beyond_the_data(engine):
    write(engine, _dataset(WORKED_KM))
    table = compute(engine, names=["partial_completion_12m_km"], by=["year"], secret=False)
    rows = table.values.set_index("year")
    # 2024: C alone, censored at 100 days, below the horizon: no estimate
    assert pd.isna(rows.loc[2024, "partial_completion_12m_km"])
    # 2023 without C: times 100e 100e 200e 300c 400e: S(365) = (3/5)(2/3)
    assert rows.loc[2023, "partial_completion_12m_km"] == pytest.approx(1 - 2 / 5)
    only_censored = compute(engine, names=["partial_completion_12m_km"], secret=False,
                            data_until=D(2025, 12, 31), where={"year": [2024]})
    # C is now censored at 649 days, beyond the horizon, with no event: 0, no interval
    row = only_censored.values.iloc[0]
    assert row["partial_completion_12m_km"] == 0.0
    assert pd.isna(row["partial_completion_12m_km_high"])


def test_the_curve_is_the_estimate_at_each_event_day(engine):
    write(engine, _dataset(WORKED_KM))
    curve = completion_curve(engine, secret=False)
    assert curve["days"].tolist() == [0, 100, 200, 400]
    assert curve["completion"].tolist() == pytest.approx([0, 1 / 3, 5 / 9, 1])
    by_year = completion_curve(engine, by_year=True, secret=False)
    assert set(by_year["year"]) == {2023}  # 2024 has no event
    assert by_year["completion"].iloc[-1] == 1.0


def test_the_curve_follows_the_secret(engine):
    write(engine, _dataset(WORKED_KM))
    assert completion_curve(engine).empty  # a cohort of 6 is below 20


def test_median_days_to_first_jury(engine):
    firsts = [("V1", D(2023, 1, 1), D(2023, 1, 11)), ("V2", D(2023, 1, 1), D(2023, 1, 31)),
              ("V3", D(2023, 2, 1), D(2023, 3, 3)), ("V4", D(2022, 12, 1), D(2023, 5, 1))]
    write(engine, _dataset([], firsts))
    table = compute(engine, names=["days_to_first_jury_median"], by=["year"], secret=False)
    row = table.values.set_index("year").loc[2023]
    assert row["first_juries"] == 4
    assert row["days_to_first_jury_median"] == (30 + 30) / 2  # 10, 30, 30, 151
    odd = compute(engine, names=["days_to_first_jury_median"], secret=False,
                  where={"provider_id": [None]}, years=(2023, 2023),
                  until=(3, 31)).values.iloc[0]
    assert odd["days_to_first_jury_median"] == 30  # 10, 30, 30
    hidden = compute(engine, names=["days_to_first_jury_median"], by=["year"])
    assert hidden.published()["days_to_first_jury_median"].tolist() == ["secret"]


def test_the_data_cut_is_recorded_and_marks_incomplete_years(engine):
    write(engine, _dataset(WORKED_KM), data_until=None)
    with engine.connect() as connection:
        assert data_cut(connection) == D(2024, 3, 22)  # C's partial: the latest date
    write(engine, _dataset(WORKED_KM), data_until=CUT)
    table = compute(engine, names=["juries"], by=["year"], secret=False)
    assert table.data_until == CUT
    assert table.values["year_complete"].tolist() == [True, False]
    assert table.incomplete_years() == [2024]
    same = compute(engine, names=["juries"], by=["year"], secret=False, until=(6, 30))
    assert same.values["year_complete"].tolist() == [True, True]
    # January-June: 2023 has A, B, D, F's partials and A, B's fulls; 2024 C's partial and F
    assert same.values.set_index("year")["juries"].to_dict() == {2023: 6, 2024: 2}


def test_a_data_cut_before_the_data_is_refused(engine):
    write(engine, _dataset(WORKED_KM))
    with pytest.raises(LoadError) as error:
        write(engine, _dataset(WORKED_KM[:1]), data_until=D(2024, 1, 1))
    assert "date d'arrêt" in error.value.report()
    with engine.connect() as connection:
        assert data_cut(connection) == CUT


def test_load_refuses_a_fact_after_the_data_cut(engine):
    with pytest.raises(LoadError) as error:
        load(WORKED, engine, data_until=D(2023, 12, 31))
    report = error.value.report()
    assert "juries.csv" in report and "jury_date" in report and "2024" in report
    load(WORKED, engine, data_until=D(2024, 12, 31))
    with engine.connect() as connection:
        assert data_cut(connection) == D(2024, 12, 31)


def test_changes_are_newcombe_intervals_of_two_wilson_intervals(engine):
    cohort = [(f"K{k}", D(2022 + k % 2, 3, 1), D(2022 + k % 2, 9, 1) if k % 3 else None)
              for k in range(60)]
    write(engine, _dataset(cohort), data_until=D(2024, 12, 31))
    table = compute(engine, names=["full_rate"], by=["year"], secret=False, changes=True)
    rows = table.values.set_index("year")
    k1, n1 = rows.loc[2023, "full"], rows.loc[2023, "juries"]
    k2, n2 = rows.loc[2022, "full"], rows.loc[2022, "juries"]
    (p1, l1, u1), (p2, l2, u2) = ([float(s.iloc[0]) for s in wilson(pd.Series([k]),
                                                                       pd.Series([n]))]
                                  for k, n in ((k1, n1), (k2, n2)))
    assert rows.loc[2023, "full_rate_change"] == pytest.approx(p1 - p2)
    assert rows.loc[2023, "full_rate_change_low"] == pytest.approx(
        p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2))
    assert rows.loc[2023, "full_rate_change_high"] == pytest.approx(
        p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))
    assert pd.isna(rows.loc[2022, "full_rate_change"])  # no year before
    # a key figure's change (two rows compared) says the same, significant when the
    # interval excludes 0
    said = BY_NAME["full_rate"].compare(rows.loc[2023], rows.loc[2022])
    assert said.text == f"{(p1 - p2) * 100:+.1f} pt".replace(".", ",")
    low, high = rows.loc[2023, "full_rate_change_low"], rows.loc[2023, "full_rate_change_high"]
    assert said.significant == bool(low > 0 or high < 0)
    assert BY_NAME["full_rate"].compare(rows.loc[2023].drop(["full_rate_low"]),
                                        rows.loc[2022]).significant is None
    columns = list(table.values.columns)
    assert columns[columns.index("full_rate_high") + 1] == "full_rate_change"
    hidden = compute(engine, names=["full_rate"], by=["year"], changes=True,
                     secret=SecretRule(min_count=5, min_denominator=100)).published()
    assert hidden["full_rate_change"].isna().all()  # the rates are hidden: no change


def test_period_helpers():
    assert year_complete(2024, D(2024, 12, 31)) and not year_complete(2025, D(2025, 9, 30))
    assert year_complete(2025, D(2025, 9, 30), until=(9, 30))
    assert until_of(D(2024, 2, 29)) == (2, 28)
    assert period_label(2025, (9, 30)) == "janv.–sept. 2025"
    assert period_label(2025, (9, 15)) == "1er janv.–15 sept. 2025"
    assert period_label(2025, None) == "2025"

"""The worked example of DOMAIN.md, checked figure by figure on every backend."""

import pandas as pd
import pytest

from cqp_metrics import compute, indicators


def one_row(engine, **kwargs) -> dict:
    frame = indicators(engine, secret=False, **kwargs)
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


def test_year_2023_all_branches(worked):
    row = one_row(worked, by=["year"], where={"year": 2023})
    assert row["year"] == 2023
    expected = {"enrolments": 4, "juries": 5, "full": 3, "partial": 1, "refused": 1,
                "vae_juries": 2, "vae_full": 1, "certified": 3, "certified_rncp": 1,
                "withdrawals": 1, "vae_enrolments": 2, "vae_admissible": 1,
                "partial_candidacies": 1, "partial_completed": 1}
    for name, value in expected.items():
        assert row[name] == value, name
    rates = {"full_rate": 0.6, "vae_success_rate": 0.5, "vae_admissibility_rate": 0.5,
             "withdrawal_rate": 0.25, "partial_completion_rate": 1.0,
             "recognition_rate": 1 / 3, "rncp_coverage": 1 / 3}
    for name, value in rates.items():
        assert row[name] == pytest.approx(value), name
        assert row[f"{name}_low"] <= row[name] <= row[f"{name}_high"]


def test_same_figures_with_a_year_range_and_no_year_cut(worked):
    row = one_row(worked, years=(2023, 2023))
    assert (row["enrolments"], row["juries"], row["full"]) == (4, 5, 3)
    assert row["rncp_coverage"] == pytest.approx(1 / 3)


def test_branches_in_2023_count_the_cqpi_in_both(worked):
    frame = indicators(worked, by=["branch_code"], where={"year": 2023}, secret=False)
    by_branch = frame.set_index("branch_code")
    assert by_branch.loc["0016", ["enrolments", "juries", "full"]].tolist() == [3, 4, 2]
    assert by_branch.loc["3248", ["enrolments", "juries", "full"]].tolist() == [3, 3, 2]
    assert by_branch["enrolments"].sum() > 4  # the CQPI counts in each branch


def test_year_2024(worked):
    row = one_row(worked, by=["year"], where={"year": 2024})
    assert (row["juries"], row["full"], row["certified_rncp"]) == (1, 1, 0)
    assert row["full_rate"] == 1.0


def test_block_pass_rate_of_a2_over_all_years(worked):
    frame = indicators(worked, by=["block_code"], secret=False).set_index("block_code")
    assert frame.loc["A2", "block_pass_rate"] == pytest.approx(2 / 3)
    assert frame.loc["A2", "block_results"] == 3


def test_rates_are_empty_when_the_denominator_is_zero(worked):
    row = one_row(worked, by=["year"], where={"year": 2024})
    assert row["enrolments"] == 0
    assert pd.isna(row["withdrawal_rate"])
    assert pd.isna(row["withdrawal_rate_low"])


def test_absences_never_count(worked):
    row = one_row(worked, where={"cqp_code": "CQP-B"}, years=(2023, 2023))
    assert row["juries"] == 2  # K4 refused and K6 full; K4's absence is not a decision
    assert row["juries"] == row["full"] + row["partial"] + row["refused"]


def test_secret_hides_the_small_worked_example(worked):
    """Under the secret (whatever the database's HMAC key): each count within 2 of the
    exact figure, « secret » where it reads 1 to 4, a true 0 is 0; no year has 20 jury
    decisions, so every rate over them reads « secret » or is empty; CQP counts are not
    about persons and stay exact."""
    table = compute(worked, by=["year"])
    exact = compute(worked, by=["year"], secret=False).values
    published = table.published()
    for name in ("enrolments", "juries", "full", "partial", "refused", "first_juries"):
        shown = table.values[name]
        assert ((shown - exact[name]).abs() <= 2).all(), name
        assert (shown[exact[name] == 0] == 0).all(), name
        assert (published[name].eq("secret") == shown.between(1, 4)).all(), name
    assert published["full_rate"].isin(["secret"]).sum() + table.values["full_rate"].isna().sum() \
        == len(published)
    assert table.values["cqps_active"].equals(exact["cqps_active"])
    assert (published["cqps_active"] != "secret").all()

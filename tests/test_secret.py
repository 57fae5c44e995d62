"""Statistical secret: what must be hidden is hidden, and nothing hidden can be recovered."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from cqp_metrics import compute
from cqp_metrics.config import SecretRule
from cqp_metrics.secret import TOTAL, hidden_cells

RULE = SecretRule()


def frame(**columns) -> pd.DataFrame:
    values = pd.DataFrame(columns)
    if {"full", "juries"} <= set(values):
        values["full_rate"] = values["full"] / values["juries"]
    return values


def test_small_counts_and_rates_on_small_denominators_are_hidden():
    values = frame(juries=[30, 12, 4], full=[20, 10, 2], partial=[6, 1, 1], refused=[4, 1, 1])
    hidden = hidden_cells(values, RULE, by=[])
    assert hidden["refused"].tolist() == [True, True, True]
    assert hidden["juries"].tolist() == [False, False, True]
    # 12 juries < 20: the rate is hidden, and so is its numerator (rate x juries gives it)
    assert hidden.loc[1, "full_rate"] and hidden.loc[1, "full"]
    assert not hidden.loc[0, "full_rate"]


def test_one_hidden_part_of_a_sum_hides_another():
    values = frame(juries=[30], full=[20], partial=[7], refused=[3])
    hidden = hidden_cells(values, RULE, by=[])
    assert hidden.loc[0, "refused"]
    # juries - full - partial would give refused back: the smallest other part goes too
    assert hidden.loc[0, "partial"]
    assert not hidden.loc[0, "juries"] and not hidden.loc[0, "full"]


def test_the_secret_can_be_turned_off():
    values = frame(juries=[3], full=[1], partial=[1], refused=[1])
    assert not hidden_cells(values, SecretRule(enabled=False), by=[]).to_numpy().any()


def test_thresholds_are_settings():
    values = frame(juries=[30], full=[8], partial=[12], refused=[10])
    hidden = hidden_cells(values, SecretRule(min_count=10, min_denominator=50), by=[])
    assert hidden.loc[0, "full"] and hidden.loc[0, "full_rate"]


def single_hidden_relations(values: pd.DataFrame, hidden: pd.DataFrame, by: list[str],
                            total_dim: str | None) -> list:
    """Independent check: every linear relation shown must have 0 or >= 2 hidden cells."""
    problems = []
    for i in values.index:
        cells = ["juries", "full", "partial", "refused"]
        if sum(bool(hidden.at[i, c]) for c in cells) == 1:
            problems.append(("row sum", i))
        trio = ["full_rate", "full", "juries"]
        if sum(bool(hidden.at[i, c]) for c in trio) == 1:
            problems.append(("rate", i))
    if total_dim:
        others = [d for d in by if d != total_dim]
        for _, group in values.groupby(others) if others else [((), values)]:
            for column in ("juries", "full", "partial", "refused"):
                if sum(bool(hidden.at[i, column]) for i in group.index) == 1:
                    problems.append(("column sum", column, tuple(group.index)))
    return problems


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 12)),
                min_size=1, max_size=6),
       st.integers(1, 3))
def test_nothing_hidden_is_recoverable_from_rows_and_totals(parts, groups):
    rows = []
    for g in range(groups):
        for k, (full, partial, refused) in enumerate(parts):
            rows.append({"region": f"R{g}", "cqp": f"Q{k}", "full": full + g, "partial": partial,
                         "refused": refused})
    data = pd.DataFrame(rows)
    totals = data.groupby("region", as_index=False)[["full", "partial", "refused"]].sum()
    totals["cqp"] = TOTAL
    data = pd.concat([data, totals], ignore_index=True)
    data["juries"] = data["full"] + data["partial"] + data["refused"]
    data["full_rate"] = data["full"] / data["juries"].where(data["juries"] > 0)
    hidden = hidden_cells(data, RULE, by=["region", "cqp"], total_dim="cqp")
    assert single_hidden_relations(data, hidden, ["region", "cqp"], "cqp") == []
    primary = (data[["juries", "full", "partial", "refused"]] < 5)
    assert (hidden[primary.columns] | ~primary).all().all()  # every small count is hidden


def test_published_tables_read_secret_never_zero_or_blank(worked):
    table = compute(worked, by=["year", "pathway"], totals=True)
    published = table.published()
    for column in table.hidden.columns:
        shown = published.loc[table.hidden[column], column]
        assert (shown == "secret").all()
    assert TOTAL in set(published["pathway"])
    assert single_hidden_relations(table.values, table.hidden, ["year", "pathway"],
                                   "pathway") == []

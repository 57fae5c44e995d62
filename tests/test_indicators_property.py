"""Indicators from SQL equal an independent plain-Python computation, on random data, cuts and
filters, on every backend."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cqp_metrics import compute, schema
from cqp_metrics.loading import write_dataset
from cqp_metrics.registry import RATES

from reference import expected_counts, latest_date, random_dataset, wilson_interval

DIMS = ["year", "branch_code", "cqp_code", "region_code", "pathway", "funding", "status", "sex",
        "age_band", "provider_id", "referential_version"]
FILTER_VALUES = {
    "year": [2020, 2021, 2022, 2023], "branch_code": ["0016", "3248", "1979"],
    "cqp_code": ["Q0", "Q1", "Q2"], "region_code": ["11", "84", None],
    "pathway": ["vae", "formation"], "funding": ["cpf", "plan", None],
    "status": ["salarie", None], "sex": ["F", "M", None], "age_band": ["<26", "26-44", "45+"],
    "provider_id": ["OF1", None], "referential_version": ["2019", "2023", None],
}


def clear(engine: sa.Engine) -> None:
    """Empty every data table (children first, one transaction each: DuckDB needs that)."""
    for table in reversed(schema.WRITE_ORDER):
        with engine.begin() as connection:
            connection.execute(table.delete())


requests = st.fixed_dictionaries({
    "seed": st.integers(0, 10**6),
    "size": st.integers(0, 30),
    "by": st.lists(st.sampled_from(DIMS), max_size=2, unique=True),
    "where": st.dictionaries(st.sampled_from(DIMS), st.just(None), max_size=2),
    "years": st.tuples(st.one_of(st.none(), st.integers(2019, 2023)),
                       st.one_of(st.none(), st.integers(2021, 2026))),
    "scope": st.one_of(st.none(), st.sets(st.sampled_from(["0016", "3248", "1979"]))),
    "blocks": st.booleans(),
    "contracts": st.booleans(),
    "coarse": st.booleans(),
    "until": st.one_of(st.none(), st.tuples(st.integers(1, 12), st.integers(1, 28))),
    "extra_days": st.sampled_from([0, 0, 31, 400]),
}).map(lambda r: r)


@pytest.mark.parametrize("rounds", [1])
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=requests, data=st.data())
def test_counts_and_rates_match_the_reference(engine, rounds, request, data):
    clear(engine)
    dataset = random_dataset(request["seed"], request["size"], request["coarse"])
    latest = latest_date(dataset)
    data_until = None if latest is None else latest + dt.timedelta(days=request["extra_days"])
    with engine.begin() as connection:
        write_dataset(connection, dataset, source="test", data_until=data_until)
    where = {dim: data.draw(st.lists(st.sampled_from(FILTER_VALUES[dim]), min_size=1,
                                     max_size=2, unique=True)) for dim in request["where"]}
    by = list(request["by"])
    years = request["years"]
    if years[0] is not None and years[1] is not None and years[0] > years[1]:
        years = (years[1], years[0])
    names = None
    if request["blocks"]:
        by = [*by[:1], "block_code"]
        names = ["block_results", "blocks_acquired", "block_pass_rate"]
    elif request["contracts"]:  # survey figures only, cut by the employed's contract
        by = [*by[:1], "contract"]
    until = request["until"]
    table = compute(engine, names=names, by=by, where=where, years=years,
                    scope=request["scope"], secret=False, until=until)
    assert table.data_until == data_until
    expected = expected_counts(dataset, by, where, years, request["scope"], until, data_until)
    got = table.values
    actual = {tuple(None if pd.isna(v) else v for v in row[by]): row
              for _, row in got.iterrows()} if by else {(): got.iloc[0]} if len(got) else {}
    if not by:
        expected = expected or {(): {}}
    assert set(actual) == set(expected), (set(actual) ^ set(expected))
    for key, values in expected.items():
        row = actual[key]
        for name in table.query.counts():
            assert row[name] == values.get(name, 0), (key, name)
        for name in ESTIMATES:
            if name in got.columns:
                wanted = values.get(name, math.nan)
                assert (math.isnan(wanted) and pd.isna(row[name])) or math.isclose(
                    row[name], wanted, rel_tol=1e-9, abs_tol=1e-12), (key, name, row[name],
                                                                     wanted)
    for name, rate in RATES.items():
        if name in got.columns:
            for _, row in got.iterrows():
                n = row[rate.denominator]
                if n == 0:  # undefined: empty, never 0
                    assert pd.isna(row[name]) and pd.isna(row[f"{name}_low"]), name
                    continue
                want = wilson_interval(row[rate.numerator], n)
                got_row = (row[name], row[f"{name}_low"], row[f"{name}_high"])
                assert all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
                           for a, b in zip(got_row, want, strict=True)), (name, got_row, want)
    if "year" in by:
        complete = [data_until is None or data_until >= dt.date(int(y), *(until or (12, 31)))
                    for y in got["year"]]
        assert got["year_complete"].tolist() == complete


#: The figures that are neither counts nor Wilson rates, checked against the reference.
ESTIMATES = ["days_to_first_jury_median", "pay_median_6m", "pay_median_24m",
             *(f"partial_completion_{m}m_km{s}" for m in (12, 24) for s in ("", "_low", "_high"))]

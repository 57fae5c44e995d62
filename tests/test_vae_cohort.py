"""The VAE path of a cohort: each step is a subset of the one before (DOMAIN.md's funnel read
by entry cohort, not by the date of each step), on every backend."""

from __future__ import annotations

from cqp_metrics import compute, demo
from cqp_metrics.loading import write_dataset

STEPS = ["vae_enrolments", "vae_admissible", "vae_cohort_juried", "vae_cohort_full"]


def test_each_step_is_a_subset_of_the_one_before(engine):
    with engine.begin() as connection:
        write_dataset(connection, demo.generate(1500, seed=5), source="test")
    table = compute(engine, STEPS, by=["year", "cqp_code"], secret=False)
    values = table.values
    assert values["vae_cohort_full"].sum() > 0
    for before, after in zip(STEPS, STEPS[1:], strict=False):
        assert (values[before] >= values[after]).all(), (before, after)

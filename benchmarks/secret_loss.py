"""Benchmark: what the statistical secret costs and what it protects, on the demo data.

    .venv/bin/python benchmarks/secret_loss.py [--candidacies 20000] [--cqps 12]

For the tables of issue 7 (each CQP x pathway filter x one cut among region, age band,
status, sex, funding, provider; and each CQP by year x one of those cuts), with their
margins:

- the share of publishable cells (not under primary secret) that stay shown, for
  ``cqp_metrics`` as it serves them (every count of the fact, linked), for ``cqp_metrics``
  on the one count alone, and for tau-Argus (``pytauargus``, HiGHS) modular (MOD) and
  optimal (OPT) suppression with the same rule (frequency 5);
- how many hidden cells the attacker of ``tests/attacker.py`` gives back from the same
  requests (subtraction against margins, CQPIs, equal columns, rate x denominator).

Prints Markdown; docs/secret.md records the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from cqp_metrics import compute, demo
from cqp_metrics.config import SecretRule
from cqp_metrics.db import ensure_schema, make_engine
from cqp_metrics.loading import write_dataset
from cqp_metrics.secret import Knowledge, Suppression

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from attacker import leaks  # noqa: E402

CUTS = ["region_code", "age_band", "status", "sex", "funding", "provider_id"]
PATHWAYS = [None, "vae", "formation"]
COUNTED = ["enrolments", "juries"]
RULE = SecretRule()


def tables(engine: sa.Engine, count: str, where: dict, cut: list[str]) -> dict:
    """The request's table and its margins, unprotected: {dims: frame}."""
    subsets = [tuple(cut)] + [tuple(d for d in cut if d != lost) for lost in cut]
    if len(cut) == 2:
        subsets.append(())
    out = {}
    for dims in dict.fromkeys(subsets):
        out[dims] = compute(engine, names=[count], by=list(dims), where=where,
                            secret=False).values[[*dims, count]]
    return out


def ours_served(engine: sa.Engine, count: str, where: dict, cut: list[str]) -> list[bool]:
    """Shown (True) or hidden, cell by cell, as the product serves the tables."""
    shown = []
    for dims in tables(engine, count, where, cut):
        table = compute(engine, names=[count], by=list(dims), where=where)
        primary = table.values[count] < RULE.min_count
        shown += list(zip(~table.hidden[count], primary, strict=True))
    return shown


def ours_alone(engine: sa.Engine, count: str, where: dict, cut: list[str]) -> list:
    frames = tables(engine, count, where, cut)
    plan = Suppression(lambda dims: frames[dims], RULE, Knowledge(), [count])
    shown = []
    for dims, frame in frames.items():
        decided = plan.table(dims)
        shown += list(zip(~decided.hidden[count], frame[count] < RULE.min_count,
                          strict=True))
    return shown


def tau_argus(engine: sa.Engine, count: str, where: dict, cut: list[str],
              method: str) -> list:
    from pytauargus import protect

    finest = tables(engine, count, where, cut)[tuple(cut)]
    if finest.empty:
        return []
    if len(finest) == 1 and len(cut) == 1:
        # tau-Argus refuses a variable with one code; the cell is its total, nothing to add
        small = bool(finest[count].iloc[0] < RULE.min_count)
        return [(not small, small)] * 2
    micro = finest.loc[finest.index.repeat(finest[count])].drop(columns=[count])
    micro = micro.astype(str).replace({"None": "nd", "<NA>": "nd"})
    micro.columns = [f"v_{c}" for c in micro.columns]  # "status" is a reserved name there
    micro["one"] = 1.0
    with tempfile.TemporaryDirectory() as workdir, contextlib.chdir(workdir):
        # tau-Argus writes its solver logs in the current folder, whatever workdir says
        result = protect(micro, [f"v_{c}" for c in cut], response="one",
                         safety_rules="FREQ(5,0)",
                         suppress=f"{method}(1)", workdir=workdir)
        frame = result.tables[0].dataframe()
    return list(zip(frame["status"] == "S", frame["freq"] < RULE.min_count, strict=True))


def share(cells: list) -> tuple[int, int]:
    """(publishable cells shown, publishable cells)."""
    publishable = [shown for shown, primary in cells if not primary]
    return sum(bool(s) for s in publishable), len(publishable)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidacies", type=int, default=20_000)
    parser.add_argument("--cqps", type=int, default=12, help="how many CQPs to go through")
    parser.add_argument("--no-tau-argus", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"duckdb:///{Path(folder) / 'demo.duckdb'}")
        ensure_schema(engine)
        with engine.begin() as connection:
            write_dataset(connection, demo.generate(args.candidacies), source="démo")
        with engine.connect() as connection:
            cqps = [row[0] for row in connection.execute(
                sa.text("SELECT cqp_code FROM certification ORDER BY cqp_code"))]
        cqps = cqps[: args.cqps]
        methods = {"cqp_metrics (servi)": ours_served, "cqp_metrics (un seul effectif)":
                   ours_alone}
        if not args.no_tau_argus:
            methods["τ-Argus MOD"] = lambda *a: tau_argus(*a, method="MOD")
            methods["τ-Argus OPT"] = lambda *a: tau_argus(*a, method="OPT")
        totals = {name: [0, 0, 0.0] for name in methods}
        requests = []
        for cqp in cqps:
            for pathway in PATHWAYS:
                where = {"cqp_code": [cqp], **({"pathway": [pathway]} if pathway else {})}
                requests += [(where, [cut]) for cut in CUTS]
            requests += [({"cqp_code": [cqp]}, ["year", cut]) for cut in CUTS]
        for where, cut in requests:
            for count in COUNTED:
                for name, method in methods.items():
                    started = time.perf_counter()
                    shown, publishable = share(method(engine, count, where, cut))
                    totals[name][0] += shown
                    totals[name][1] += publishable
                    totals[name][2] += time.perf_counter() - started
        print(f"{len(requests)} tables x {len(COUNTED)} counts ({', '.join(COUNTED)}), "
              f"{args.candidacies} demo candidacies, {len(cqps)} CQPs\n")
        print("| method | publishable cells shown | share | time |")
        print("|---|---:|---:|---:|")
        for name, (shown, publishable, seconds) in totals.items():
            print(f"| {name} | {shown} / {publishable} | {shown / publishable:.1%} | "
                  f"{seconds:.0f} s |")
        recovered = 0
        attacked = 0
        started = time.perf_counter()
        for where, cut in requests:
            found, inconsistent = leaks(engine, where, (None, None), None, cut)
            recovered += len(found) + len(inconsistent)
            attacked += 1
        for where, cut in [({"region_code": ["11"]}, ["branch_code", "cqp_code"]),
                           ({"region_code": ["11"]}, ["year", "branch_code"]),
                           ({"pathway": ["vae"]}, ["year", "region_code"])]:
            found, inconsistent = leaks(engine, where, (None, None), None, cut)
            recovered += len(found) + len(inconsistent)
            attacked += 1
        print(f"\nAttacker: {attacked} filter sets, each with its tables and margins as "
              f"separate requests: {recovered} hidden cell(s) given back "
              f"({time.perf_counter() - started:.0f} s).")


if __name__ == "__main__":
    main()

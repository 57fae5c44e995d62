"""Benchmark: load N demo candidacies from interchange files, then compute indicators.

    .venv/bin/python benchmarks/load_million.py [--candidacies 1000000] [--db URL]
        [--markdown docs/benchmarks.md]

Prints a Markdown table row per step and the loading rate beside #11's target (100,000
candidacies a second); ``--markdown`` writes them between their markers in that file. On DuckDB it
also measures, for reference, what the engine alone takes: its own CSV reader over the same
files (no check), and writing the loaded rows into tables with and without the schema's
keys (primary and foreign keys), each with its commit.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from pages import write_section

from cqp_metrics import compute, demo
from cqp_metrics.db import make_engine
from cqp_metrics.loading import load
from cqp_metrics.loading.reader import read_input
from cqp_metrics.loading.validate import validate

#: The big tables, their files and their keys as the schema declares them (DuckDB).
BIG = (
    ("candidacy", "candidacies", "PRIMARY KEY (candidacy_id)"),
    ("jury", "juries", "PRIMARY KEY (candidacy_id, jury_date), FOREIGN KEY (candidacy_id) "
     "REFERENCES candidacy (candidacy_id)"),
    ("block_result", "block_results", "PRIMARY KEY (candidacy_id, jury_date, block_code), "
     "FOREIGN KEY (candidacy_id, jury_date) REFERENCES jury (candidacy_id, jury_date)"),
)


def engine_alone(loaded: Path, files: Path, target: Path, step) -> None:
    """DuckDB's own CSV reader, then the loaded rows written with and without keys."""
    import duckdb

    with duckdb.connect(str(target)) as duck:
        started = time.perf_counter()
        for _, file, _ in BIG:
            duck.execute(f"CREATE TABLE raw_{file} AS SELECT * FROM "
                         f"read_csv('{files / file}.csv', all_varchar = true)")
        step("reference: DuckDB's CSV reader alone, the three big files, unchecked", started)
        duck.execute(f"ATTACH '{loaded}' AS loaded (READ_ONLY)")
        for keyed in (True, False):
            suffix = "" if keyed else "_unkeyed"
            for table, _, keys in BIG:
                columns = ", ".join(f"{name} {kind}" for name, kind in duck.execute(
                    "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name "
                    f"= 'loaded' AND table_name = '{table}' ORDER BY column_index").fetchall())
                if keyed:
                    columns += ", " + keys
                duck.execute(f"CREATE TABLE {table}{suffix} ({columns})")
            duck.execute("CHECKPOINT")
            started = time.perf_counter()
            duck.execute("BEGIN")
            for table, _, _ in BIG:
                duck.execute(f"INSERT INTO {table}{suffix} SELECT * FROM loaded.{table}")
            duck.execute("COMMIT")
            step(f"reference: DuckDB writing the loaded rows {'with' if keyed else 'without'} "
                 "the schema's keys (commit included)", started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidacies", type=int, default=1_000_000)
    parser.add_argument("--db", default=None, help="database URL (default: a new DuckDB file)")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="write the results into this file, between its markers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        url = args.db or f"duckdb:///{folder / 'bench.duckdb'}"
        steps: list[tuple[str, float]] = []

        def step(name: str, started: float) -> None:
            steps.append((name, time.perf_counter() - started))
            print(f"{name}: {steps[-1][1]:.1f} s", flush=True)

        started = time.perf_counter()
        dataset = demo.generate(args.candidacies)
        demo.write_files(dataset, folder / "files")
        rows = {name: len(frame) for name, frame in dataset.tables.items()}
        del dataset
        step("generate and write the CSV files", started)
        engine = make_engine(url)
        started = time.perf_counter()
        load(folder / "files", engine)
        step("cqp-metrics load (read, validate, write)", started)
        per_second = args.candidacies / steps[-1][1]
        started = time.perf_counter()
        validate(read_input(folder / "files"))
        step("of which reading and validating (measured apart)", started)
        for by in ([], ["year"], ["year", "cqp_code"], ["year", "branch_code", "pathway"],
                   ["block_code"]):
            started = time.perf_counter()
            compute(engine, by=by)
            step(f"indicators --by {','.join(by) or '(none)'}", started)
        engine.dispose()
        if url.startswith("duckdb:///"):
            engine_alone(Path(url.removeprefix("duckdb:///")), folder / "files",
                         folder / "alone.duckdb", step)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    verdict = "met" if per_second >= 100_000 else "**not met**"
    lines = [f"Machine: {platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python "
             f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}; backend "
             f"{url.split(':')[0]}.", "",
             "Rows: " + ", ".join(f"{count:,} {name}" for name, count in rows.items()) + ".", "",
             "| step | seconds |", "|---|---|",
             *(f"| {name} | {seconds:.1f} |" for name, seconds in steps), "",
             f"Peak memory of the whole run (generation included): {peak / 1024:.1f} GiB.", "",
             f"Loading, validation included: **{per_second:,.0f} candidacies a second** "
             f"(target ≥ 100,000: {verdict}).", ""]
    text = "\n".join(lines)
    print("\n" + text, flush=True)
    if args.markdown:
        write_section(args.markdown, text, BEGIN, END)


BEGIN = "<!-- BEGIN loading: written by benchmarks/load_million.py (make bench) -->"
END = "<!-- END loading -->"


if __name__ == "__main__":
    main()

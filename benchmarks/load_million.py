"""Benchmark: load N demo candidacies from interchange files, then compute indicators.

    .venv/bin/python benchmarks/load_million.py [--candidacies 1000000] [--db URL]

Prints a Markdown table row per step; docs/benchmarks.md records the figures.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from cqp_metrics import compute, demo
from cqp_metrics.db import make_engine
from cqp_metrics.loading import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--candidacies", type=int, default=1_000_000)
    parser.add_argument("--db", default=None, help="database URL (default: a new DuckDB file)")
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
        for by in ([], ["year"], ["year", "cqp_code"], ["year", "branch_code", "pathway"],
                   ["block_code"]):
            started = time.perf_counter()
            compute(engine, by=by)
            step(f"indicators --by {','.join(by) or '(none)'}", started)
        engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nbackend {url.split(':')[0]}, rows {rows}, peak memory {peak:.0f} MiB\n")
    print("| step | seconds |\n|---|---|")
    for name, seconds in steps:
        print(f"| {name} | {seconds:.1f} |")


if __name__ == "__main__":
    main()

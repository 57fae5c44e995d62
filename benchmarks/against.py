"""Benchmark: this checkout against an earlier release, in the same run (#32, #34).

    .venv/bin/python benchmarks/against.py --reference REV [--candidacies 1000000]
        [--backends duckdb postgresql] [--rounds 2] [--repeat 1] [--clicks 30]
        [--markdown docs/benchmarks.md]

The machine is shared and noisy: a figure means something only beside a reference measured
in the same run. The reference release is checked out (``git worktree``) beside this one;
each release builds its own database of the demo generator at the same size (each with its
own schema), then the two are measured **in alternation**, round after round, by their own
benchmark code (``benchmarks/pages.py``'s ``page_times``: every page redrawn after each of a
session's usual filter changes, on a cold cache, server side, its first drawing in the
process (the page's opening, its models made) apart; and a browser's round trip: a click
on a filter to the key figure updated, in chromium, served by each release's
``benchmarks/load.py`` and timed by this checkout's ``benchmarks/clicks.py``), each in a
process whose imports come from its own tree. Prints Markdown; ``--markdown`` writes it
between the markers of the file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from pages import ms, p95, write_section  # noqa: E402
from postgres import PostgresServer  # noqa: E402

BEGIN = "<!-- BEGIN against: written by benchmarks/against.py -->"
END = "<!-- END against -->"
#: What a measuring process prints before its JSON answer.
MARK = "@@answer@@"
#: The code each tree runs for one step, with its own ``pages`` and ``load`` modules.
STEP = f"""
import json, pathlib, sys, tempfile
import pages
what, url, number = sys.argv[1], sys.argv[2], int(sys.argv[3])
if what == "build":
    answer = pages.build(url, number)
elif what == "pages":
    answer = pages.page_times(url, number)
else:
    import importlib.util
    import load
    # this checkout's way of timing a click (argv[4]), the same for both releases
    spec = importlib.util.spec_from_file_location("clicks_timed", sys.argv[4])
    clicks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(clicks)
    with tempfile.TemporaryDirectory() as folder:
        server = load.Server(url, pathlib.Path(folder) / "serve.log")
        try:
            answer = clicks.round_trip(server.base, url, number)
        finally:
            server.stop()
print("{MARK}" + json.dumps(answer), flush=True)
"""
NAMES = {"duckdb": "DuckDB", "postgresql": "PostgreSQL"}
#: What each tree's steps import, tried before any database is built (a reference that
#: needs a benchmark dependency would otherwise fail after the builds' quarter of an hour).
PREFLIGHT = f"""
import pages, load
import holoviews  # the reference's pages draw with it (the bench extra)
# what this checkout's clicks.round_trip reads of the tree it times
import cqp_metrics.formatting, dashboards.chromium, dashboards.filters, playwright.sync_api
print("{MARK}null", flush=True)
"""


#: How a click is timed, for both releases: this checkout's module (``clicks.round_trip``).
CLICKS = ROOT / "benchmarks" / "clicks.py"


def step(tree: Path, what: str, url: str, number: int, code: str = STEP) -> object:
    """Run one step of ``code`` (which prints its answer after :data:`MARK`) in ``tree``'s
    own code; its answer."""
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'benchmarks'}"}
    env.pop("CQP_DB", None)
    done = subprocess.run([sys.executable, "-c", code, what, url, str(number), str(CLICKS)],
                          cwd=tree / "benchmarks", env=env, capture_output=True, text=True,
                          check=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"{what} failed in {tree}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def revisions(reference: str) -> tuple[str, str, bool]:
    """The reference release's short hash, this checkout's, and whether this checkout's code
    has changes not committed."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], check=True,
                              capture_output=True, text=True).stdout.strip()

    return (git("rev-parse", "--short", reference), git("rev-parse", "--short", "HEAD"),
            bool(git("status", "--porcelain", "--", "cqp_metrics", "dashboards")))


@contextlib.contextmanager
def reference_tree(revision: str, folder: Path) -> Iterator[Path]:
    """The reference release checked out beside this one, removed at the end."""
    tree = folder / "reference"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force",
                    str(tree), revision], check=True, capture_output=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                       check=False, capture_output=True)


def _spread(times: list[float] | None) -> list[str]:
    """Median and p95 of ``times`` (ms), « — » for a page a release has not."""
    if not times:
        return ["—", "—"]
    return [ms(statistics.median(times)), ms(p95(times))]


def _new_database(server: PostgresServer, name: str) -> str:
    admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server.url(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", required=True, help="the earlier release (a git rev)")
    parser.add_argument("--candidacies", type=int, default=1_000_000)
    parser.add_argument("--backends", nargs="+", default=["duckdb", "postgresql"],
                        choices=list(NAMES))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1,
                        help="the filter changes of one round, this many times")
    parser.add_argument("--clicks", type=int, default=30,
                        help="browser clicks per round on DuckDB (0: none)")
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    revision, current, dirty = revisions(args.reference)
    size = f"{args.candidacies:,}".replace(",", " ")
    lines = [f"Run of {time.strftime('%Y-%m-%d %H:%M')}, {len(os.sched_getaffinity(0))} cores: "
             f"this checkout ({current}{', with changes' if dirty else ''}) against "
             f"{revision}, {size} demo candidacies each, {args.rounds} round(s) in "
             "alternation.", ""]
    with tempfile.TemporaryDirectory() as scratch, \
            reference_tree(args.reference, Path(scratch)) as reference:
        trees = {"reference": reference, "current": ROOT}
        for side, tree in trees.items():
            try:
                step(tree, "imports", "", 0, code=PREFLIGHT)
            except RuntimeError as failed:
                raise SystemExit(f"{side} ({tree}) cannot run its benchmark code; the "
                                 "reference draws with HoloViews: pip install -e "
                                 f"'.[bench]' (make bench does)\n{failed}") from None
        server = None
        if "postgresql" in args.backends:
            server = PostgresServer()
            server.start()
        try:
            urls = {}
            for backend in args.backends:
                for side, tree in trees.items():
                    if backend == "duckdb":
                        url = f"duckdb:///{Path(scratch) / f'{side}.duckdb'}"
                    else:
                        url = _new_database(server, f"bench_{side}")
                    print(f"building {side} on {backend}…", flush=True)
                    steps = step(tree, "build", url, args.candidacies)
                    print(f"  {steps}", flush=True)
                    urls[backend, side] = url
            pages: dict = {}
            openings: dict = {}
            clicks: dict = {}
            for round_ in range(args.rounds):
                for backend in args.backends:
                    for side in (("reference", "current") if round_ % 2 == 0
                                 else ("current", "reference")):
                        print(f"round {round_ + 1}: {side} on {backend}…", flush=True)
                        times = step(trees[side], "pages", urls[backend, side], args.repeat)
                        for slug, entry in times.items():
                            # a round's first drawing of a page is its opening (its models
                            # made, in a new process): not a recompute after a filter change
                            opened, *changed = entry["total"]
                            pages.setdefault((backend, side, slug), []).extend(changed)
                            openings.setdefault((backend, side, slug), []).append(opened)
                        if backend == "duckdb" and args.clicks:
                            timed = step(trees[side], "browser", urls[backend, side],
                                         args.clicks)
                            for way, seconds in timed.items():
                                clicks.setdefault((side, way), []).extend(seconds)
        finally:
            if server is not None:
                server.stop()
    raw = Path(tempfile.gettempdir()) / "against-raw.json"
    raw.write_text(json.dumps({"pages": [[*k, v] for k, v in pages.items()],
                               "openings": [[*k, v] for k, v in openings.items()],
                               "clicks": [[*k, v] for k, v in clicks.items()]}))
    print(f"raw measures: {raw}", flush=True)
    for backend in args.backends:
        lines += [f"**{NAMES[backend]}**, each page redrawn after a filter change on a cold "
                  "cache, server side (ms; beside it, the page's opening in a new process, "
                  "its models made, median of the rounds):", "",
                  f"| page | {revision} median | p95 | this checkout median | p95 | "
                  f"opening {revision} | opening this checkout |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        # a page of this checkout the reference has not (the insertion page): « — » there
        slugs = sorted({s for (b, _, s) in pages if b == backend})
        for slug in slugs:
            lines.append(" | ".join([
                "", slug, *_spread(pages.get((backend, "reference", slug))),
                *_spread(pages.get((backend, "current", slug))),
                *_spread(openings.get((backend, "reference", slug)))[:1],
                *_spread(openings.get((backend, "current", slug)))[:1], ""]).strip())
        worst = {side: max(p95(pages[backend, side, s]) for s in slugs
                           if (backend, side, s) in pages)
                 for side in ("reference", "current")}
        lines += ["", f"Slowest page's p95: {ms(worst['reference'])} ms ({revision}), "
                      f"{ms(worst['current'])} ms (this checkout).", ""]
    if clicks:
        lines += ["**Browser** (DuckDB, chromium): from a click on a filter to the key figure "
                  "updated (ms), both releases timed by this checkout's "
                  "`benchmarks/clicks.py`: in the page (the click's event to the frame that "
                  "shows the figure), and as Playwright drives the click (from its click "
                  "call, which first checks the button, to the end of its wait):", "",
                  f"| | {revision} | this checkout |", "|---|---:|---:|"]
        for way, said in (("page", "in the page"), ("driven", "driven by Playwright")):
            reference, current = clicks[("reference", way)], clicks[("current", way)]
            lines += [f"| median, {said} | {ms(statistics.median(reference))} | "
                      f"{ms(statistics.median(current))} |",
                      f"| p95, {said} | {ms(p95(reference))} | {ms(p95(current))} |"]
        lines += [f"| clicks | {len(clicks[('reference', 'page')])} | "
                  f"{len(clicks[('current', 'page')])} |", ""]
    print("\n".join(lines))
    if args.markdown:
        write_section(args.markdown, "\n".join(lines), BEGIN, END)


if __name__ == "__main__":
    main()

"""Benchmark: what building one session's page costs the server, on a warm cache.

    .venv/bin/python benchmarks/page_open.py --db duckdb:///data/big.duckdb [--repeat 5]

Builds the served page as ``panel serve dashboards/app.py`` does for a new session (the app,
its template, the Vue d'ensemble) into a new Bokeh document, ``--repeat`` times after a first
build that fills the caches; prints the median time, and how much of one build HoloViews
spends making the charts' Bokeh models (``get_plot``, from a profile).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def warm_page(url: str, repeat: int = 5) -> dict[str, float]:
    """Seconds to build a session's served page on a warm cache (median), and in one
    profiled build, the seconds in all and those HoloViews' ``get_plot`` takes."""
    import panel as pn
    from bokeh.document import Document

    from dashboards.components import frozen
    from dashboards.observatory import ObservatoryApp, extension

    extension()
    before = os.environ.get("CQP_DB")
    os.environ["CQP_DB"] = url

    def build() -> float:
        document = Document()
        pn.state.curdoc = document
        started = time.perf_counter()
        with frozen():  # as ``observatory.serve`` builds it
            ObservatoryApp(language="fr").template().server_doc(document)
        return time.perf_counter() - started

    try:
        build()  # fills the caches
        times = [build() for _ in range(repeat)]
        profile = cProfile.Profile()
        profile.enable()
        build()
        profile.disable()
    finally:
        pn.state.curdoc = None
        if before is None:
            os.environ.pop("CQP_DB", None)
        else:
            os.environ["CQP_DB"] = before
    stats = pstats.Stats(profile).stats
    total = sum(cumulative for (_, _, name), (_, _, _, cumulative, _) in stats.items()
                if name == "build")
    charts = sum(cumulative for (file, _, name), (_, _, _, cumulative, _) in stats.items()
                 if name == "get_plot" and file.endswith("holoviews/plotting/renderer.py"))
    return {"median": statistics.median(times), "profiled": total, "charts": charts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    page = warm_page(args.db, args.repeat)
    print(f"a session's page, warm cache: {page['median'] * 1000:.0f} ms median over "
          f"{args.repeat} builds; in a profiled build, HoloViews' get_plot takes "
          f"{page['charts']:.2f} s of {page['profiled']:.2f} s")


if __name__ == "__main__":
    main()

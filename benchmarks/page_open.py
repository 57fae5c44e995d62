"""Benchmark: what a session's page costs the server, on a warm cache.

    .venv/bin/python benchmarks/page_open.py --db duckdb:///data/big.duckdb [--repeat 5]

- **build**: the served page, as ``panel serve dashboards/app.py`` builds it for a new session
  (the app, its template, the Vue d'ensemble) into a new Bokeh document;
- **change**: the Vue d'ensemble redrawn in place for a filter change (its key figures and
  four trends), over a set of filters whose results are cached;
- **reference, in the same run**: the Vue d'ensemble's four trends made into a document's
  Bokeh models by the Bokeh figures the page uses (:mod:`dashboards.charts`), and by
  HoloViews charts of the same data, written here (HoloViews drew them before; it is only a
  benchmark dependency now).

Each is the median over ``--repeat`` rounds, after a first round that fills the caches.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dashboards.charts.count_trend import CountTrendFigure, count_trend_data
from dashboards.charts.rate_trend import RateTrendFigure, rate_trend_data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: Filter changes of the Vue d'ensemble (as ``Filters.state()["where"]`` gives them).
CHANGES = ({"sex": ["F"]}, {"pathway": ["vae"]}, {"age_band": ["45+"]},
           {"pathway": ["formation"], "sex": ["H"]}, {})


def _median(run: Callable[[], None], repeat: int) -> float:
    run()  # fills the caches
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def warm_page(url: str, repeat: int = 5) -> dict[str, float]:
    """Seconds (medians, warm cache): ``build`` a session's served page, ``change`` its Vue
    d'ensemble in place, and make its four trends' models with ``figures`` or
    ``holoviews``."""
    import holoviews as hv
    import panel as pn
    from bokeh.document import Document

    from dashboards import asks
    from dashboards.data import MetricsSource
    from dashboards.filters import Filters
    from dashboards.observatory import ObservatoryApp, extension, session_build
    from dashboards.pages.overview import COUNTED, TRENDS, OverviewPage

    extension()
    before = os.environ.get("CQP_DB")
    os.environ["CQP_DB"] = url
    try:
        def build() -> None:
            document = Document()
            pn.state.curdoc = document
            with session_build():  # as ``observatory.serve`` builds it
                ObservatoryApp(language="fr").template().server_doc(document)

        figures = {"build": _median(build, repeat)}

        source = MetricsSource(url=url, scope=None)
        filters = Filters(source)
        page = OverviewPage(filters=filters, source=source)
        document = Document()
        pn.state.curdoc = document
        document.add_root(pn.panel(page).get_root(document))
        years = (filters.year_from, filters.year_to)

        def change() -> None:
            for where in CHANGES:
                page.render(where, years)

        figures["change"] = _median(change, repeat) / len(CHANGES)
        table = source.answer(asks.overview(source.request, {}, years))

        def charts(make: Callable[[], list]) -> Callable[[], None]:
            def run() -> None:
                document = Document()
                pn.state.curdoc = document
                document.add_root(pn.Column(*make()).get_root(document))
            return run

        def with_figures() -> list:
            made = [CountTrendFigure(COUNTED), *(RateTrendFigure(n) for n in TRENDS)]
            for figure in made:
                figure.update(table)
            return [pn.pane.Bokeh(figure.figure) for figure in made]

        def with_holoviews() -> list:
            return [pn.pane.HoloViews(plot) for plot in (
                _holoviews_counts(hv, table, COUNTED),
                *(_holoviews_rate(hv, table, n) for n in TRENDS))]

        hv.extension("bokeh", logo=False)
        figures["figures"] = _median(charts(with_figures), repeat)
        figures["holoviews"] = _median(charts(with_holoviews), repeat)
        return figures
    finally:
        pn.state.curdoc = None
        if before is None:
            os.environ.pop("CQP_DB", None)
        else:
            os.environ["CQP_DB"] = before


def _holoviews_counts(hv, table, names: list[str]):
    """The reference: the counts chart as HoloViews made it (one curve and points per count,
    from the same data function)."""
    layers = []
    for name, data in count_trend_data(table, names).items():
        layers += [hv.Curve(data, "year", "effectif", label=name),
                   hv.Scatter(data, "year", ["effectif", "texte"], label=name).opts(
                       size=6, tools=["hover"])]
    return hv.Overlay(layers).opts(height=300, responsive=True, legend_position="top")


def _holoviews_rate(hv, table, name: str):
    """The reference: a rate's trend as HoloViews made it (band, line, points)."""
    data = rate_trend_data(table, name)
    return (hv.Area(data, "year", ["bas", "haut"]).opts(alpha=0.25)
            * hv.Curve(data, "year", "taux")
            * hv.Scatter(data, "year", ["taux", "texte", "ic"]).opts(size=7, tools=["hover"])
            ).opts(height=300, responsive=True, ylim=(0, 100))


def describe(page: dict[str, float]) -> str:
    """One sentence of the figures, in milliseconds."""
    return (f"a session's page built in {page['build'] * 1000:.0f} ms; the Vue d'ensemble "
            f"redrawn in place for a filter change in {page['change'] * 1000:.0f} ms; its four "
            f"trends made as Bokeh figures in {page['figures'] * 1000:.0f} ms, against "
            f"{page['holoviews'] * 1000:.0f} ms by HoloViews (reference, same run); medians on "
            "a warm cache")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    text = describe(warm_page(args.db, args.repeat))
    print(text[0].upper() + text[1:] + ".")


if __name__ == "__main__":
    main()

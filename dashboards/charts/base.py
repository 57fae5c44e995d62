"""What every chart shares: a figure as the pages draw it (tools, French axes), the
shares' columns with their intervals, the figure by year with its incomplete years shaded."""

from __future__ import annotations

import numpy as np
import pandas as pd
from bokeh.models import (
    BasicTicker,
    BoxAnnotation,
    CDSView,
    ColumnDataSource,
    CustomJSTickFormatter,
    Glyph,
    GlyphRenderer,
    Grid,
    Range1d,
)
from bokeh.plotting import figure

from cqp_metrics.api import IndicatorTable
from cqp_metrics.formatting import fr_pct
from cqp_metrics.registry import label

ACCENT = "#1f5f8b"


#: The lines of a count chart, in order, each 4.5:1 or more on white; the legend names them.
COUNT_COLOURS = (ACCENT, "#b35806", "#1b7837")


#: A chart's tools: « save » (a PNG of the chart), besides its hover texts. The trends hold a
#: few points each, read at a glance; zooming and panning (five more models a chart, about a
#: tenth of a session's page) are kept for the providers' funnel plot, where points crowd.
TOOLS = "save"
ZOOM_TOOLS = "pan,box_zoom,reset,save"


def fr_axis() -> CustomJSTickFormatter:
    """Axis numbers as French readers write them (1 234 ; 2,5), by the browser's own French
    number format (Bokeh's numeral formatter ignores its ``fr`` language). A new one per
    chart: a Bokeh model lives in one document. Years keep Bokeh's own format."""
    return CustomJSTickFormatter(
        code="return tick.toLocaleString('fr-FR', {maximumFractionDigits: 1})"
             ".replace(/[\\u202f\\u00a0]/g, ' ')")


def interval_text(low: object, high: object) -> str:
    """``[58,1 % – 66,7 %]``; empty without bounds."""
    low, high = fr_pct(low), fr_pct(high)
    return f"[{low} – {high}]" if low and high else ""


def share_columns(frame: pd.DataFrame, name: str) -> dict[str, np.ndarray]:
    """What a chart draws of the share ``name`` in each row of ``frame``: the share and its
    95 % bounds in % (``taux``, ``bas``, ``haut``), the share and the interval in French
    (``texte``, ``ic``)."""
    low, high = frame[f"{name}_low"], frame[f"{name}_high"]
    return {"taux": frame[name].to_numpy(dtype=float) * 100,
            "bas": low.to_numpy(dtype=float) * 100, "haut": high.to_numpy(dtype=float) * 100,
            "texte": frame[name].map(fr_pct).to_numpy(),
            "ic": np.array([interval_text(lo, hi) for lo, hi in zip(low, high, strict=True)],
                           dtype=object)}


def years_only(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """The rows of real years (no total row, no missing year); hidden values stay, as NaN."""
    real = frame[by].map(lambda v: not isinstance(v, str) and pd.notna(v)).astype(bool)
    return frame.loc[real]  # .loc: an empty mask selects no row (not every column)


def category_text(value: object, labels: dict | None = None) -> str:
    """A category of a chart's axis or note, as people read it."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "non renseigné"
    return str((labels or {}).get(value, value))


def columns_of(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """A frame's columns as a Bokeh data source takes them."""
    return {column: frame[column].to_numpy() for column in frame.columns}


def new_figure(title: str, height: int = 300, french: str = "y", tools: str = TOOLS,
               **options) -> figure:
    """A chart's Bokeh figure as every page draws it: the page's width, its tools (no scroll
    zoom that would catch the page's scrolling), no logo, French numbers on the axes named by
    ``french`` (``"x"``, ``"y"``, ``"xy"``; years keep Bokeh's own format). ``options``:
    ranges, axis labels…"""
    drag = {"active_drag": "pan"} if "pan" in tools.split(",") else {}
    plot = figure(title=title, height=height, sizing_mode="stretch_width", tools=tools,
                  active_scroll=None, toolbar_location="right", **drag, **options)
    plot.toolbar.logo = None
    for name in french:
        getattr(plot, f"{name}axis").formatter = fr_axis()
    return plot


def lean(plot: figure) -> figure:
    """``plot`` without the glyph copies Bokeh makes for every renderer (a selected and a
    muted look: nothing here selects or mutes): BokehJS derives them when needed, and a
    session's page holds about forty models fewer. (The plot's own renderers: ``select``
    would walk every model of the figure.)"""
    for renderer in plot.renderers:
        if not isinstance(renderer, GlyphRenderer):
            continue
        renderer.nonselection_glyph = "auto"
        renderer.muted_glyph = "auto"
    return plot


def draw(plot: figure, source: ColumnDataSource, *glyphs: Glyph) -> list[GlyphRenderer]:
    """``glyphs`` drawn on ``plot`` from one ``source``, through one view of it (a view and
    its filter fewer for each glyph after the first), without the selected, unselected and
    muted copies Bokeh's figure methods make (BokehJS derives them when needed)."""
    view = CDSView()
    return [plot.add_glyph(source, glyph, view=view) for glyph in glyphs]


def without_grid(plot: figure, dimension: int) -> None:
    """``plot`` without the grid lines across ``dimension`` (0: the vertical lines along x, 1:
    the horizontal ones): not drawn rather than drawn invisible (a model fewer)."""
    plot.center = [r for r in plot.center
                   if not (isinstance(r, Grid) and r.dimension == dimension)]


def set_range(axis: Range1d, start: float, end: float) -> None:
    """A range moved to the new data, and « reset » (the toolbar's) going back to it."""
    axis.update(start=float(start), end=float(end), reset_start=float(start),
                reset_end=float(end))


class YearFigure:
    """A Bokeh figure by year with its incomplete years shaded, made once."""

    def __init__(self, title: str, y_label: str, language: str = "fr",
                 y_range: tuple[float, float] | None = None) -> None:
        self.language = language
        self._fixed_y = y_range
        self.figure = new_figure(
            title, x_range=Range1d(0, 1), y_range=Range1d(*(y_range or (0, 1))),
            x_axis_label=label("year", language), y_axis_label=y_label)
        self.figure.xaxis.ticker = BasicTicker(min_interval=1)  # whole years only
        without_grid(self.figure, 0)
        # The incomplete years are the data cut's year and any after it: one box spans them,
        # its four sides in data units (a side left to its default is one more model: three
        # models in all, where a strip per year drawn from a data source took seven).
        self.shaded = BoxAnnotation(left=0, right=0, bottom=0, top=0, fill_color="#888888",
                                    fill_alpha=0.15, line_alpha=0, level="underlay",
                                    visible=False)
        self.figure.add_layout(self.shaded)

    def _frame(self, table: IndicatorTable, years: pd.Series, top: float) -> None:
        """The incomplete years shaded; the ranges around the years and up to ``top``."""
        incomplete = table.incomplete_years()
        shown = [*years.tolist(), *incomplete]
        set_range(self.figure.x_range, min(shown) - 0.5, max(shown) + 0.5)
        if self._fixed_y is None:
            set_range(self.figure.y_range, 0, top * 1.08 if top > 0 else 1)
        y_range = self.figure.y_range
        if incomplete:
            self.shaded.update(left=min(incomplete) - 0.5, right=max(incomplete) + 0.5,
                               bottom=y_range.start, top=y_range.end, visible=True)
        else:
            self.shaded.visible = False

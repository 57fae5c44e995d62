"""Charts drawn as Bokeh figures, and what they draw.

Every page's trends by year (shares, counts, durations) and its shares by category (bars
with their intervals) are Bokeh figures made directly.
Every page makes its figures once per session, at its first render, and a filter change
only replaces their data sources' columns and their ranges
(:class:`~dashboards.components.LiveChart`). HoloViews took about three times as long to make the
same figures (the largest part of opening a page) and a quarter of a second to redraw the
Vue d'ensemble's (docs/benchmarks.md, « A session's page »). The pages' own charts (the VAE
path, the blocks by version, the providers' funnel, the completion curve, the map) are
figures made in their page's module. HoloViews draws the PDF report's and notebooks' charts
(:func:`~dashboards.components.rate_trend_plot`), from the same data functions.

The figures show what the HoloViews charts show: a share with its 95 % interval as a band
(no band for a census), counts one line each, a hidden year as a gap in the line, the years
the data cut leaves incomplete shaded, hover texts in French figures. Their data comes from
:func:`rate_trend_data`, :func:`count_trend_data` and :func:`duration_trend_data`, which the
HoloViews charts use too.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from bokeh.models import (
    BasicTicker,
    ColumnDataSource,
    CustomJSTickFormatter,
    FactorRange,
    HoverTool,
    Range1d,
    Whisker,
)
from bokeh.plotting import figure

from cqp_metrics.api import IndicatorTable
from cqp_metrics.formatting import fr_int, fr_pct
from cqp_metrics.kinds import DAYS_PER_MONTH
from cqp_metrics.registry import BY_NAME, label

from .i18n import say

ACCENT = "#1f5f8b"

#: The lines of a count chart, in order, each 4.5:1 or more on white; the legend names them.
COUNT_COLOURS = (ACCENT, "#b35806", "#1b7837")
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


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


def _years_only(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """The rows of real years (no total row, no missing year); hidden values stay, as NaN."""
    real = frame[by].map(lambda v: not isinstance(v, str) and pd.notna(v)).astype(bool)
    return frame.loc[real]  # .loc: an empty mask selects no row (not every column)


def rate_trend_data(table: IndicatorTable, name: str, by: str = "year"
                    ) -> pd.DataFrame | None:
    """What a share's trend draws: by year, the share and its 95 % bounds in %, and their
    French texts; a hidden or undefined year stays in, as NaN, so that the line does not join
    across it. None when nothing can be drawn."""
    frame = _years_only(table.masked(), by)
    if frame[name].isna().all():
        return None
    return pd.DataFrame({by: frame[by].astype(int), **share_columns(frame, name)})


def count_trend_data(table: IndicatorTable, names: list[str]
                     ) -> dict[str, pd.DataFrame] | None:
    """What a count trend draws: for each name (hidden ones too, as NaN: a gap), the count by
    year and its French text. None when no count is shown."""
    frame = table.masked()
    if not frame[names].notna().any().any():
        return None
    return {n: pd.DataFrame({"year": frame["year"].astype(int), "effectif": frame[n],
                             "texte": frame[n].map(fr_int)}) for n in names}


def duration_trend_data(table: IndicatorTable, name: str) -> pd.DataFrame | None:
    """What a duration's trend draws: by year, the median in months and its French text; a
    hidden year stays in, as NaN. None when nothing can be drawn."""
    frame = _years_only(table.masked(), "year")
    if frame[name].isna().all():
        return None
    months = frame[name] / DAYS_PER_MONTH
    return pd.DataFrame({"year": frame["year"].astype(int), "mois": months,
                         "texte": months.map(lambda m: "" if pd.isna(m) else
                                             f"{m:.1f} mois".replace(".", ","))})


def category_text(value: object, labels: dict | None = None) -> str:
    """A category of a chart's axis or note, as people read it."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "non renseigné"
    return str((labels or {}).get(value, value))


def rate_bars_data(table: IndicatorTable, name: str, by: str, labels: dict | None = None
                   ) -> pd.DataFrame | None:
    """What a share by category draws: each shown category (in the table's order) with its
    share and 95 % bounds in %, and their French texts; hidden and undefined categories are
    left out (:func:`~dashboards.components.hidden_note_html` names them). None when none is
    shown."""
    frame = table.masked()
    frame = frame[frame[name].notna()]
    if frame.empty:
        return None
    seen: dict[str, int] = {}
    categories = []
    for value in frame[by]:  # the axis needs distinct names, whatever the labels make
        text = category_text(value, labels)
        seen[text] = seen.get(text, 0) + 1
        categories.append(text if seen[text] == 1 else f"{text} ({seen[text]})")
    return pd.DataFrame({"categorie": categories, **share_columns(frame, name)})


def columns_of(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """A frame's columns as a Bokeh data source takes them."""
    return {column: frame[column].to_numpy() for column in frame.columns}


def new_figure(title: str, height: int = 300, french: str = "y", **options) -> figure:
    """A chart's Bokeh figure as every page draws it: the page's width, the same tools
    (pan, zooms, reset, save; no scroll zoom that would catch the page's scrolling), no
    logo, French numbers on the axes named by ``french`` (``"x"``, ``"y"``, ``"xy"``; years
    keep Bokeh's own format). ``options``: ranges, axis labels…"""
    plot = figure(title=title, height=height, sizing_mode="stretch_width", tools=TOOLS,
                  active_drag="pan", active_scroll=None, toolbar_location="right", **options)
    plot.toolbar.logo = None
    for name in french:
        getattr(plot, f"{name}axis").formatter = fr_axis()
    return plot


def _set_range(axis: Range1d, start: float, end: float) -> None:
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
        self.figure.xgrid.grid_line_color = None
        self.shaded = ColumnDataSource({"x0": [], "x1": []})
        self.figure.vstrip(x0="x0", x1="x1", source=self.shaded, fill_color="#888888",
                           fill_alpha=0.15, line_alpha=0)

    def _frame(self, table: IndicatorTable, years: pd.Series, top: float) -> None:
        """The incomplete years shaded; the ranges around the years and up to ``top``."""
        incomplete = table.incomplete_years()
        self.shaded.data = {"x0": [y - 0.5 for y in incomplete],
                            "x1": [y + 0.5 for y in incomplete]}
        shown = [*years.tolist(), *incomplete]
        _set_range(self.figure.x_range, min(shown) - 0.5, max(shown) + 0.5)
        if self._fixed_y is None:
            _set_range(self.figure.y_range, 0, top * 1.08 if top > 0 else 1)



class RateTrendFigure(YearFigure):
    """A share over the years, in %, with its 95 % interval as a band (not for a census);
    a hidden year is a gap in the line."""

    def __init__(self, name: str, language: str = "fr") -> None:
        super().__init__(label(name, language), "%", language, y_range=(0, 100))
        self.name = name
        self.source = ColumnDataSource({c: [] for c in ("year", "taux", "bas", "haut",
                                                        "texte", "ic")})
        tips = [(label("year", language), "@year"), (label(name, language), "@texte")]
        if getattr(BY_NAME[name], "secret", True):
            self.figure.varea("year", "bas", "haut", source=self.source, fill_color=ACCENT,
                              fill_alpha=0.25)
            tips.append(("IC 95 %", "@ic"))
        self.figure.line("year", "taux", source=self.source, line_color=ACCENT, line_width=2)
        points = self.figure.scatter("year", "taux", source=self.source, size=7,
                                     color=ACCENT)
        self.figure.add_tools(HoverTool(renderers=[points], tooltips=tips))

    def update(self, table: IndicatorTable) -> bool:
        """Show ``table``'s share by year; False when there is nothing to draw."""
        data = rate_trend_data(table, self.name)
        if data is None:
            return False
        self.source.data = columns_of(data)
        self._frame(table, data["year"], 100)
        return True


class DurationTrendFigure(YearFigure):
    """A median duration by year, in months, from zero; a hidden year is a gap."""

    def __init__(self, name: str, language: str = "fr") -> None:
        super().__init__(f"{label(name, language)} {say('(en mois)', language)}",
                         say("mois", language), language)
        self.name = name
        self.source = ColumnDataSource({"year": [], "mois": [], "texte": []})
        self.figure.line("year", "mois", source=self.source, line_color=ACCENT, line_width=2)
        points = self.figure.scatter("year", "mois", source=self.source, size=7, color=ACCENT)
        self.figure.add_tools(HoverTool(renderers=[points], tooltips=[
            (label("year", language), "@year"), (label(name, language), "@texte")]))

    def update(self, table: IndicatorTable) -> bool:
        """Show ``table``'s durations by year; False when there is nothing to draw."""
        data = duration_trend_data(table, self.name)
        if data is None:
            return False
        self.source.data = columns_of(data)
        self._frame(table, data["year"], data["mois"].max())
        return True


class CountTrendFigure(YearFigure):
    """Counts by year, one line each, from zero; a hidden year is a gap in its line."""

    def __init__(self, names: list[str], language: str = "fr") -> None:
        super().__init__(say("Volumes par année", language), say("Effectif", language),
                         language)
        self.names = names
        self.sources: dict[str, ColumnDataSource] = {}
        for name, colour in zip(names, COUNT_COLOURS, strict=False):
            source = ColumnDataSource({"year": [], "effectif": [], "texte": []})
            legend = label(name, language)
            self.figure.line("year", "effectif", source=source, line_color=colour,
                             line_width=2, legend_label=legend)
            points = self.figure.scatter("year", "effectif", source=source, size=6,
                                         color=colour, legend_label=legend)
            self.figure.add_tools(HoverTool(renderers=[points], tooltips=[
                (label("year", language), "@year"), (legend, "@texte")]))
            self.sources[name] = source
        # above the lines, in one row: inside, it hid the first years' points
        legend = self.figure.legend[0]
        legend.update(orientation="horizontal", label_text_font_size="9pt", padding=2,
                      margin=0, border_line_alpha=0)
        self.figure.add_layout(legend, "above")

    def update(self, table: IndicatorTable) -> bool:
        """Show ``table``'s counts by year; False when none can be shown."""
        data = count_trend_data(table, self.names)
        if data is None:
            return False
        for name, source in self.sources.items():
            source.data = columns_of(data[name])
        counts = pd.concat([frame["effectif"] for frame in data.values()])
        top = counts.max()
        self._frame(table, next(iter(data.values()))["year"], 0 if pd.isna(top) else top)
        return True


class RateBarsFigure:
    """A share by category, in %, one bar each with its 95 % interval as whiskers; the
    categories' names are text (an axis label, a hover field), never markup; ``labels`` names
    the categories people read."""

    def __init__(self, name: str, by: str, language: str = "fr",
                 title: str | None = None, labels: dict | None = None) -> None:
        self.name, self.by, self.labels = name, by, labels
        self.figure = new_figure(
            title or f"{label(name, language)} {say('par', language)} "
                     f"{label(by, language).lower()}",
            x_range=FactorRange(), y_range=Range1d(0, 100), y_axis_label="%")
        self.figure.xgrid.grid_line_color = None
        self.source = ColumnDataSource({c: [] for c in ("categorie", "taux", "bas", "haut",
                                                        "texte", "ic")})
        bars = self.figure.vbar(x="categorie", top="taux", width=0.7, source=self.source,
                                fill_color=ACCENT, fill_alpha=0.8, line_color=ACCENT)
        self.figure.add_layout(Whisker(base="categorie", lower="bas", upper="haut",
                                       source=self.source, line_color="black"))
        self.figure.add_tools(HoverTool(renderers=[bars], tooltips=[
            (label(by, language), "@categorie"), (label(name, language), "@texte"),
            ("IC 95 %", "@ic")]))

    def update(self, table: IndicatorTable) -> bool:
        """Show ``table``'s shares by category (named through the figure's ``labels``);
        False when none is shown."""
        data = rate_bars_data(table, self.name, self.by, self.labels)
        if data is None:
            return False
        self.source.data = columns_of(data)
        self.figure.x_range.factors = list(data["categorie"])
        self.figure.xaxis.major_label_orientation = math.pi / 6 if len(data) > 6 else 0
        return True


class StepBarsFigure:
    """Counts by step as horizontal bars, the first step on top (a funnel); a step under
    secret has no bar, its label says « secret »."""

    def __init__(self, title: str, step_label: str, count_label: str) -> None:
        self.figure = new_figure(title, french="x", y_range=FactorRange(),
                                 x_range=Range1d(0, 1), x_axis_label=count_label)
        self.figure.ygrid.grid_line_color = None
        self.source = ColumnDataSource({"étape": [], "effectif": [], "texte": []})
        bars = self.figure.hbar(y="étape", right="effectif", height=0.8, source=self.source,
                                fill_color=ACCENT, line_color=ACCENT)
        self.figure.add_tools(HoverTool(renderers=[bars], tooltips=[
            (step_label, "@{étape}"), (count_label, "@texte")]))

    def update(self, steps: pd.DataFrame) -> None:
        """Show ``steps`` (columns ``étape``, ``effectif``, ``texte``; last step first)."""
        self.source.data = columns_of(steps)
        self.figure.y_range.factors = list(steps["étape"])
        top = steps["effectif"].max()
        _set_range(self.figure.x_range, 0, top * 1.08 if top > 0 else 1)

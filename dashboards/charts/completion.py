"""The Kaplan–Meier completion curve of partial validations, as steps."""

from __future__ import annotations

import pandas as pd
from bokeh.models import (
    ColumnDataSource,
    HoverTool,
    Range1d,
)
from bokeh.palettes import Category10
from bokeh.plotting import figure

from cqp_metrics.formatting import fr_pct

from ..i18n import say
from .base import (
    ACCENT,
    columns_of,
    new_figure,
)


def _steps(frame: pd.DataFrame, x: str) -> pd.DataFrame:
    """A step function as a polyline: each value holds until the next x."""
    before = frame.shift(1).iloc[1:].assign(**{x: frame[x].iloc[1:].to_numpy()})
    both = pd.concat([frame.assign(_o=1), before.assign(_o=0)]).sort_values([x, "_o"],
                                                                             kind="stable")
    return both.drop(columns="_o").reset_index(drop=True)


class CompletionFigure:
    """The Kaplan–Meier completion curve as steps: all cohorts with their 95 % band, or one
    line per cohort year; made once, each curve redraws it (a cohort's line is added the
    first time that many cohorts are drawn)."""

    def __init__(self, language: str = "fr") -> None:
        self.language = language
        self.figure = plot = new_figure(
            say("Complétion (Kaplan–Meier, IC 95 %)", language), height=340, french="xy",
            x_range=Range1d(0, 24), y_range=Range1d(0, 100),
            x_axis_label=say("mois depuis la première validation partielle", language),
            y_axis_label=say("% complétées", language))
        self.all = ColumnDataSource({c: [] for c in ("months", "pct", "bas", "haut", "texte",
                                                     "mois")})
        self._band = plot.varea("months", "bas", "haut", source=self.all, fill_color=ACCENT,
                                fill_alpha=0.2)
        self._all_line = plot.line("months", "pct", source=self.all, line_color=ACCENT,
                                   line_width=2)
        self._hover = HoverTool(renderers=[self._all_line], tooltips=[
            (say("Mois", language), "@mois"), (say("Complétées", language), "@texte")])
        plot.add_tools(self._hover)
        self.cohorts: list = []  # (source, line, legend item), one per cohort drawn so far

    def _cohort(self, i: int) -> tuple:
        """The ``i``-th cohort's line, made when first needed."""
        while len(self.cohorts) <= i:
            k = len(self.cohorts)
            source = ColumnDataSource({c: [] for c in ("months", "pct", "texte", "mois")})
            line = self.figure.line("months", "pct", source=source, line_width=2,
                                    line_color=Category10[10][k % 10],
                                    legend_label=f"{k}")  # named at each update
            legend = self.figure.legend[0]
            legend.location = "bottom_right"
            item = next(i for i in legend.items if line in i.renderers)
            self._hover.renderers = [*self._hover.renderers, line]
            self.cohorts.append((source, line, item))
        return self.cohorts[i]

    def update(self, curve: pd.DataFrame, by_year: bool) -> bool:
        """Draw ``curve`` (one line per cohort ``by_year``); False when it is empty."""
        if curve.empty:
            return False
        groups = list(curve.groupby("year")) if by_year else []
        self._band.visible = self._all_line.visible = not by_year
        if not by_year:
            self.all.data = _step_columns(curve)
        for i, (year, group) in enumerate(groups):
            source, line, item = self._cohort(i)
            source.data = _step_columns(group, band=False)
            item.label = {"value": f"{say('cohorte', self.language)} {year}"}
        for i, (_, line, item) in enumerate(self.cohorts):
            line.visible = item.visible = i < len(groups)
        if self.cohorts:
            self.figure.legend[0].visible = by_year
        return True


def month_text(months: float) -> str:
    """A curve's month in French (``1,5``, ``12``)."""
    return f"{months:g}".replace(".", ",")


def _step_columns(curve: pd.DataFrame, band: bool = True) -> dict:
    """A curve's columns as its line draws them: steps in %, French texts."""
    data = _steps(curve.assign(pct=curve["completion"] * 100, bas=curve["low"] * 100,
                               haut=curve["high"] * 100)[["months", "pct", "bas", "haut"]],
                  "months")
    data["texte"] = (data["pct"] / 100).map(fr_pct)
    data["mois"] = data["months"].map(month_text)
    return columns_of(data if band else data.drop(columns=["bas", "haut"]))


def completion_figure(curve: pd.DataFrame, by_year: bool, language: str = "fr") -> figure:
    """:class:`CompletionFigure` drawing ``curve`` once (its Bokeh figure)."""
    drawn = CompletionFigure(language)
    drawn.update(curve, by_year)
    return drawn.figure

"""Validation partielle: its rate, its completion under censoring (Kaplan–Meier), the blocks
missed."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.palettes import Category10
from bokeh.plotting import figure

from cqp_metrics.formatting import fr_pct
from cqp_metrics.registry import BY_NAME, label

from ..components import (
    ACCENT,
    LiveChart,
    bars_chart,
    data_details_html,
    details_pane,
    in_words,
    info_html,
    no_data,
    secret_legend,
    secret_legend_text,
)
from ..figures import RateTrendFigure, columns_of, new_figure
from ..i18n import say
from .base import Page

KM = ("partial_completion_12m_km", "partial_completion_24m_km")


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


def _months_text(months: float) -> str:
    """A curve's month in French (``1,5``, ``12``)."""
    return f"{months:g}".replace(".", ",")


def _step_columns(curve: pd.DataFrame, band: bool = True) -> dict:
    """A curve's columns as its line draws them: steps in %, French texts."""
    data = _steps(curve.assign(pct=curve["completion"] * 100, bas=curve["low"] * 100,
                               haut=curve["high"] * 100)[["months", "pct", "bas", "haut"]],
                  "months")
    data["texte"] = (data["pct"] / 100).map(fr_pct)
    data["mois"] = data["months"].map(_months_text)
    return columns_of(data if band else data.drop(columns=["bas", "haut"]))


def completion_figure(curve: pd.DataFrame, by_year: bool, language: str = "fr") -> figure:
    """:class:`CompletionFigure` drawing ``curve`` once (its Bokeh figure)."""
    drawn = CompletionFigure(language)
    drawn.update(curve, by_year)
    return drawn.figure


def curve_data_html(curve: pd.DataFrame, by_year: bool, language: str = "fr") -> str:
    """The completion curve's points as a table (month, estimate, interval)."""
    columns = {"months": "Mois", "completion": "Complétées", "low": "Borne basse",
               "high": "Borne haute"}
    if by_year:
        columns = {"year": "Cohorte", **columns}
    frame = curve[[c for c in columns if c in curve]].rename(columns=columns)
    for column in ("Complétées", "Borne basse", "Borne haute"):
        if column in frame:
            frame[column] = frame[column].map(fr_pct)
    if "Mois" in frame:
        frame["Mois"] = frame["Mois"].map(_months_text)
    return data_details_html(in_words(frame, language), say("courbe de complétion", language),
                             language)


#: How to read the completion estimates (under the curve).
KM_READING = ("Les candidats entrés récemment en validation partielle n'ont pas encore eu le "
              "temps de la compléter : l'estimateur de Kaplan–Meier tient compte de ce temps "
              "d'observation, ce sont ses chiffres qu'on compare d'une année à l'autre.")


class PartialPage(Page):
    """Made once per session; a filter change redraws its charts in place."""

    title_fr, title_en, slug = "Validation partielle", "Partial validation", "partial"
    live = True

    by_cohort = param.Boolean(default=False, doc="One completion curve per cohort year.")
    url_parameters = ("by_cohort",)

    def _make(self) -> None:
        language = self.language
        self._rate = LiveChart(RateTrendFigure("partial_rate", language), ["partial_rate"],
                               language)
        self._km = LiveChart(RateTrendFigure(KM[0], language), [KM[0]], language)
        self._summary = pn.pane.Markdown()
        self._about = pn.pane.HTML(margin=(0, 5), css_classes=["info-pane"])
        self._curve = CompletionFigure(language)
        self._curve_pane = pn.pane.Bokeh(self._curve.figure, sizing_mode="stretch_width")
        self._no_curve = no_data(say("courbe de complétion", language), language)
        self._curve_data = details_pane()
        self._missed = bars_chart(
            "block_pass_rate", "block_code", language,
            title=say("Les blocs les moins acquis (taux d'acquisition, IC 95 %)", language))
        self._legend = secret_legend(None, language)
        reading = pn.pane.Markdown(f"<small>{say(KM_READING, language)}</small>",
                                   css_classes=["km-note"])
        self._shown = pn.Column(
            pn.Row(self._rate, self._km, sizing_mode="stretch_width"),
            pn.Row(pn.Column(pn.Row(self._summary, self._about), self._curve_pane,
                             self._no_curve, reading, self._curve_data,
                             sizing_mode="stretch_width", css_classes=["km-curve"]),
                   self._missed, sizing_mode="stretch_width"),
            self._legend, sizing_mode="stretch_width")

    def controls(self) -> list:
        return [pn.widgets.Toggle.from_param(self.param.by_cohort, name=say(
                                                 "Une courbe par année de cohorte", self.language),
                                             button_type="primary", button_style="outline",
                                             width=260)]

    def refs(self) -> list:
        return [*super().refs(), self.param.by_cohort]

    def draw(self, where: dict, years: tuple) -> pn.viewable.Viewable:
        language = self.language
        ask = self.source.request
        tables = self.source.answers({
            "by_year": ask(by=("year",), where=where, years=years, names=["partial_rate", *KM]),
            "overall": ask(where=where, years=years, names=list(KM)),
            "blocks": ask(by=("block_code",), where=where, years=years)})
        by_year, blocks = tables["by_year"], tables["blocks"]
        if by_year.values.empty:
            return no_data(language=language)
        overall = tables["overall"].published()
        unknown = say("non estimable", language)
        curve = self.source.completion_curve(where=where, years=years, by_year=self.by_cohort)
        shown = blocks.masked().dropna(subset=["block_pass_rate"]).sort_values(
            "block_pass_rate").head(12)
        self._rate.show(by_year)
        self._km.show(by_year)
        self._summary.object = "  \n".join(
            f"{label(n, language)} : **{BY_NAME[n].text(overall[n].iloc[0]) or unknown}**"
            for n in KM)
        self._about.object = info_html(list(KM), by_year, language=language)
        drawn = self._curve.update(curve, self.by_cohort)
        self._curve_pane.visible, self._no_curve.visible = drawn, not drawn
        self._curve_data.object = curve_data_html(curve, self.by_cohort, language)
        self._missed.show(blocks.__class__(blocks.query, shown,
                                           blocks.hidden.loc[shown.index], blocks.rule))
        self._legend.object = secret_legend_text(by_year.rule, language)
        return self._shown

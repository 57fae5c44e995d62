"""Validation partielle: its rate, its completion under censoring (Kaplan–Meier), the blocks
missed."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from cqp_metrics.formatting import fr_pct
from cqp_metrics.registry import BY_NAME, label

from .. import asks
from ..charts.completion import CompletionFigure, month_text
from ..charts.rate_trend import RateTrendFigure
from ..components import (
    LiveChart,
    LiveHTML,
    LiveMarkdown,
    bars_chart,
    data_details_html,
    details_pane,
    in_words,
    info_html,
    no_data,
    secret_legend,
    secret_legend_text,
)
from ..i18n import say
from .base import Page


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
        frame["Mois"] = frame["Mois"].map(month_text)
    return data_details_html(in_words(frame, language), say("courbe de complétion", language),
                             language)


#: How to read the completion estimates (under the curve).
KM_READING = ("Les candidats entrés récemment en validation partielle n'ont pas encore eu le "
              "temps de la compléter : l'estimateur de Kaplan–Meier tient compte de ce temps "
              "d'observation, ce sont ses chiffres qu'on compare d'une année à l'autre.")


class PartialPage(Page):
    """Made once per session; a filter change redraws its charts in place."""

    title_fr, title_en, slug = "Validation partielle", "Partial validation", "partial"

    by_cohort = param.Boolean(default=False, doc="One completion curve per cohort year.")
    url_parameters = ("by_cohort",)

    def _make(self) -> None:
        language = self.language
        self._rate = LiveChart(RateTrendFigure("partial_rate", language), ["partial_rate"],
                               language)
        self._km = LiveChart(RateTrendFigure(asks.KM[0], language), [asks.KM[0]], language)
        self._summary = LiveMarkdown()
        self._about = LiveHTML(margin=(0, 5), css_classes=["info-pane"])
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
                                             color="primary", variant="outline",
                                             width=260)]

    def refs(self) -> list:
        return [*super().refs(), self.param.by_cohort]

    def requests(self, where: dict, years: tuple) -> dict:
        return asks.partial(self.source.request, where, years)

    def beside(self, where: dict, years: tuple) -> dict:
        by_year = self.by_cohort
        return {"curve": lambda: self.source.completion_curve(where=where, years=years,
                                                             by_year=by_year)}

    def draw(self, tables: dict, where: dict, years: tuple) -> pn.viewable.Viewable:
        language = self.language
        by_year, blocks = tables["by_year"], tables["blocks"]
        if by_year.values.empty:
            return no_data(language=language)
        overall = tables["overall"].published()
        unknown = say("non estimable", language)
        curve = tables["curve"]
        shown = blocks.masked().dropna(subset=["block_pass_rate"]).sort_values(
            "block_pass_rate").head(12)
        self._rate.show(by_year)
        self._km.show(by_year)
        self._summary.object = "  \n".join(
            f"{label(n, language)} : **{BY_NAME[n].text(overall[n].iloc[0]) or unknown}**"
            for n in asks.KM)
        self._about.object = info_html(list(asks.KM), by_year, language=language)
        drawn = self._curve.update(curve, self.by_cohort)
        self._curve_pane.visible, self._no_curve.visible = drawn, not drawn
        self._curve_data.object = curve_data_html(curve, self.by_cohort, language)
        self._missed.show(blocks.__class__(blocks.query, shown,
                                           blocks.hidden.loc[shown.index], blocks.rule))
        self._legend.object = secret_legend_text(by_year.rule, language)
        return self._shown

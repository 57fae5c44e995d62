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
    data_details,
    in_words,
    info,
    no_data,
    rate_bars,
    rate_trend,
    secret_legend,
)
from ..figures import columns_of, new_figure
from ..i18n import say
from .base import Page

KM = ("partial_completion_12m_km", "partial_completion_24m_km")


def _steps(frame: pd.DataFrame, x: str) -> pd.DataFrame:
    """A step function as a polyline: each value holds until the next x."""
    before = frame.shift(1).iloc[1:].assign(**{x: frame[x].iloc[1:].to_numpy()})
    both = pd.concat([frame.assign(_o=1), before.assign(_o=0)]).sort_values([x, "_o"],
                                                                             kind="stable")
    return both.drop(columns="_o").reset_index(drop=True)


def completion_figure(curve: pd.DataFrame, by_year: bool, language: str = "fr") -> figure:
    """The Kaplan–Meier completion curve (steps, with its 95 % band for all cohorts), one
    line per cohort year with ``by_year``; a Bokeh figure made directly."""
    plot = new_figure(say("Complétion (Kaplan–Meier, IC 95 %)", language), height=340,
                      french="xy", x_range=Range1d(0, 24), y_range=Range1d(0, 100),
                      x_axis_label=say("mois depuis la première validation partielle",
                                       language),
                      y_axis_label=say("% complétées", language))
    groups = list(curve.groupby("year")) if by_year else [(None, curve)]
    lines = []
    for i, (year, group) in enumerate(groups):
        data = _steps(group.assign(pct=group["completion"] * 100, bas=group["low"] * 100,
                                   haut=group["high"] * 100)[["months", "pct", "bas", "haut"]],
                      "months")
        data["texte"] = (data["pct"] / 100).map(fr_pct)
        data["mois"] = data["months"].map(lambda m: f"{m:g}".replace(".", ","))
        source = ColumnDataSource(columns_of(data))
        colour = ACCENT if year is None else Category10[10][i % 10]
        name = (f"{say('cohorte', language)} {year}" if year is not None
                else say("toutes cohortes", language))
        if year is None:
            plot.varea("months", "bas", "haut", source=source, fill_color=ACCENT,
                       fill_alpha=0.2)
        lines.append(plot.line("months", "pct", source=source, line_color=colour,
                               line_width=2, **({"legend_label": name} if by_year else {})))
    plot.add_tools(HoverTool(renderers=lines, tooltips=[
        (say("Mois", language), "@mois"), (say("Complétées", language), "@texte")]))
    if by_year:
        plot.legend.location = "bottom_right"
    return plot


def curve_data(curve: pd.DataFrame, by_year: bool, language: str = "fr") -> pn.pane.HTML:
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
        frame["Mois"] = frame["Mois"].map(lambda m: f"{m:g}".replace(".", ","))
    return data_details(in_words(frame, language), say("courbe de complétion", language),
                        language)


#: How to read the completion estimates (under the curve).
KM_READING = ("Les candidats entrés récemment en validation partielle n'ont pas encore eu le "
              "temps de la compléter : l'estimateur de Kaplan–Meier tient compte de ce temps "
              "d'observation, ce sont ses chiffres qu'on compare d'une année à l'autre.")


class PartialPage(Page):
    title_fr, title_en, slug = "Validation partielle", "Partial validation", "partial"

    by_cohort = param.Boolean(default=False, doc="One completion curve per cohort year.")
    url_parameters = ("by_cohort",)

    def controls(self) -> list:
        return [pn.widgets.Toggle.from_param(self.param.by_cohort, name=say(
                                                 "Une courbe par année de cohorte", self.language),
                                             button_type="primary", button_style="outline",
                                             width=260)]

    def refs(self) -> list:
        return [*super().refs(), self.param.by_cohort]

    def render(self, where: dict, years: tuple) -> pn.viewable.Viewable:
        ask = self.source.request
        tables = self.source.answers({
            "by_year": ask(by=("year",), where=where, years=years, names=["partial_rate", *KM]),
            "overall": ask(where=where, years=years, names=list(KM)),
            "blocks": ask(by=("block_code",), where=where, years=years)})
        by_year, blocks = tables["by_year"], tables["blocks"]
        if by_year.values.empty:
            return no_data(language=self.language)
        overall = tables["overall"].published()
        unknown = say("non estimable", self.language)
        summary = "  \n".join(
            f"{label(n, self.language)} : **{BY_NAME[n].text(overall[n].iloc[0]) or unknown}**"
            for n in KM)
        curve = self.source.completion_curve(where=where, years=years, by_year=self.by_cohort)
        shown = blocks.masked().dropna(subset=["block_pass_rate"]).sort_values(
            "block_pass_rate").head(12)
        if shown.empty:
            missed = no_data(say("blocs", self.language), self.language)
        else:
            subset = blocks.__class__(blocks.query, shown, blocks.hidden.loc[shown.index],
                                      blocks.rule)
            missed = rate_bars(subset, "block_pass_rate", "block_code", self.language,
                               title=say("Les blocs les moins acquis (taux d'acquisition, IC 95 %)",
                                         self.language))
        reading = pn.pane.Markdown(f"<small>{say(KM_READING, self.language)}</small>",
                                   css_classes=["km-note"])
        return pn.Column(
            pn.Row(rate_trend(by_year, "partial_rate", language=self.language),
                   rate_trend(by_year, "partial_completion_12m_km", language=self.language),
                   sizing_mode="stretch_width"),
            pn.Row(pn.Column(pn.Row(pn.pane.Markdown(summary),
                                    info(list(KM), by_year, language=self.language)),
                             pn.pane.Bokeh(completion_figure(curve, self.by_cohort,
                                                             self.language),
                                           sizing_mode="stretch_width") if len(curve) else
                             no_data(say("courbe de complétion", self.language),
                                     self.language),
                             reading, curve_data(curve, self.by_cohort, self.language),
                             sizing_mode="stretch_width", css_classes=["km-curve"]),
                   missed, sizing_mode="stretch_width"),
            secret_legend(by_year, self.language), sizing_mode="stretch_width")

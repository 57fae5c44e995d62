"""Validation partielle: its rate, its completion and the time it takes, the blocks missed."""

from __future__ import annotations

import holoviews as hv
import pandas as pd
import panel as pn

from cqp_metrics.formatting import fr_pct

from ..components import ACCENT, no_data, rate_bars, rate_trend, secret_legend
from .base import Page


class PartialPage(Page):
    title_fr, title_en, slug = "Validation partielle", "Partial validation", "partial"

    def render(self, where: dict, years: tuple) -> pn.viewable.Viewable:
        by_year = self.source.table(by=("year",), where=where, years=years,
                                    names=["partial_rate", "partial_completion_rate"])
        if by_year.values.empty:
            return no_data()
        delays = self.source.table(where=where, years=years, names=[
            "partial_completion_6m_rate", "partial_completion_12m_rate",
            "partial_completion_24m_rate", "partial_completion_rate"])
        row = delays.masked().iloc[0]
        curve = pd.DataFrame({"mois": [6, 12, 24], "taux": [
            row[f"partial_completion_{m}m_rate"] * 100 for m in (6, 12, 24)]}).dropna()
        delay_plot = (hv.Curve(curve, "mois", "taux") * hv.Scatter(curve, "mois", "taux").opts(
            size=8, color=ACCENT, tools=["hover"])).opts(
            title="Complétion selon le délai depuis la première validation partielle",
            xlabel="mois après la validation partielle", ylabel="% complétées", ylim=(0, 100),
            height=300, responsive=True, shared_axes=False) \
            if not curve.empty else no_data("délais")
        blocks = self.source.table(by=("block_code",), where=where, years=years)
        shown = blocks.masked().dropna(subset=["block_pass_rate"]).sort_values(
            "block_pass_rate").head(12)
        if shown.empty:
            missed = no_data("blocs")
        else:
            subset = blocks.__class__(blocks.query, shown, blocks.hidden.loc[shown.index],
                                      blocks.rule)
            missed = rate_bars(subset, "block_pass_rate", "block_code", self.language)
            missed.opts(title="Les blocs les moins acquis (taux d'acquisition, IC 95 %)")
        summary = pn.pane.Markdown(
            f"Taux de complétion (toutes durées) : **{fr_pct(row['partial_completion_rate'])}"
            "**" if pd.notna(row["partial_completion_rate"]) else "Taux de complétion : secret")
        return pn.Column(
            pn.Row(rate_trend(by_year, "partial_rate", language=self.language),
                   rate_trend(by_year, "partial_completion_rate", language=self.language),
                   sizing_mode="stretch_width"),
            pn.Row(pn.Column(summary, delay_plot, sizing_mode="stretch_width"), missed,
                   sizing_mode="stretch_width"),
            secret_legend(by_year), sizing_mode="stretch_width")

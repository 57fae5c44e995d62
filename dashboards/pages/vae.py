"""VAE: the funnel from application to decision, success by year, status and age."""

from __future__ import annotations

import holoviews as hv
import pandas as pd
import panel as pn

from cqp_metrics.formatting import fr_int

from ..components import (
    ACCENT,
    duration_trend,
    explained,
    no_data,
    rate_bars,
    rate_trend,
    secret_legend,
)
from ..filters import LABELS
from .base import Page

FUNNEL = (("enrolments", "Entrées en VAE"), ("vae_admissible", "Recevables"),
          ("juries", "Présentés au jury"), ("full", "Validations totales"),
          ("partial", "Validations partielles"), ("refused", "Refus"),
          ("withdrawals", "Abandons sans jury"))


class VaePage(Page):
    title_fr, title_en, slug = "VAE", "VAE", "vae"

    def render(self, where: dict, years: tuple) -> pn.viewable.Viewable:
        vae = {**where, "pathway": ["vae"]}
        if where.get("pathway") and "vae" not in where["pathway"]:
            return no_data("la voie VAE n'est pas sélectionnée")
        total = self.source.table(names=[n for n, _ in FUNNEL], where=vae, years=years)
        published = total.published().iloc[0]
        steps = pd.DataFrame({"étape": [t for _, t in FUNNEL],
                              "effectif": [published[n] for n, _ in FUNNEL]})
        numeric = pd.to_numeric(steps["effectif"], errors="coerce")
        if numeric.fillna(0).eq(0).all():
            return no_data("VAE")
        # the count goes into the step's label (text labels on inverted bars break Bokeh)
        steps["étape"] = [f"{step} ({fr_int(count) or count})" for step, count in zip(
            steps["étape"], steps["effectif"], strict=True)]
        funnel = hv.Bars(steps.assign(effectif=numeric), "étape", "effectif").opts(
            color=ACCENT, invert_axes=True, height=320, responsive=True, tools=["hover"],
            title="Parcours VAE : de la candidature à la décision", xlabel="", ylabel="Effectif",
            shared_axes=False)
        by_year = self.source.table(names=["vae_success_rate"], by=("year",), where=vae,
                                    years=years)
        by_status = self.source.table(names=["vae_success_rate"], by=("status",), where=vae,
                                      years=years)
        by_age = self.source.table(names=["vae_success_rate"], by=("age_band",), where=vae,
                                   years=years)
        durations = self.source.table(names=["days_to_first_jury_median"], by=("year",),
                                      where=vae, years=years)
        return pn.Column(
            pn.Row(explained(pn.pane.HoloViews(funnel, sizing_mode="stretch_width"),
                             [n for n, _ in FUNNEL], total, "parcours VAE"),
                   rate_trend(by_year, "vae_success_rate", language=self.language),
                   sizing_mode="stretch_width"),
            pn.Row(rate_bars(by_status, "vae_success_rate", "status", self.language,
                             LABELS["status"]),
                   rate_bars(by_age, "vae_success_rate", "age_band", self.language),
                   sizing_mode="stretch_width"),
            pn.Row(duration_trend(durations, "days_to_first_jury_median", self.language),
                   sizing_mode="stretch_width"),
            secret_legend(total), sizing_mode="stretch_width")

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
    fr_axis,
    hover,
    no_data,
    rate_bars,
    rate_trend,
    secret_legend,
)
from ..figures import StepBarsFigure
from ..filters import LABELS
from ..i18n import say
from .base import Page

#: The VAE path of the candidacies entered in the period (a cohort): each step a subset of
#: the one before, reached at any date up to the data cut.
FUNNEL = (("vae_enrolments", "Entrées en VAE"), ("vae_admissible", "Recevables"),
          ("vae_cohort_juried", "Présentés au jury"), ("vae_cohort_full", "Certifiés"))


def funnel_steps(table, language: str = "fr") -> pd.DataFrame | None:
    """The cohort's VAE path, last step first (a chart's bottom): each step's label with its
    count, the count (NaN under secret) and its French text (« secret » under secret). None
    when the cohort is empty."""
    published = table.published().iloc[0]
    counts = [published[n] for n, _ in FUNNEL]
    numeric = pd.to_numeric(pd.Series(counts), errors="coerce")
    if numeric.fillna(0).eq(0).all() and not any(isinstance(c, str) for c in counts):
        return None  # nobody: « aucune donnée »; a cohort under secret is still drawn
    # the count goes into the step's label (text labels on inverted bars break Bokeh)
    return pd.DataFrame({"étape": [f"{say(step, language)} ({fr_int(count) or count})"
                                   for (_, step), count in zip(FUNNEL, counts, strict=True)],
                         "effectif": numeric,
                         "texte": [fr_int(c) or str(c) for c in counts]})[::-1]


def funnel_plot(table, title: str, language: str = "fr") -> hv.Bars | None:
    """The cohort's VAE path as horizontal bars, first step on top (HoloViews: the report);
    a step under secret reads « secret » and draws no bar. None when the cohort is empty."""
    steps = funnel_steps(table, language)
    if steps is None:
        return None
    return hv.Bars(steps, "étape", ["effectif", "texte"]).opts(
        color=ACCENT, invert_axes=True, height=300, responsive=True,
        **hover((say("Étape", language), "étape"), (say("Candidatures", language), "texte")),
        title=title, xlabel="", ylabel=say("Candidatures", language), shared_axes=False,
        xformatter=fr_axis())  # inverted axes: the counts are on x


class VaePage(Page):
    title_fr, title_en, slug = "VAE", "VAE", "vae"

    def render(self, where: dict, years: tuple) -> pn.viewable.Viewable:
        vae = {**where, "pathway": ["vae"]}
        if where.get("pathway") and "vae" not in where["pathway"]:
            return no_data(say("la voie VAE n'est pas sélectionnée", self.language),
                           self.language)
        ask = self.source.request
        tables = self.source.answers({
            "total": ask(names=[n for n, _ in FUNNEL], where=vae, years=years),
            "by_year": ask(names=["vae_success_rate"], by=("year",), where=vae, years=years),
            "by_status": ask(names=["vae_success_rate"], by=("status",), where=vae,
                             years=years),
            "by_age": ask(names=["vae_success_rate"], by=("age_band",), where=vae,
                          years=years),
            "durations": ask(names=["days_to_first_jury_median"], by=("year",), where=vae,
                             years=years)})
        total, by_year, by_status, by_age, durations = (tables[k] for k in (
            "total", "by_year", "by_status", "by_age", "durations"))
        steps = funnel_steps(total, self.language)
        if steps is None:
            return no_data(say("VAE", self.language), self.language)
        funnel = StepBarsFigure(say("Parcours VAE des entrées de la période", self.language),
                                say("Étape", self.language), say("Candidatures", self.language))
        funnel.update(steps)
        return pn.Column(
            pn.Row(explained(pn.pane.Bokeh(funnel.figure, sizing_mode="stretch_width"),
                             [n for n, _ in FUNNEL], total, say("parcours VAE", self.language),
                             self.language),
                   rate_trend(by_year, "vae_success_rate", language=self.language),
                   sizing_mode="stretch_width"),
            pn.Row(rate_bars(by_status, "vae_success_rate", "status", self.language,
                             LABELS["status"]),
                   rate_bars(by_age, "vae_success_rate", "age_band", self.language),
                   sizing_mode="stretch_width"),
            pn.Row(duration_trend(durations, "days_to_first_jury_median", self.language),
                   sizing_mode="stretch_width"),
            secret_legend(total, self.language), sizing_mode="stretch_width")

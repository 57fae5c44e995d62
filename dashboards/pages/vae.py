"""VAE: the funnel from application to decision, success by year, status and age."""

from __future__ import annotations

import panel as pn

from .. import asks
from ..charts.duration_trend import DurationTrendFigure
from ..charts.rate_trend import RateTrendFigure
from ..charts.vae_path import FUNNEL, PathFigure
from ..components import LiveChart, bars_chart, no_data, secret_legend, secret_legend_text
from ..filters import LABELS
from ..i18n import say
from .base import Page

#: Why the path and the success rate differ: they do not count the same candidacies.
PATH_AND_RATE = ("Le parcours suit les candidatures entrées en VAE dans la période (une "
                 "cohorte : chaque étape est comptée quelle que soit sa date, jusqu'à la date "
                 "d'arrêt des données ; les entrées récentes n'ont pas encore eu le temps "
                 "d'aller au jury). Le taux de réussite rapporte les validations totales aux "
                 "décisions de jury prononcées dans la période, quelle que soit l'année "
                 "d'entrée. Les deux ne portent donc pas sur les mêmes candidats : « Certifiés "
                 "» / « Présentés au jury » du parcours n'est pas le taux de réussite de la "
                 "période.")


class VaePage(Page):
    """Made once per session; a filter change redraws its charts in place."""

    title_fr, title_en, slug = "VAE", "VAE", "vae"

    def _make(self) -> None:
        language = self.language
        self._path = LiveChart(PathFigure(language), [n for n, _ in FUNNEL], language,
                               by=None, subject=say("parcours VAE", language))
        self._by_year = LiveChart(RateTrendFigure("vae_success_rate", language),
                                  ["vae_success_rate"], language)
        self._by_status = bars_chart("vae_success_rate", "status", language, LABELS["status"])
        self._by_age = bars_chart("vae_success_rate", "age_band", language)
        self._durations = LiveChart(DurationTrendFigure("days_to_first_jury_median", language),
                                    ["days_to_first_jury_median"], language)
        self._legend = secret_legend(None, language)
        reading = pn.pane.Markdown(f"<small>{say(PATH_AND_RATE, language)}</small>",
                                   css_classes=["vae-path-note"], sizing_mode="stretch_width")
        self._shown = pn.Column(
            pn.Row(self._path, self._by_year, sizing_mode="stretch_width"), reading,
            pn.Row(self._by_status, self._by_age, sizing_mode="stretch_width"),
            pn.Row(self._durations, sizing_mode="stretch_width"),
            self._legend, sizing_mode="stretch_width")

    def requests(self, where: dict, years: tuple) -> dict:
        return asks.vae(self.source.request, where, years)

    def draw(self, tables: dict, where: dict, years: tuple) -> pn.viewable.Viewable:
        if not tables:
            return no_data(say("la voie VAE n'est pas sélectionnée", self.language),
                           self.language)
        if not self._path.show(tables["total"]):  # nobody entered VAE
            return no_data(say("VAE", self.language), self.language)
        for key in ("by_year", "by_status", "by_age", "durations"):
            getattr(self, f"_{key}").show(tables[key])
        self._legend.object = secret_legend_text(tables["total"].rule, self.language)
        return self._shown

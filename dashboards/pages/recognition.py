"""Reconnaissance: certificates carrying national recognition, the catalogue by register,
registrations that end within 12 and 24 months."""

from __future__ import annotations

import html

import pandas as pd
import panel as pn

from cqp_metrics.catalogue import ending_within, lapsed, matching
from cqp_metrics.formatting import months_text, registration_state

from .. import asks
from ..charts.rate_trend import RateTrendFigure
from ..charts.registers import RegisterFigure
from ..components import (
    TABLE_CSS,
    LiveChart,
    LiveHTML,
    data_table_html,
    in_words,
    no_data_html,
    secret_legend,
    secret_legend_text,
)
from ..i18n import say
from .base import Page

COLUMNS = {"cqp_code": "CQP", "title": "Intitulé", "branch_codes": "Branches",
           "recognition": "Reconnaissance", "rncp_code": "Code", "valid_until": "Fin",
           "months_left": "Mois restants"}


ENDING = "Enregistrements qui prennent fin d'ici {months} mois"
LAPSED = "Enregistrements expirés, non renouvelés"
ADMINISTRATORS_ONLY = ("La liste nomme les CQP de toutes les branches : elle est réservée aux "
                       "administrateurs.")
NOT_IMPORTED = "Catalogue national non importé (« cqp-metrics import-certifinfo »)."


def _day(value) -> str:
    return "" if value is None or pd.isna(value) else f"{value:%d/%m/%Y}"


def _listed(frame: pd.DataFrame, caption: str, nothing: str, css: str,
            language: str) -> str:
    """A table of CQPs in words, or the status box saying ``nothing`` when it is empty."""
    if len(frame):
        return data_table_html(in_words(frame, language), caption, [css])
    return no_data_html(nothing, language)


class RecognitionPage(Page):
    """Made once per session; a filter change redraws its charts and lists in place."""

    title_fr, title_en, slug = "Reconnaissance", "Recognition", "recognition"

    def _make(self) -> None:
        language = self.language
        self._rates = {name: LiveChart(RateTrendFigure(name, language), [name], language)
                       for name in ("recognition_rate", "rncp_coverage")}
        self._registers = RegisterFigure(language)
        self._lists = {key: LiveHTML(stylesheets=[TABLE_CSS], sizing_mode="stretch_width")
                       for key in ("never", "lapsed", 12, 24)}
        self._certifinfo = LiveHTML(stylesheets=[TABLE_CSS], sizing_mode="stretch_width")
        self._legend = secret_legend(None, language)
        soon = [pn.Column(f"### {say(ENDING, language).format(months=months)}",
                          self._lists[months], sizing_mode="stretch_width")
                for months in (12, 24)]
        self._shown = pn.Column(
            pn.Row(*self._rates.values(), sizing_mode="stretch_width"),
            pn.Column(f"### {say(LAPSED, language)}", self._lists["lapsed"],
                      sizing_mode="stretch_width"),
            # the registration tables get the page's width: every column shows at 1440 px
            pn.Row(pn.pane.Bokeh(self._registers.figure, sizing_mode="stretch_width"),
                   pn.Column(f"### {say('CQP jamais enregistrés', language)}",
                             self._lists["never"], sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            *soon, self._certifinfo, self._legend, sizing_mode="stretch_width")

    def requests(self, where: dict, years: tuple) -> dict:
        return asks.recognition(self.source.request, where, years)

    def draw(self, tables: dict, where: dict, years: tuple) -> pn.viewable.Viewable:
        language = self.language
        by_year = tables["by_year"]
        catalogue = matching(self.source.certifications(), where)
        counts = catalogue["recognition"].value_counts().reindex(
            ["RNCP", "RS", "branche seule"], fill_value=0)
        never = catalogue[~catalogue["ever_registered"]][["cqp_code", "title", "branch_codes"]]
        for chart in self._rates.values():
            chart.show(by_year)
        self._registers.update(counts)
        self._lists["never"].object = _listed(
            never.rename(columns=COLUMNS), say("CQP jamais enregistrés", language), "",
            "never-registered", language)
        ended = lapsed(catalogue)
        self._lists["lapsed"].object = _listed(pd.DataFrame({
            "CQP": ended["cqp_code"], "Intitulé": ended["title"],
            "Branches": ended["branch_codes"], "Registre": ended["lapsed_register"],
            "Code": ended["lapsed_code"],
            "État": [registration_state("lapsed", None, d, language=language)
                     for d in ended["lapsed_on"]]}), say(LAPSED, language),
            say("aucun enregistrement expiré sans renouvellement", language), "lapsed",
            language)
        for months in (12, 24):
            ending = ending_within(catalogue, months)[list(COLUMNS)]
            ending = ending.assign(valid_until=ending["valid_until"].map(_day),
                                   months_left=ending["months_left"].map(months_text))
            ending = ending.rename(columns=COLUMNS)
            self._lists[months].object = _listed(
                ending, say(ENDING, language).format(months=months),
                say("aucun enregistrement ne prend fin", language), "ending", language)
        self._certifinfo.object = self._national()
        self._legend.object = secret_legend_text(by_year.rule, language)
        return self._shown

    def _national(self) -> str:
        """The national catalogue (Certif Info): its count by register, and the list itself
        for administrators only (it names every branch's CQPs)."""
        language = self.language
        national = self.source.catalogue("certifinfo")
        if not len(national):
            return f"<p><small>{html.escape(say(NOT_IMPORTED, language))}</small></p>"
        shares = national["recognition"].value_counts()
        summary = ", ".join(f"{shares.get(k, 0)} {k.replace('_', ' ')}"
                            for k in ("RNCP", "RS", "branche_seule"))
        heading = (f"<h3>{html.escape(say('Catalogue national des CQP (Certif Info)', language))}"
                   f" : {len(national)} CQP — {html.escape(summary)}</h3>")
        if "title" not in national:
            return f"{heading}<p><small>{html.escape(say(ADMINISTRATORS_ONLY, language))}" \
                   "</small></p>"
        listed = national.rename(columns={
            "code_diplome": "Code Certif Info", "title": "Intitulé",
            "recognition": "Reconnaissance", "rncp_code": "Code", "level": "Niveau",
            "valideur": "Valideur"})
        return heading + data_table_html(in_words(listed, language), "Catalogue Certif Info")

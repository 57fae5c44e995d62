"""Devenir des titulaires: what a CQP is worth on the job market, from the holders' insertion
surveys (DOMAIN.md, « Insertion of holders »): by promotion, the employment and
targeted-occupation rates with their intervals, raw and corrected for non-response side by
side, the response rate, the return to work of job seekers and the median pay; by CQP; the
contracts of those in work; at 6 or 24 months."""

from __future__ import annotations

import html

import pandas as pd
import panel as pn
import param

from cqp_metrics.codes import CONTRACT_LABELS
from cqp_metrics.formatting import fr_int, fr_pct
from cqp_metrics.insertion import fragile
from cqp_metrics.registry import label

from .. import asks
from ..charts.holders import TITLES, RawAndAdjustedFigure
from ..components import (
    TABLE_CSS,
    LiveChart,
    LiveHTML,
    data_table_html,
    no_data_html,
    secret_legend,
    secret_legend_text,
)
from ..i18n import say
from .base import Page


def contract_frame(table, h: int, language: str = "fr") -> pd.DataFrame:
    """Those in work at ``h`` months by contract: the published count and its share of the
    published total (« secret » where the count is)."""
    name = f"insertion_employed_{h}m"
    values, hidden = table.values, table.hidden[name]
    total = values.loc[values["contract"].notna(), name].sum()
    rows = []
    for i in values.index:
        code = values.at[i, "contract"]
        if code is None or (not isinstance(code, str) and pd.isna(code)):
            continue
        count = values.at[i, name]
        secret = bool(hidden.at[i])
        rows.append({say("Contrat", language): say(CONTRACT_LABELS.get(code, code), language),
                     label(name, language): "secret" if secret else fr_int(count),
                     say("Part des emplois", language):
                         "secret" if secret or not total else fr_pct(count / total)})
    return pd.DataFrame(rows)


class InsertionPage(Page):
    """Made once per session; a filter or horizon change redraws it in place."""

    title_fr, title_en, slug = "Devenir des titulaires", "Holders' outcomes", "insertion"
    horizon = param.Selector(default="6", objects=["6", "24"], doc="""
        Months after certification the survey looks at.""")
    url_parameters = ("horizon",)

    def controls(self) -> list:
        return [pn.widgets.RadioButtonGroup.from_param(
            self.param.horizon, name=say("Horizon", self.language),
            options={say("6 mois", self.language): "6", say("24 mois", self.language): "24"},
            color="primary", variant="outline")]

    def refs(self) -> list:
        return [*super().refs(), self.param.horizon]

    def _make(self) -> None:
        language = self.language
        self._charts = {kind: LiveChart(RawAndAdjustedFigure(kind, language),
                                        [f"{kind}_rate_6m"], language,
                                        subject=say(TITLES[kind], language))
                        for kind in ("employment", "target_job")}
        self._promotions = self.table_view()
        self._cqps = self.table_view()
        self._contracts = LiveHTML(stylesheets=[TABLE_CSS], sizing_mode="stretch_width")
        self._careful = LiveHTML(sizing_mode="stretch_width", css_classes=["careful"])
        self._note = LiveHTML(sizing_mode="stretch_width")
        self._legend = secret_legend(None, language)
        self._shown = pn.Column(
            self._note, self._careful,
            pn.Row(*self._charts.values(), sizing_mode="stretch_width"),
            f"### {say('Par promotion', language)}", self._promotions,
            f"### {say('Par CQP', language)}", self._cqps,
            f"### {say('Contrats des titulaires en emploi', language)}", self._contracts,
            self._legend, sizing_mode="stretch_width")
        self._nothing = LiveHTML(sizing_mode="stretch_width")
        self._layout = pn.Column(self._shown, self._nothing, sizing_mode="stretch_width")

    def requests(self, where: dict, years: tuple) -> dict:
        return asks.insertion(self.source.request, where, years, int(self.horizon))

    def draw(self, tables: dict, where: dict, years: tuple) -> pn.viewable.Viewable:
        language, h = self.language, int(self.horizon)
        promotions = tables["promotions"]
        surveyed = promotions.values.get(f"insertion_surveyed_{h}m", pd.Series(dtype=float))
        if promotions.values.empty or not surveyed.fillna(0).astype(float).gt(0).any():
            self._shown.visible, self._nothing.visible = False, True
            self._nothing.object = no_data_html(
                say("aucune enquête d'insertion à", language) + f" {h} " + say("mois", language)
                + " — " + say("chargez insertion.csv", language), language)
            return self._layout
        self._shown.visible, self._nothing.visible = True, False
        for kind, chart in self._charts.items():
            chart.show(promotions, h, names=[f"{kind}_rate_{h}m"])
        self._promotions.show(promotions, f"insertion_{h}m_promotions")
        self._cqps.show(tables["cqps"], f"insertion_{h}m_cqp")
        contracts = contract_frame(tables["contracts"], h, language)
        self._contracts.object = (data_table_html(contracts, say("Contrats", language),
                                                  ["contracts"]) if len(contracts) else
                                  no_data_html(say("contrats", language), language))
        rows = [str(promotions.values.at[i, "year"]) for i in fragile(promotions, h)]
        rows += [str(tables["cqps"].values.at[i, "cqp_code"])
                 for i in fragile(tables["cqps"], h)]
        self._careful.object = "" if not rows else (
            '<div class="careful" role="note"><strong>'
            + html.escape(say("À lire avec prudence", language)) + "</strong> : "
            + html.escape(say("taux de réponse inférieur à 30 % ou moins de 20 répondants",
                              language)) + " — " + html.escape(" ; ".join(rows)) + "</div>")
        self._note.object = "<p><small>" + html.escape(say(NOTE, language)).format(h=h) \
            + ("" if h == 6 else " " + html.escape(say(NO_CORRECTION, language))) \
            + "</small></p>"
        self._legend.object = secret_legend_text(promotions.rule, language)
        return self._layout


NOTE = ("Enquête auprès des titulaires {h} mois après leur validation totale ; une promotion "
        "est l'année de la validation. Les taux excluent les répondants neutralisés "
        "(poursuite d'études, incapacité), selon la règle de France compétences. Le taux "
        "corrigé pondère les répondants pour retrouver les titulaires enquêtés par CQP, "
        "voie d'accès, sexe et tranche d'âge.")
NO_CORRECTION = "À 24 mois, les taux sont ceux des répondants (pas de correction)."


__all__ = ["InsertionPage", "contract_frame"]

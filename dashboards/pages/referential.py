"""Référentiel: one CQP's sheet for a CPNE meeting — volumes, rates, blocks by referential
version, training providers on a funnel plot."""

from __future__ import annotations

import datetime as dt
import html

import numpy as np
import pandas as pd
import panel as pn
import param

from cqp_metrics.catalogue import registration_status
from cqp_metrics.formatting import registration_state
from cqp_metrics.period import fr_date
from cqp_metrics.render import version_changes

from .. import asks
from ..charts.blocks import BlocksFigure
from ..charts.providers import ProvidersFigure, outside_table
from ..components import (
    TABLE_CSS,
    LiveChart,
    LiveHTML,
    data_table_html,
    file_safe,
    in_words,
    no_data,
    no_data_html,
    secret_legend,
    secret_legend_text,
)
from ..i18n import say
from .base import Page

SHEET_HELP = "Le CQP dont la fiche est présentée (les filtres de gauche s'y appliquent aussi)."
NONE_OUTSIDE = "Aucun organisme hors des limites à 95 %."


def _day(value, missing: str) -> str:
    return missing if value is None or pd.isna(value) else fr_date(pd.Timestamp(value).date())


class ReferentialPage(Page):
    """Made once per session; a filter change, or another CQP, redraws its sheet in place."""

    title_fr, title_en, slug = "Référentiel", "Referential", "referential"

    sheet = param.Selector(default=None, objects=[], allow_None=True, doc="""
        The CQP under review (its code), chosen on the page; kept in the link.""")
    url_parameters = ("sheet",)

    def __init__(self, **params):
        super().__init__(**params)
        self._box = None
        codes = self._codes()
        self.param.sheet.objects = codes  # this session's CQPs, within its scope
        if codes:
            self.sheet = codes[0]
        if self.filters is not None:
            self.filters.param.watch(self._follow_filter, "cqp")
            self.filters.param.watch(self._follow_branches, "branch")

    def _codes(self) -> list[str]:
        """The CQPs the selector offers: the session's, those of the chosen branches."""
        if self.filters is None:
            return []
        codes = list(self.filters.labels["cqp"])
        if self.filters.branch:
            chosen = set(self.filters.branch)
            owners = self.source.certifications().set_index("cqp_code")["branch_codes"]
            codes = [c for c in codes if chosen & set(str(owners.get(c) or "").split("|"))]
        return codes

    def _follow_filter(self, event) -> None:
        """Choosing CQPs in the sidebar brings the first of them to the page."""
        if event.new and self.sheet not in event.new:
            self.sheet = event.new[0]

    def _follow_branches(self, _event) -> None:
        """Choosing branches in the sidebar: the selector lists their CQPs only, and a CQP
        of another branch gives its place to the first of theirs."""
        codes = self._codes()
        self.param.sheet.objects = codes
        if self._box is not None:
            labels = self.filters.labels["cqp"]
            self._box.options = [labels[c] for c in codes]
        if self.sheet not in codes:
            self.sheet = codes[0] if codes else None

    def controls(self) -> list:
        """A searchable CQP selector: type a code or a word of the title."""
        labels = self.filters.labels["cqp"]
        codes = {text: code for code, text in labels.items()}
        box = pn.widgets.AutocompleteInput(
            label=say("CQP examiné", self.language),
            options=[labels[c] for c in self.param.sheet.objects],
            value=labels.get(self.sheet, ""), search_strategy="includes",
            case_sensitive=False, min_characters=1, restrict=True, width=520,
            placeholder=say("Tapez un code ou un mot de l'intitulé", self.language),
            description=say(SHEET_HELP, self.language), css_classes=["cqp-sheet"])
        self._box = box

        def picked(event) -> None:
            if event.new in codes:
                self.sheet = codes[event.new]

        def shown(event) -> None:
            box.value = labels.get(event.new, "")

        box.param.watch(picked, "value")
        self.param.watch(shown, "sheet")
        return [box]

    def refs(self) -> list:
        return [*super().refs(), self.param.sheet]

    def _make(self) -> None:
        language = self.language
        self._title = LiveHTML(sizing_mode="stretch_width")
        self._view = self.table_view()
        registrations = say("Enregistrements RNCP / RS", language)
        self._registered = LiveHTML(stylesheets=[TABLE_CSS], sizing_mode="stretch_width")
        self._blocks = LiveChart(BlocksFigure(language), ["block_pass_rate"], language, by=None)
        self._providers = LiveChart(ProvidersFigure(language), ["full_rate"], language, by=None,
                                    subject=say("organismes", language),
                                    nothing=say("organismes de plus de 20 présentés", language))
        self._outside = LiveHTML(stylesheets=[TABLE_CSS], sizing_mode="stretch_width")
        self._comparison = LiveHTML(stylesheets=[TABLE_CSS], sizing_mode="stretch_width")
        self._legend = secret_legend(None, language)
        self._shown = pn.Column(
            self._title, self._view, pn.pane.Markdown(f"### {registrations}"),
            self._registered,
            pn.Row(self._blocks, pn.Column(self._providers, self._outside,
                                           sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            pn.pane.Markdown(
                f"### {say('Blocs : évolution entre versions du référentiel', language)}"),
            self._comparison, self._legend, sizing_mode="stretch_width")

    def requests(self, where: dict, years: tuple) -> dict:
        if self.sheet is None:
            return {}
        return asks.sheet(self.source.request, where, years, self.sheet)

    def draw(self, tables: dict, where: dict, years: tuple) -> pn.viewable.Viewable:
        cqp, language = self.sheet, self.language
        if cqp is None:
            return no_data(language=language)
        sheet, blocks, providers = tables["sheet"], tables["blocks"], tables["providers"]
        if sheet.values.empty:
            return no_data(cqp, language)
        changes = in_words(version_changes(blocks.masked().dropna(subset=["block_pass_rate"])),
                           language)
        overall = tables["overall"].masked()
        rate = overall["full_rate"].iloc[0] if len(overall) else np.nan
        windows = self.source.catalogue("registrations")
        windows = registration_status(windows[windows["cqp_code"] == cqp], dt.date.today())
        self._title.object = f"<h2>{html.escape(self.filters.labels['cqp'].get(cqp, cqp))}</h2>"
        self._view.show(sheet, name=f"fiche_{file_safe(cqp)}")
        self._registered.object = data_table_html(in_words(pd.DataFrame({
            "Registre": windows["register"], "Code": windows["rncp_code"],
            "Début": windows["valid_from"].map(lambda d: _day(d, "")),
            "Fin": windows["valid_until"].map(lambda d: _day(d, say("sans fin", language))),
            "État": [registration_state(w.status, w.valid_from, w.valid_until, w.successor,
                                        language) for w in windows.itertuples()],
        }), language), say("Enregistrements RNCP / RS", language), ["cqp-registrations"]) \
            if len(windows) else \
            f"<p><small>{say('Jamais enregistré au RNCP ni au RS.', language)}</small></p>"
        self._blocks.show(blocks)
        self._comparison.object = data_table_html(
            changes, say("Blocs : évolution entre versions", language),
            ["version-changes"]) if len(changes) \
            else no_data_html(say("une seule version du référentiel", language), language)
        drawn = self._providers.show(providers, rate)
        self._outside.visible = drawn
        if drawn:
            self._outside.object = self._outside_html(providers, rate)
        self._legend.object = secret_legend_text(sheet.rule, language)
        return self._shown

    def _outside_html(self, providers, rate: float) -> str:
        """The providers outside the 95 % limits, as a table, or a note that there is none."""
        visible = providers.masked().dropna(subset=["full_rate", "provider_id"])
        outside = outside_table(visible, rate)
        if self.language == "en":
            outside["Position"] = outside["Position"].map(lambda v: say(v, "en"))
        if not len(outside):
            return f"<p><small>{say(NONE_OUTSIDE, self.language)}</small></p>"
        return data_table_html(in_words(outside, self.language),
                               say("Organismes hors des limites à 95 %", self.language),
                               ["funnel-outside"])

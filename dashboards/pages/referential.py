"""Référentiel: one CQP's sheet for a CPNE meeting — volumes, rates, blocks by referential
version, training providers on a funnel plot."""

from __future__ import annotations

import html

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from cqp_metrics.formatting import fr_int, fr_pct
from cqp_metrics.period import fr_date
from cqp_metrics.render import version_changes
from cqp_metrics.stats import Z95, funnel_half_width, outside_funnel

from ..components import (
    ACCENT,
    data_table,
    explained,
    file_safe,
    fr_axis,
    hover,
    in_words,
    no_data,
    secret_legend,
)
from ..figures import interval_text
from ..i18n import say
from .base import Page

SHEET = ["enrolments", "juries", "full_rate", "partial_rate", "vae_success_rate",
         "partial_completion_12m_km", "days_to_first_jury_median", "recognition_rate"]


def funnel_plot(frame: pd.DataFrame, overall: float, language: str = "fr") -> hv.Overlay:
    """Providers' full-validation rate against their volume, inside 95 % (dashed) and 99.8 %
    (dotted) limits around the overall rate (solid); the providers outside the 95 % limits
    are named beside their point."""
    outside = outside_funnel(frame["full_rate"], frame["juries"], overall)
    frame = frame.assign(juries=frame["juries"].astype(float),
                         organisme=frame["provider_id"].astype(str),
                         taux=frame["full_rate"] * 100,
                         texte=frame["full_rate"].map(fr_pct),
                         volume=frame["juries"].map(fr_int))
    juries = hv.Dimension("juries", label=say("Présentés au jury", language))
    rate = hv.Dimension("taux", label=say("% validation totale", language))
    n = np.linspace(max(frame["juries"].min() * 0.8, 5), frame["juries"].max() * 1.1, 100)
    layers = []
    for z, dash, name in ((Z95, "dashed", "limites à 95 %"), (3.09, "dotted",
                                                              "limites à 99,8 %")):
        half = funnel_half_width(overall, n, z) * 100
        for sign in (1, -1):
            layers.append(hv.Curve((n, np.clip(overall * 100 + sign * half, 0, 100)),
                                   juries, rate, label=say(name, language)).opts(color="grey",
                                                                  line_dash=dash))
    everyone = f"{say('ensemble', language)} ({fr_pct(overall)})"
    layers.append(hv.Curve(([n[0], n[-1]], [overall * 100] * 2), juries, rate,
                           label=everyone).opts(color="black", line_width=1))
    layers.append(hv.Scatter(frame, juries, [rate, "organisme", "texte", "volume"],
                             label=say("organismes", language)).opts(
        size=9, color=ACCENT, **hover((say("Organisme", language), "organisme"),
                                      (say("Présentés au jury", language), "volume"),
                                      (say("Validation totale", language), "texte"))))
    named = frame[outside.to_numpy()].sort_values("juries")
    for above in (True, False):
        side = named[(named["taux"] > overall * 100) == above]
        if side.empty:
            continue
        # staggered by three heights, so that neighbours' names do not overprint
        step = np.arange(len(side)) % 3 * 5 + 3
        side = side.assign(ly=side["taux"] + (step if above else -step))
        layers.append(hv.Labels(side, [juries, hv.Dimension("ly")], "organisme").opts(
            text_font_size="9pt", text_color="black",
            text_baseline="bottom" if above else "top"))
    low = max(0.0, min(frame["taux"].min(), overall * 100 - 15) - 20)
    high = min(100.0, max(frame["taux"].max(), overall * 100 + 15) + 20)
    return hv.Overlay(layers).opts(
        title=say("Organismes : validation totale selon le volume", language), height=360,
        responsive=True,
        shared_axes=False, ylim=(low, high), legend_position="bottom", legend_cols=4,
        xformatter=fr_axis(), yformatter=fr_axis())


def outside_table(frame: pd.DataFrame, overall: float) -> pd.DataFrame:
    """The providers outside the funnel plot's 95 % limits, as people read them."""
    outside = frame[outside_funnel(frame["full_rate"], frame["juries"], overall)]
    return pd.DataFrame({
        "Organisme": outside["provider_id"].astype(str),
        "Présentés au jury": outside["juries"].map(fr_int),
        "Taux de validation totale": outside["full_rate"].map(fr_pct),
        "Position": np.where(outside["full_rate"] > overall, "au-dessus des limites",
                             "en dessous des limites")})


def blocks_plot(shown: pd.DataFrame, language: str = "fr") -> hv.Overlay:
    """Each block's pass rate by referential version, with its interval (``shown``: the
    masked table by (referential_version, block_code), hidden rates dropped); the legend
    sits under the chart, where it covers no bar."""
    data = shown.assign(taux=shown["block_pass_rate"] * 100,
                        version=shown["referential_version"].fillna("?").astype(str),
                        moins=(shown["block_pass_rate"] - shown["block_pass_rate_low"]) * 100,
                        plus=(shown["block_pass_rate_high"] - shown["block_pass_rate"]) * 100,
                        texte=shown["block_pass_rate"].map(fr_pct),
                        ic=[interval_text(lo, hi) for lo, hi in zip(
                            shown["block_pass_rate_low"], shown["block_pass_rate_high"],
                            strict=True)])
    data["bloc"] = data["block_code"].astype(str) + " · v" + data["version"]
    data = data.sort_values(["block_code", "version"])
    bars = hv.Bars(data, "bloc", ["taux", "version", "texte", "ic"]).opts(
        cmap="Category10", color="version", xrotation=30, legend_position="bottom",
        **hover((say("Bloc", language), "bloc"), (say("Taux d'acquisition", language), "texte"),
                (say("IC 95 %", language), "ic")))
    errors = hv.ErrorBars(data, "bloc", ["taux", "moins", "plus"])
    return (bars * errors).opts(
        title=say("Blocs : taux d'acquisition par version (IC 95 %)", language), height=380,
        responsive=True, shared_axes=False, ylim=(0, 100), ylabel="%", xlabel="",
        yformatter=fr_axis())


SHEET_HELP = "Le CQP dont la fiche est présentée (les filtres de gauche s'y appliquent aussi)."
NONE_OUTSIDE = "Aucun organisme hors des limites à 95 %."


def _day(value, missing: str) -> str:
    return missing if value is None or pd.isna(value) else fr_date(pd.Timestamp(value).date())


class ReferentialPage(Page):
    title_fr, title_en, slug = "Référentiel", "Referential", "referential"

    sheet = param.Selector(default=None, objects=[], allow_None=True, doc="""
        The CQP under review (its code), chosen on the page; kept in the link.""")
    url_parameters = ("sheet",)

    def __init__(self, **params):
        super().__init__(**params)
        codes = list(self.filters.labels["cqp"]) if self.filters is not None else []
        self.param.sheet.objects = codes  # this session's CQPs, within its scope
        if codes:
            self.sheet = codes[0]
        if self.filters is not None:
            self.filters.param.watch(self._follow_filter, "cqp")

    def _follow_filter(self, event) -> None:
        """Choosing CQPs in the sidebar brings the first of them to the page."""
        if event.new and self.sheet not in event.new:
            self.sheet = event.new[0]

    def controls(self) -> list:
        """A searchable CQP selector: type a code or a word of the title."""
        labels = self.filters.labels["cqp"]
        codes = {text: code for code, text in labels.items()}
        box = pn.widgets.AutocompleteInput(
            name=say("CQP examiné", self.language), options=list(labels.values()),
            value=labels.get(self.sheet, ""), search_strategy="includes",
            case_sensitive=False, min_characters=1, restrict=True, width=520,
            placeholder=say("Tapez un code ou un mot de l'intitulé", self.language),
            description=say(SHEET_HELP, self.language), css_classes=["cqp-sheet"])

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

    def render(self, where: dict, years: tuple) -> pn.viewable.Viewable:
        cqp = self.sheet
        if cqp is None:
            return no_data(language=self.language)
        one = {**where, "cqp_code": [cqp]}
        titles = self.filters.labels["cqp"]
        ask = self.source.request
        tables = self.source.answers({
            "sheet": ask(by=("year",), where=one, years=years, names=SHEET),
            "blocks": ask(by=("referential_version", "block_code"), where=one, years=years),
            "providers": ask(by=("provider_id",), where=one, years=years, names=["full_rate"]),
            "overall": ask(where=one, years=years, names=["full_rate"])})
        sheet, blocks, providers = tables["sheet"], tables["blocks"], tables["providers"]
        if sheet.values.empty:
            return no_data(cqp, self.language)
        shown = blocks.masked().dropna(subset=["block_pass_rate"])
        if shown.empty:
            block_view = no_data(say("blocs", self.language), self.language)
        else:
            block_view = explained(pn.pane.HoloViews(blocks_plot(shown, self.language),
                                                     sizing_mode="stretch_width"),
                                   ["block_pass_rate"], blocks, language=self.language)
        changes = in_words(version_changes(shown), self.language)
        comparison = data_table(changes, say("Blocs : évolution entre versions", self.language),
                                css_classes=["version-changes"]) if len(changes) \
            else no_data(say("une seule version du référentiel", self.language),
                         self.language)
        visible = providers.masked().dropna(subset=["full_rate", "provider_id"])
        overall = tables["overall"].masked()
        rate = overall["full_rate"].iloc[0] if len(overall) else np.nan
        if len(visible) and pd.notna(rate):
            outside = outside_table(visible, rate)
            if self.language == "en":
                outside["Position"] = outside["Position"].map(lambda v: say(v, "en"))
            provider_view = pn.Column(
                explained(pn.pane.HoloViews(funnel_plot(visible, rate, self.language),
                                            sizing_mode="stretch_width"),
                          ["full_rate"], providers, say("organismes", self.language),
                          self.language),
                data_table(in_words(outside, self.language),
                           say("Organismes hors des limites à 95 %", self.language),
                           css_classes=["funnel-outside"]) if len(outside) else
                pn.pane.Markdown(f"<small>{say(NONE_OUTSIDE, self.language)}</small>"),
                sizing_mode="stretch_width")
        else:
            provider_view = no_data(say("organismes de plus de 20 présentés", self.language),
                                    self.language)
        view = self.table_view()
        windows = self.source.catalogue("registrations")
        windows = windows[windows["cqp_code"] == cqp]
        registrations = say("Enregistrements RNCP / RS", self.language)
        registered = data_table(in_words(pd.DataFrame({
            "Registre": windows["register"], "Code": windows["rncp_code"],
            "Début": windows["valid_from"].map(lambda d: _day(d, "")),
            "Fin": windows["valid_until"].map(lambda d: _day(d, say("sans fin", self.language))),
        }), self.language), registrations, css_classes=["cqp-registrations"]) \
            if len(windows) else pn.pane.Markdown(
                f"<small>{say('Jamais enregistré au RNCP ni au RS.', self.language)}</small>")
        return pn.Column(
            pn.pane.HTML(f"<h2>{html.escape(titles.get(cqp, cqp))}</h2>",
                         sizing_mode="stretch_width"),
            view.view(sheet, name=f"fiche_{file_safe(cqp)}"),
            pn.pane.Markdown(f"### {registrations}"), registered,
            pn.Row(block_view, provider_view, sizing_mode="stretch_width"),
            pn.pane.Markdown(
                f"### {say('Blocs : évolution entre versions du référentiel', self.language)}"),
            comparison,
            secret_legend(sheet, self.language), sizing_mode="stretch_width")

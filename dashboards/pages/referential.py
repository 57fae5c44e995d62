"""Référentiel: one CQP's sheet for a CPNE meeting — volumes, rates, blocks by referential
version, training providers on a funnel plot."""

from __future__ import annotations

import html

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from cqp_metrics.period import fr_date
from cqp_metrics.registry import BY_NAME
from cqp_metrics.render import change_text
from cqp_metrics.stats import Z95

from ..components import ACCENT, data_table, explained, file_safe, no_data, secret_legend
from .base import Page

SHEET = ["enrolments", "juries", "full_rate", "partial_rate", "vae_success_rate",
         "partial_completion_12m_km", "days_to_first_jury_median", "recognition_rate"]


def version_changes(blocks: pd.DataFrame) -> pd.DataFrame:
    """Each block's pass rate in one referential version against the version before, with
    Newcombe's interval of the difference; ``significatif`` only when it excludes 0.
    ``blocks``: the masked table by (referential_version, block_code)."""
    rate = BY_NAME["block_pass_rate"]
    rows = []
    known = blocks.dropna(subset=["referential_version"])
    for block, group in known.groupby("block_code"):
        group = group.sort_values("referential_version")
        for (_, before), (_, this) in zip(group.iloc[:-1].iterrows(), group.iloc[1:].iterrows(),
                                          strict=True):
            delta, low, high = (s.iloc[0] for s in rate.change(pd.DataFrame([this]),
                                                               pd.DataFrame([before])))
            rows.append({
                "Bloc": str(block),
                "Versions": f"{before['referential_version']} → {this['referential_version']}",
                "Taux avant": rate.text(before["block_pass_rate"]) or "secret",
                "Taux après": rate.text(this["block_pass_rate"]) or "secret",
                "Écart (IC 95 %, Newcombe)": change_text(delta, low, high) or "non calculable",
            })
    return pd.DataFrame(rows, columns=["Bloc", "Versions", "Taux avant", "Taux après",
                                       "Écart (IC 95 %, Newcombe)"])


def funnel_half_width(overall: float, juries, z: float = Z95):
    """Half the width of a funnel plot's control limits at ``juries`` (binomial, around the
    overall rate): a provider further from the overall rate is outside them."""
    return z * np.sqrt(overall * (1 - overall) / juries)


def funnel_plot(frame: pd.DataFrame, overall: float) -> hv.Overlay:
    """Providers' full-validation rate against their volume, with 95 % and 99.8 % limits."""
    frame = frame.assign(juries=frame["juries"].astype(float),
                         provider_id=frame["provider_id"].astype(str))
    n = np.linspace(max(frame["juries"].min() * 0.8, 5), frame["juries"].max() * 1.1, 100)
    layers = [hv.Scatter(frame.assign(taux=frame["full_rate"] * 100), "juries",
                         ["taux", "provider_id"]).opts(size=9, color=ACCENT,
                                                        tools=["hover"])]
    for z, dash in ((Z95, "dashed"), (3.09, "dotted")):
        half = funnel_half_width(overall, n, z) * 100
        for sign in (1, -1):
            layers.append(hv.Curve((n, np.clip(overall * 100 + sign * half, 0, 100)),
                                   "juries", "taux").opts(color="grey", line_dash=dash))
    layers.append(hv.HLine(overall * 100).opts(color="black", line_width=1))
    return hv.Overlay(layers).opts(
        title="Organismes : taux de validation totale selon le volume (limites 95 % et 99,8 %)",
        xlabel="Présentés au jury", ylabel="% validation totale", height=340, responsive=True,
        shared_axes=False, ylim=(0, 100))


def blocks_plot(shown: pd.DataFrame) -> hv.Overlay:
    """Each block's pass rate by referential version, with its interval (``shown``: the
    masked table by (referential_version, block_code), hidden rates dropped)."""
    data = shown.assign(taux=shown["block_pass_rate"] * 100,
                        version=shown["referential_version"].fillna("?").astype(str),
                        moins=(shown["block_pass_rate"] - shown["block_pass_rate_low"]) * 100,
                        plus=(shown["block_pass_rate_high"] - shown["block_pass_rate"]) * 100)
    data["bloc"] = data["block_code"].astype(str) + " · v" + data["version"]
    data = data.sort_values(["block_code", "version"])
    bars = hv.Bars(data, "bloc", ["taux", "version"]).opts(
        tools=["hover"], cmap="Category10", color="version", xrotation=30)
    errors = hv.ErrorBars(data, "bloc", ["taux", "moins", "plus"])
    return (bars * errors).opts(
        title="Taux d'acquisition des blocs par version du référentiel (IC 95 %)",
        height=340, responsive=True, shared_axes=False, ylim=(0, 100), ylabel="%", xlabel="")


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
            name="CQP examiné", options=list(labels.values()),
            value=labels.get(self.sheet, ""), search_strategy="includes",
            case_sensitive=False, min_characters=1, restrict=True, width=520,
            placeholder="Tapez un code ou un mot de l'intitulé",
            description="Le CQP dont la fiche est présentée (les filtres de gauche s'y "
                        "appliquent aussi).", css_classes=["cqp-sheet"])

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
            return no_data()
        one = {**where, "cqp_code": [cqp]}
        titles = self.filters.labels["cqp"]
        sheet = self.source.table(by=("year",), where=one, years=years, names=SHEET)
        if sheet.values.empty:
            return no_data(cqp)
        blocks = self.source.table(by=("referential_version", "block_code"), where=one,
                                   years=years)
        shown = blocks.masked().dropna(subset=["block_pass_rate"])
        if shown.empty:
            block_view = no_data("blocs")
        else:
            block_view = explained(pn.pane.HoloViews(blocks_plot(shown),
                                                     sizing_mode="stretch_width"),
                                   ["block_pass_rate"], blocks)
        changes = version_changes(shown)
        comparison = data_table(changes, "Blocs : évolution entre versions",
                                css_classes=["version-changes"]) if len(changes) \
            else no_data("une seule version du référentiel")
        providers = self.source.table(by=("provider_id",), where=one, years=years,
                                      names=["full_rate"])
        visible = providers.masked().dropna(subset=["full_rate", "provider_id"])
        overall = self.source.table(where=one, years=years, names=["full_rate"]).masked()
        rate = overall["full_rate"].iloc[0] if len(overall) else np.nan
        provider_view = explained(pn.pane.HoloViews(funnel_plot(visible, rate),
                                                    sizing_mode="stretch_width"),
                                  ["full_rate"], providers) \
            if len(visible) and pd.notna(rate) else no_data("organismes de plus de 20 présentés")
        view = self.table_view()
        windows = self.source.catalogue("registrations")
        windows = windows[windows["cqp_code"] == cqp]
        registered = data_table(pd.DataFrame({
            "Registre": windows["register"], "Code": windows["rncp_code"],
            "Début": windows["valid_from"].map(lambda d: _day(d, "")),
            "Fin": windows["valid_until"].map(lambda d: _day(d, "sans fin")),
        }), "Enregistrements RNCP / RS", css_classes=["cqp-registrations"]) \
            if len(windows) else pn.pane.Markdown(
                "<small>Jamais enregistré au RNCP ni au RS.</small>")
        return pn.Column(
            pn.pane.HTML(f"<h2>{html.escape(titles.get(cqp, cqp))}</h2>",
                         sizing_mode="stretch_width"),
            view.view(sheet, name=f"fiche_{file_safe(cqp)}"),
            pn.pane.Markdown("### Enregistrements RNCP / RS"), registered,
            pn.Row(block_view, provider_view, sizing_mode="stretch_width"),
            pn.pane.Markdown("### Blocs : évolution entre versions du référentiel"),
            comparison,
            secret_legend(sheet), sizing_mode="stretch_width")

"""Référentiel: one CQP's sheet for a CPNE meeting — volumes, rates, blocks by referential
version, training providers on a funnel plot."""

from __future__ import annotations

import datetime as dt
import html
import math
from dataclasses import dataclass

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import (
    ColumnDataSource,
    FactorRange,
    HoverTool,
    LabelSet,
    Range1d,
    Whisker,
)
from bokeh.palettes import Category10
from bokeh.plotting import figure
from bokeh.transform import factor_cmap

from cqp_metrics.catalogue import registration_status
from cqp_metrics.formatting import fr_int, fr_pct, registration_state
from cqp_metrics.period import fr_date
from cqp_metrics.render import version_changes
from cqp_metrics.stats import Z95, funnel_half_width, outside_funnel

from ..components import (
    ACCENT,
    TABLE_CSS,
    LiveChart,
    data_table_html,
    file_safe,
    fr_axis,
    hover,
    in_words,
    no_data,
    no_data_html,
    secret_legend,
    secret_legend_text,
)
from ..figures import columns_of, new_figure, share_columns
from ..i18n import say
from .base import Page

SHEET = ["enrolments", "juries", "full_rate", "partial_rate", "vae_success_rate",
         "partial_completion_12m_km", "days_to_first_jury_median", "recognition_rate"]


@dataclass
class FunnelData:
    """What a providers' funnel plot draws, in % (one computation for the page's Bokeh figure
    and the report's HoloViews chart)."""

    #: One row per provider: juries, organisme, taux, texte (the rate), volume (juries).
    points: pd.DataFrame
    #: (legend, dash, volumes, upper limit, lower limit) at 95 % and 99.8 %.
    limits: list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]]
    #: The overall rate's legend and value.
    overall: tuple[str, float]
    #: The providers outside the 95 % limits, above then below, each with ``ly``, where its
    #: name is written (staggered by three heights, so that neighbours do not overprint).
    named: list[tuple[bool, pd.DataFrame]]
    #: The rates' axis.
    y_range: tuple[float, float]


def funnel_data(frame: pd.DataFrame, overall: float, language: str = "fr") -> FunnelData:
    """Providers' full-validation rate against their volume, inside 95 % and 99.8 % limits
    around the overall rate; the providers outside the 95 % limits to be named."""
    outside = outside_funnel(frame["full_rate"], frame["juries"], overall)
    points = pd.DataFrame({"juries": frame["juries"].astype(float).to_numpy(),
                           "organisme": frame["provider_id"].astype(str).to_numpy(),
                           "taux": (frame["full_rate"] * 100).to_numpy(),
                           "texte": frame["full_rate"].map(fr_pct).to_numpy(),
                           "volume": frame["juries"].map(fr_int).to_numpy()})
    n = np.linspace(max(points["juries"].min() * 0.8, 5), points["juries"].max() * 1.1, 100)
    limits = []
    for z, dash, name in ((Z95, "dashed", "limites à 95 %"), (3.09, "dotted",
                                                              "limites à 99,8 %")):
        half = funnel_half_width(overall, n, z) * 100
        limits.append((say(name, language), dash, n,
                       np.clip(overall * 100 + half, 0, 100),
                       np.clip(overall * 100 - half, 0, 100)))
    named_rows = points[outside.to_numpy()].sort_values("juries")
    named = []
    for above in (True, False):
        side = named_rows[(named_rows["taux"] > overall * 100) == above]
        if not side.empty:
            step = np.arange(len(side)) % 3 * 5 + 3
            named.append((above, side.assign(ly=side["taux"] + (step if above else -step))))
    low = max(0.0, min(points["taux"].min(), overall * 100 - 15) - 20)
    high = min(100.0, max(points["taux"].max(), overall * 100 + 15) + 20)
    return FunnelData(points, limits,
                      (f"{say('ensemble', language)} ({fr_pct(overall)})", overall * 100),
                      named, (low, high))


def funnel_plot(frame: pd.DataFrame, overall: float, language: str = "fr") -> hv.Overlay:
    """Providers' full-validation rate against their volume, inside 95 % (dashed) and 99.8 %
    (dotted) limits around the overall rate (solid); the providers outside the 95 % limits
    are named beside their point (HoloViews: the report and the notebooks)."""
    data = funnel_data(frame, overall, language)
    juries = hv.Dimension("juries", label=say("Présentés au jury", language))
    rate = hv.Dimension("taux", label=say("% validation totale", language))
    layers = []
    for name, dash, n, upper, lower in data.limits:
        for line in (upper, lower):
            layers.append(hv.Curve((n, line), juries, rate, label=name).opts(
                color="grey", line_dash=dash))
    n = data.limits[0][2]
    everyone, level = data.overall
    layers.append(hv.Curve(([n[0], n[-1]], [level] * 2), juries, rate,
                           label=everyone).opts(color="black", line_width=1))
    layers.append(hv.Scatter(data.points, juries, [rate, "organisme", "texte", "volume"],
                             label=say("organismes", language)).opts(
        size=9, color=ACCENT, **hover((say("Organisme", language), "organisme"),
                                      (say("Présentés au jury", language), "volume"),
                                      (say("Validation totale", language), "texte"))))
    for above, side in data.named:
        layers.append(hv.Labels(side, [juries, hv.Dimension("ly")], "organisme").opts(
            text_font_size="9pt", text_color="black",
            text_baseline="bottom" if above else "top"))
    return hv.Overlay(layers).opts(
        title=say("Organismes : validation totale selon le volume", language), height=360,
        responsive=True,
        shared_axes=False, ylim=data.y_range, legend_position="bottom", legend_cols=4,
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


class ProvidersFigure:
    """:func:`funnel_plot` as a Bokeh figure, for the page, made once (made directly:
    HoloViews took about half of the page's build). Providers' codes are text: hover fields
    (escaped) and canvas labels."""

    def __init__(self, language: str = "fr") -> None:
        self.language = language
        juries, rate = say("Présentés au jury", language), say("% validation totale", language)
        self.figure = plot = new_figure(
            say("Organismes : validation totale selon le volume", language), height=360,
            french="xy", x_axis_label=juries, y_axis_label=rate, y_range=Range1d(0, 100))
        self.limits = []  # (upper, lower) sources at 95 % then 99.8 %
        for dash, name in (("dashed", "limites à 95 %"), ("dotted", "limites à 99,8 %")):
            pair = [ColumnDataSource({"x": [], "y": []}) for _ in range(2)]
            for source in pair:
                plot.line("x", "y", source=source, line_color="grey", line_dash=dash,
                          legend_label=say(name, language))
            self.limits.append(pair)
        self.overall = ColumnDataSource({"x": [], "y": []})
        line = plot.line("x", "y", source=self.overall, line_color="black", line_width=1,
                         legend_label=say("ensemble", language))
        self.points = ColumnDataSource({c: [] for c in ("juries", "organisme", "taux", "texte",
                                                        "volume")})
        points = plot.scatter("juries", "taux", source=self.points, size=9, color=ACCENT,
                              legend_label=say("organismes", language))
        plot.add_tools(HoverTool(renderers=[points], tooltips=[
            (say("Organisme", language), "@organisme"), (juries, "@volume"),
            (say("Validation totale", language), "@texte")]))
        self.named = {}  # above the limits or below: the names' source
        for above in (True, False):
            self.named[above] = ColumnDataSource({"juries": [], "ly": [], "organisme": []})
            plot.add_layout(LabelSet(
                x="juries", y="ly", text="organisme", text_font_size="9pt", text_color="black",
                text_baseline="bottom" if above else "top", source=self.named[above]))
        legend = plot.legend[0]
        self._everyone = next(i for i in legend.items if line in i.renderers)
        legend.update(orientation="horizontal", ncols=4, border_line_alpha=0,
                      label_text_font_size="9pt")
        plot.add_layout(legend, "below")

    def draw(self, data: FunnelData) -> None:
        """Show ``data`` (:func:`funnel_data`)."""
        for pair, (_, _, n, upper, lower) in zip(self.limits, data.limits, strict=True):
            pair[0].data, pair[1].data = {"x": n, "y": upper}, {"x": n, "y": lower}
        n = data.limits[0][2]
        everyone, level = data.overall
        self.overall.data = {"x": [n[0], n[-1]], "y": [level, level]}
        self._everyone.label = {"value": everyone}
        self.points.data = columns_of(data.points)
        sides = dict(data.named)
        for above, source in self.named.items():
            side = sides.get(above, pd.DataFrame({"juries": [], "ly": [], "organisme": []}))
            source.data = columns_of(side[["juries", "ly", "organisme"]])
        low, high = data.y_range
        self.figure.y_range.update(start=low, end=high, reset_start=low, reset_end=high)

    def update(self, providers, overall: float) -> bool:
        """Show the providers of ``providers`` (a table by provider) around the ``overall``
        rate; False when none is shown or the rate is unknown."""
        visible = providers.masked().dropna(subset=["full_rate", "provider_id"])
        if visible.empty or pd.isna(overall):
            return False
        self.draw(funnel_data(visible, overall, self.language))
        return True


def funnel_figure(data: FunnelData, language: str = "fr") -> figure:
    """:class:`ProvidersFigure` drawing ``data`` once (its Bokeh figure)."""
    drawn = ProvidersFigure(language)
    drawn.draw(data)
    return drawn.figure


def blocks_data(shown: pd.DataFrame) -> pd.DataFrame:
    """What the blocks chart draws (``shown``: the masked table by (referential_version,
    block_code), hidden rates dropped): one bar per block and version, ``bloc · vN``, in %
    with its bounds and French texts, ordered by block then version."""
    data = pd.DataFrame({
        "version": shown["referential_version"].fillna("?").astype(str).to_numpy(),
        "block_code": shown["block_code"].astype(str).to_numpy(),
        **share_columns(shown, "block_pass_rate")})
    data["bloc"] = data["block_code"] + " · v" + data["version"]
    return data.sort_values(["block_code", "version"]).reset_index(drop=True)


def blocks_plot(shown: pd.DataFrame, language: str = "fr") -> hv.Overlay:
    """Each block's pass rate by referential version, with its interval (HoloViews: the
    report); the legend sits under the chart, where it covers no bar."""
    data = blocks_data(shown)
    data = data.assign(moins=data["taux"] - data["bas"], plus=data["haut"] - data["taux"])
    bars = hv.Bars(data, "bloc", ["taux", "version", "texte", "ic"]).opts(
        cmap="Category10", color="version", xrotation=30, legend_position="bottom",
        **hover((say("Bloc", language), "bloc"), (say("Taux d'acquisition", language), "texte"),
                (say("IC 95 %", language), "ic")))
    errors = hv.ErrorBars(data, "bloc", ["taux", "moins", "plus"])
    return (bars * errors).opts(
        title=say("Blocs : taux d'acquisition par version (IC 95 %)", language), height=380,
        responsive=True, shared_axes=False, ylim=(0, 100), ylabel="%", xlabel="",
        yformatter=fr_axis())


class BlocksFigure:
    """:func:`blocks_plot` as a Bokeh figure, for the page, made once: one colour per
    version."""

    def __init__(self, language: str = "fr") -> None:
        self.figure = plot = new_figure(
            say("Blocs : taux d'acquisition par version (IC 95 %)", language), height=380,
            x_range=FactorRange(), y_range=Range1d(0, 100), y_axis_label="%")
        plot.xgrid.grid_line_color = None
        plot.xaxis.major_label_orientation = math.pi / 6
        self.source = ColumnDataSource({c: [] for c in (
            "version", "block_code", "taux", "bas", "haut", "texte", "ic", "bloc")})
        self.colours = factor_cmap("version", list(Category10[10]), [])
        bars = plot.vbar(x="bloc", top="taux", width=0.8, source=self.source,
                         legend_field="version", fill_color=self.colours, line_color=None)
        plot.add_layout(Whisker(base="bloc", lower="bas", upper="haut", source=self.source,
                                line_color="black"))
        plot.add_tools(HoverTool(renderers=[bars], tooltips=[
            (say("Bloc", language), "@bloc"), (say("Taux d'acquisition", language), "@texte"),
            (say("IC 95 %", language), "@ic")]))
        legend = plot.legend[0]
        legend.update(orientation="horizontal", border_line_alpha=0, label_text_font_size="9pt")
        plot.add_layout(legend, "below")

    def draw(self, shown: pd.DataFrame) -> None:
        """Show ``shown`` (the masked table by version and block, hidden rates dropped)."""
        data = blocks_data(shown)
        versions = sorted(data["version"].unique())
        self.colours["transform"].update(
            factors=versions, palette=[Category10[10][i % 10] for i in range(len(versions))])
        self.source.data = columns_of(data)
        self.figure.x_range.factors = list(data["bloc"])

    def update(self, blocks) -> bool:
        """Show ``blocks`` (a table by version and block); False when every rate is hidden
        or there is none."""
        shown = blocks.masked().dropna(subset=["block_pass_rate"])
        if shown.empty:
            return False
        self.draw(shown)
        return True


def blocks_figure(shown: pd.DataFrame, language: str = "fr") -> figure:
    """:class:`BlocksFigure` drawing ``shown`` once (its Bokeh figure)."""
    drawn = BlocksFigure(language)
    drawn.draw(shown)
    return drawn.figure


SHEET_HELP = "Le CQP dont la fiche est présentée (les filtres de gauche s'y appliquent aussi)."
NONE_OUTSIDE = "Aucun organisme hors des limites à 95 %."


def _day(value, missing: str) -> str:
    return missing if value is None or pd.isna(value) else fr_date(pd.Timestamp(value).date())


class ReferentialPage(Page):
    """Made once per session; a filter change, or another CQP, redraws its sheet in place."""

    title_fr, title_en, slug = "Référentiel", "Referential", "referential"
    live = True

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
            name=say("CQP examiné", self.language),
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
        self._title = pn.pane.HTML(sizing_mode="stretch_width")
        self._view = self.table_view()
        registrations = say("Enregistrements RNCP / RS", language)
        self._registered = pn.pane.HTML(stylesheets=[TABLE_CSS], sizing_mode="stretch_width")
        self._blocks = LiveChart(BlocksFigure(language), ["block_pass_rate"], language, by=None)
        self._providers = LiveChart(ProvidersFigure(language), ["full_rate"], language, by=None,
                                    subject=say("organismes", language),
                                    nothing=say("organismes de plus de 20 présentés", language))
        self._outside = pn.pane.HTML(stylesheets=[TABLE_CSS], sizing_mode="stretch_width")
        self._comparison = pn.pane.HTML(stylesheets=[TABLE_CSS], sizing_mode="stretch_width")
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

    def draw(self, where: dict, years: tuple) -> pn.viewable.Viewable:
        cqp, language = self.sheet, self.language
        if cqp is None:
            return no_data(language=language)
        one = {**where, "cqp_code": [cqp]}
        ask = self.source.request
        tables = self.source.answers({
            "sheet": ask(by=("year",), where=one, years=years, names=SHEET),
            "blocks": ask(by=("referential_version", "block_code"), where=one, years=years),
            "providers": ask(by=("provider_id",), where=one, years=years, names=["full_rate"]),
            "overall": ask(where=one, years=years, names=["full_rate"])})
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

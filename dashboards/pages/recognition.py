"""Reconnaissance: certificates carrying national recognition, the catalogue by register,
registrations that end within 12 and 24 months."""

from __future__ import annotations

import pandas as pd
import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, Range1d
from bokeh.plotting import figure

from cqp_metrics.catalogue import ending_within, matching

from ..components import ACCENT, data_table, in_words, no_data, rate_trend, secret_legend
from ..figures import new_figure
from ..i18n import say
from .base import Page

COLUMNS = {"cqp_code": "CQP", "title": "Intitulé", "branch_codes": "Branches",
           "recognition": "Reconnaissance", "rncp_code": "Code", "valid_until": "Fin",
           "months_left": "Mois restants"}


ENDING = "Enregistrements qui prennent fin d'ici {months} mois"
ADMINISTRATORS_ONLY = ("La liste nomme les CQP de toutes les branches : elle est réservée aux "
                       "administrateurs.")
NOT_IMPORTED = "Catalogue national non importé (« cqp-metrics import-certifinfo »)."


def register_bars(counts: pd.Series, language: str = "fr") -> figure:
    """The number of CQPs under each register today (``counts``: by register, in order)."""
    registers = [str(r) for r in counts.index]
    plot = new_figure(say("CQP par registre aujourd'hui", language), height=280,
                      x_range=FactorRange(*registers),
                      y_range=Range1d(0, max(1, int(counts.max())) * 1.08),
                      x_axis_label=say("Registre", language), y_axis_label="CQP")
    plot.xgrid.grid_line_color = None
    source = ColumnDataSource({"registre": registers, "cqp": counts.to_numpy()})
    bars = plot.vbar(x="registre", top="cqp", width=0.7, source=source, fill_color=ACCENT,
                     line_color=ACCENT)
    plot.add_tools(HoverTool(renderers=[bars], tooltips=[
        (say("Registre", language), "@registre"), ("CQP", "@cqp")]))
    return plot


class RecognitionPage(Page):
    title_fr, title_en, slug = "Reconnaissance", "Recognition", "recognition"

    def render(self, where: dict, years: tuple) -> pn.viewable.Viewable:
        language = self.language
        by_year = self.source.table(by=("year",), where=where, years=years,
                                    names=["recognition_rate", "rncp_coverage"])
        catalogue = matching(self.source.certifications(), where)
        counts = catalogue["recognition"].value_counts().reindex(
            ["RNCP", "RS", "branche seule"], fill_value=0)
        registers = pn.pane.Bokeh(register_bars(counts, language),
                                  sizing_mode="stretch_width")
        soon = []
        for months in (12, 24):
            ending = ending_within(catalogue, months)[list(COLUMNS)].rename(columns=COLUMNS)
            heading = say(ENDING, language).format(months=months)
            soon.append(pn.Column(
                f"### {heading}", data_table(in_words(ending, language), heading)
                if len(ending)
                else no_data(say("aucun enregistrement ne prend fin", language), language),
                sizing_mode="stretch_width"))
        never = catalogue[~catalogue["ever_registered"]][["cqp_code", "title", "branch_codes"]]
        national = self.source.catalogue("certifinfo")
        if len(national):
            shares = national["recognition"].value_counts()
            summary = ", ".join(f"{shares.get(k, 0)} {k.replace('_', ' ')}"
                                for k in ("RNCP", "RS", "branche_seule"))
            heading = (f"### {say('Catalogue national des CQP (Certif Info)', language)} : "
                       f"{len(national)} CQP — {summary}")
            if "title" in national:  # the list itself: administrators only (every branch)
                listed = national.rename(columns={
                    "code_diplome": "Code Certif Info", "title": "Intitulé",
                    "recognition": "Reconnaissance", "rncp_code": "Code", "level": "Niveau",
                    "valideur": "Valideur"})
                certifinfo = pn.Column(heading, data_table(in_words(listed, language),
                                                           "Catalogue Certif Info"),
                                       sizing_mode="stretch_width")
            else:
                certifinfo = pn.Column(heading, pn.pane.Markdown(
                    f"<small>{say(ADMINISTRATORS_ONLY, language)}</small>"),
                    sizing_mode="stretch_width")
        else:
            certifinfo = pn.pane.Markdown(f"<small>{say(NOT_IMPORTED, language)}</small>")
        return pn.Column(
            pn.Row(rate_trend(by_year, "recognition_rate", language=self.language),
                   rate_trend(by_year, "rncp_coverage", language=self.language),
                   sizing_mode="stretch_width"),
            # the registration tables get the page's width: every column shows at 1440 px
            pn.Row(registers, pn.Column(
                f"### {say('CQP jamais enregistrés', language)}",
                data_table(in_words(never.rename(columns=COLUMNS), language),
                           say("CQP jamais enregistrés", language))
                if len(never) else no_data(language=language), sizing_mode="stretch_width"),
                sizing_mode="stretch_width"),
            *soon,
            certifinfo, secret_legend(by_year, self.language), sizing_mode="stretch_width")

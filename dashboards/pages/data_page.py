"""Données: the indicator table at any cut, with CSV and Excel downloads of what it shows."""

from __future__ import annotations

import datetime as dt
import html
import io
import logging

import panel as pn
import param

from cqp_metrics.dimensions import DIMENSIONS
from cqp_metrics.query import QueryError
from cqp_metrics.registry import label

from ..auth import audit_download
from ..i18n import say
from ..report import ReportError, build
from .base import Page

log = logging.getLogger("dashboards")

CUTS = [d for d in DIMENSIONS if d != "block_code"]


class DataPage(Page):
    """Made once per session; a filter or a cut changes the table in place."""

    title_fr, title_en, slug = "Données", "Data", "data"

    by = param.ListSelector(default=["year"], objects=CUTS, doc="Dimensions of the table.")
    totals = param.Boolean(default=False, doc="Add total rows over the last dimension.")
    url_parameters = ("by", "totals")

    def controls(self) -> list:
        # Check boxes and a toggle button: each has its own accessible name, Tab and Space
        # operate them (a choices list does not, for screen readers).
        cuts = pn.widgets.CheckBoxGroup.from_param(
            self.param.by, name=say("Découpage", self.language),
            options={label(d, self.language): d for d in CUTS}, inline=True,
            sizing_mode="stretch_width")
        totals = pn.widgets.Toggle.from_param(self.param.totals,
                                              name=say("Lignes de total", self.language),
                                              color="primary", variant="outline",
                                              width=150)
        report = pn.widgets.FileDownload(
            callback=self.report_bytes, filename=f"rapport_cqp_{dt.date.today()}.html",
            label=say("Rapport (HTML, pour ces filtres)", self.language), color="primary",
            variant="outline", css_classes=["download-report"])
        heading = say("**Découpage** (une ligne par combinaison des dimensions cochées)",
                      self.language)
        return [pn.pane.Markdown(heading, margin=(0, 10)), cuts, pn.Row(totals, report)]

    def report_bytes(self) -> io.BytesIO:
        """The annual report for the current filters, as one self-contained HTML file (a
        page that says why when it cannot be made)."""
        state = self.filters.state()
        years, scope = state["years"], self.source.scope
        try:
            made = build(self.source.engine(), state["where"], years[1],
                         None if scope is None else sorted(scope),
                         "Rapport des CQP — sélection du tableau de bord", since=years[0])
            text = made.html
            audit_download("rapport", self.filters.description(), "html", len(made.sections))
        except (ReportError, QueryError) as error:
            text = _message_page(f"Rapport impossible pour ces filtres : {error}.")
        except Exception:  # never a traceback in a downloaded file
            log.exception("report failed")
            text = _message_page("Rapport impossible pour le moment : l'incident est consigné "
                                 "dans le journal du serveur.")
        return io.BytesIO(text.encode("utf-8"))

    def refs(self) -> list:
        return [*super().refs(), self.param.by, self.param.totals]

    def _make(self) -> None:
        self._view = self.table_view()

    def requests(self, where: dict, years: tuple) -> dict:
        return {"table": self.source.request(by=tuple(self.by), where=where, years=years)}

    def answers(self, requests: dict) -> dict:
        """With the total rows when they are asked for (a table of its own in the cache)."""
        return self.source.answers(requests, self.totals)

    def has_answers(self, requests: dict) -> bool:
        return self.source.has_answers(requests, self.totals)

    def draw(self, tables: dict, where: dict, years: tuple) -> pn.viewable.Viewable:
        table = tables["table"]
        self._view.show(table, name="indicateurs_cqp")
        return self._view.__panel__()


def _message_page(message: str) -> str:
    return (f'<!DOCTYPE html><html lang="fr"><meta charset="utf-8"><title>Rapport</title>'
            f"<p>{html.escape(message)}</p></html>")

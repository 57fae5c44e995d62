"""Données: the indicator table at any cut, with CSV and Excel downloads of what it shows."""

from __future__ import annotations

import panel as pn
import param

from cqp_metrics.dimensions import DIMENSIONS
from cqp_metrics.registry import label

from .base import Page

CUTS = [d for d in DIMENSIONS if d != "block_code"]


class DataPage(Page):
    title_fr, title_en, slug = "Données", "Data", "data"

    by = param.ListSelector(default=["year"], objects=CUTS, doc="Dimensions of the table.")
    totals = param.Boolean(default=False, doc="Add total rows over the last dimension.")
    url_parameters = ("by", "totals")

    def controls(self) -> list:
        cuts = pn.widgets.MultiChoice.from_param(
            self.param.by, name="Découpage", options={label(d): d for d in CUTS}, width=420)
        totals = pn.widgets.Checkbox.from_param(self.param.totals, name="Lignes de total")
        return [pn.Row(cuts, totals)]

    def refs(self) -> list:
        return [*super().refs(), self.param.by, self.param.totals]

    def render(self, where: dict, years: tuple) -> pn.viewable.Viewable:
        table = self.source.table(by=tuple(self.by), where=where, years=years,
                                  totals=self.totals)
        return self.table_view().view(table, name="indicateurs_cqp")

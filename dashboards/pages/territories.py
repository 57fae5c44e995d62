"""Territoires: volumes and rates on a tile grid of the 18 regions (offline, overseas shown)."""

from __future__ import annotations

import panel as pn
import param

from cqp_metrics.registry import label

from .. import asks
from ..charts.regions import TileFigure
from ..components import LiveChart, no_data
from ..i18n import say
from .base import Page


class TerritoriesPage(Page):
    """Made once per session; a filter change, or another indicator, redraws its map and
    table in place."""

    title_fr, title_en, slug = "Territoires", "Territories", "territories"

    indicator = param.Selector(default="enrolments", objects=list(asks.TERRITORIES),
                               doc="What the map shows.")
    url_parameters = ("indicator",)

    def controls(self) -> list:
        return [pn.widgets.Select.from_param(
            self.param.indicator, name=say("Indicateur", self.language),
            description=say("Ce que la carte montre par région.", self.language),
            options={label(n, self.language): n for n in asks.TERRITORIES}, width=300)]

    def refs(self) -> list:
        return [*super().refs(), self.param.indicator]

    def _make(self) -> None:
        self._map = LiveChart(TileFigure(self.language), [self.indicator], self.language,
                              by=None)
        self._view = self.table_view()
        self._shown = pn.Row(self._map, self._view, sizing_mode="stretch_width")

    def requests(self, where: dict, years: tuple) -> dict:
        return asks.territories(self.source.request, where, years)

    def draw(self, tables: dict, where: dict, years: tuple) -> pn.viewable.Viewable:
        table = tables["regions"]
        if table.values.empty:
            return no_data(language=self.language)
        self._map.show(table, self.indicator, names=[self.indicator])
        self._view.show(table, name="territoires")
        return self._shown

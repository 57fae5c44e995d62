"""A median duration by year, in months, from zero."""

from __future__ import annotations

import pandas as pd
from bokeh.models import (
    ColumnDataSource,
    HoverTool,
)

from cqp_metrics.api import IndicatorTable
from cqp_metrics.kinds import DAYS_PER_MONTH
from cqp_metrics.registry import label

from ..i18n import say
from .base import (
    ACCENT,
    YearFigure,
    columns_of,
    years_only,
)


def duration_trend_data(table: IndicatorTable, name: str) -> pd.DataFrame | None:
    """What a duration's trend draws: by year, the median in months and its French text; a
    hidden year stays in, as NaN. None when nothing can be drawn."""
    frame = years_only(table.masked(), "year")
    if frame[name].isna().all():
        return None
    months = frame[name] / DAYS_PER_MONTH
    return pd.DataFrame({"year": frame["year"].astype(int), "mois": months,
                         "texte": months.map(lambda m: "" if pd.isna(m) else
                                             f"{m:.1f} mois".replace(".", ","))})


class DurationTrendFigure(YearFigure):
    """A median duration by year, in months, from zero; a hidden year is a gap."""

    def __init__(self, name: str, language: str = "fr") -> None:
        super().__init__(f"{label(name, language)} {say('(en mois)', language)}",
                         say("mois", language), language)
        self.name = name
        self.source = ColumnDataSource({"year": [], "mois": [], "texte": []})
        self.figure.line("year", "mois", source=self.source, line_color=ACCENT, line_width=2)
        points = self.figure.scatter("year", "mois", source=self.source, size=7, color=ACCENT)
        self.figure.add_tools(HoverTool(renderers=[points], tooltips=[
            (label("year", language), "@year"), (label(name, language), "@texte")]))

    def update(self, table: IndicatorTable) -> bool:
        """Show ``table``'s durations by year; False when there is nothing to draw."""
        data = duration_trend_data(table, self.name)
        if data is None:
            return False
        self.source.data = columns_of(data)
        self._frame(table, data["year"], data["mois"].max())
        return True

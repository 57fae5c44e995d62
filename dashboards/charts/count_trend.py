"""Counts by year, one line each; a hidden year is a gap in its line."""

from __future__ import annotations

import pandas as pd
from bokeh.models import ColumnDataSource, HoverTool, Legend, LegendItem, Line, Scatter

from cqp_metrics.api import IndicatorTable
from cqp_metrics.formatting import fr_int
from cqp_metrics.registry import label

from ..i18n import say
from .base import (
    COUNT_COLOURS,
    YearFigure,
    columns_of,
    draw,
)


def count_trend_data(table: IndicatorTable, names: list[str]
                     ) -> dict[str, pd.DataFrame] | None:
    """What a count trend draws: for each name (hidden ones too, as NaN: a gap), the count by
    year and its French text. None when no count is shown."""
    frame = table.masked()
    if not frame[names].notna().any().any():
        return None
    return {n: pd.DataFrame({"year": frame["year"].astype(int), "effectif": frame[n],
                             "texte": frame[n].map(fr_int)}) for n in names}


class CountTrendFigure(YearFigure):
    """Counts by year, one line each, from zero; a hidden year is a gap in its line."""

    def __init__(self, names: list[str], language: str = "fr") -> None:
        super().__init__(say("Volumes par année", language), say("Effectif", language),
                         language)
        self.names = names
        self.sources: dict[str, ColumnDataSource] = {}
        items = []
        for name, colour in zip(names, COUNT_COLOURS, strict=False):
            source = ColumnDataSource({"year": [], "effectif": [], "texte": []})
            words = label(name, language)
            line, points = draw(
                self.figure, source,
                Line(x="year", y="effectif", line_color=colour, line_width=2),
                Scatter(x="year", y="effectif", size=6, fill_color=colour, line_color=colour))
            self.figure.add_tools(HoverTool(renderers=[points], tooltips=[
                (label("year", language), "@year"), (words, "@texte")]))
            items.append(LegendItem(label=words, renderers=[line, points]))
            self.sources[name] = source
        # above the lines, in one row: inside, it hid the first years' points
        self.figure.add_layout(Legend(items=items, orientation="horizontal",
                                      label_text_font_size="9pt", padding=2, margin=0,
                                      border_line_alpha=0), "above")

    def update(self, table: IndicatorTable) -> bool:
        """Show ``table``'s counts by year; False when none can be shown."""
        data = count_trend_data(table, self.names)
        if data is None:
            return False
        for name, source in self.sources.items():
            source.data = columns_of(data[name])
        counts = pd.concat([frame["effectif"] for frame in data.values()])
        top = counts.max()
        self._frame(table, next(iter(data.values()))["year"], 0 if pd.isna(top) else top)
        return True

"""A share by year with its 95 % interval as a band (none for a census); a hidden year is a
gap in the line."""

from __future__ import annotations

import pandas as pd
from bokeh.models import ColumnDataSource, HoverTool, Line, Scatter, VArea

from cqp_metrics.api import IndicatorTable
from cqp_metrics.registry import BY_NAME, label

from .base import (
    ACCENT,
    YearFigure,
    columns_of,
    draw,
    share_columns,
    years_only,
)


def rate_trend_data(table: IndicatorTable, name: str, by: str = "year"
                    ) -> pd.DataFrame | None:
    """What a share's trend draws: by year, the share and its 95 % bounds in %, and their
    French texts; a hidden or undefined year stays in, as NaN, so that the line does not join
    across it. None when nothing can be drawn."""
    frame = years_only(table.masked(), by)
    if frame[name].isna().all():
        return None
    return pd.DataFrame({by: frame[by].astype(int), **share_columns(frame, name)})


class RateTrendFigure(YearFigure):
    """A share over the years, in %, with its 95 % interval as a band (not for a census);
    a hidden year is a gap in the line."""

    def __init__(self, name: str, language: str = "fr") -> None:
        super().__init__(label(name, language), "%", language, y_range=(0, 100))
        self.name = name
        self.source = ColumnDataSource({c: [] for c in ("year", "taux", "bas", "haut",
                                                        "texte", "ic")})
        tips = [(label("year", language), "@year"), (label(name, language), "@texte")]
        band = []
        if getattr(BY_NAME[name], "secret", True):  # a census has no interval
            band = [VArea(x="year", y1="bas", y2="haut", fill_color=ACCENT, fill_alpha=0.25)]
            tips.append(("IC 95 %", "@ic"))
        *_, points = draw(self.figure, self.source, *band,
                          Line(x="year", y="taux", line_color=ACCENT, line_width=2),
                          Scatter(x="year", y="taux", size=7, fill_color=ACCENT,
                                  line_color=ACCENT))
        self.figure.add_tools(HoverTool(renderers=[points], tooltips=tips))

    def update(self, table: IndicatorTable) -> bool:
        """Show ``table``'s share by year; False when there is nothing to draw."""
        data = rate_trend_data(table, self.name)
        if data is None:
            return False
        self.source.data = columns_of(data)
        self._frame(table, data["year"], 100)
        return True

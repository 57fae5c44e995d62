"""A share by category, one bar each with its 95 % interval."""

from __future__ import annotations

import math

import pandas as pd
from bokeh.models import (
    ColumnDataSource,
    FactorRange,
    HoverTool,
    Range1d,
    Whisker,
)

from cqp_metrics.api import IndicatorTable
from cqp_metrics.registry import label

from ..i18n import say
from .base import (
    ACCENT,
    category_text,
    columns_of,
    new_figure,
    share_columns,
    without_grid,
)


def rate_bars_data(table: IndicatorTable, name: str, by: str, labels: dict | None = None
                   ) -> pd.DataFrame | None:
    """What a share by category draws: each shown category (in the table's order) with its
    share and 95 % bounds in %, and their French texts; hidden and undefined categories are
    left out (:func:`~dashboards.components.hidden_note_html` names them). None when none is
    shown."""
    frame = table.masked()
    frame = frame[frame[name].notna()]
    if frame.empty:
        return None
    seen: dict[str, int] = {}
    categories = []
    for value in frame[by]:  # the axis needs distinct names, whatever the labels make
        text = category_text(value, labels)
        seen[text] = seen.get(text, 0) + 1
        categories.append(text if seen[text] == 1 else f"{text} ({seen[text]})")
    return pd.DataFrame({"categorie": categories, **share_columns(frame, name)})


class RateBarsFigure:
    """A share by category, in %, one bar each with its 95 % interval as whiskers; the
    categories' names are text (an axis label, a hover field), never markup; ``labels`` names
    the categories people read."""

    def __init__(self, name: str, by: str, language: str = "fr",
                 title: str | None = None, labels: dict | None = None) -> None:
        self.name, self.by, self.labels = name, by, labels
        self.figure = new_figure(
            title or f"{label(name, language)} {say('par', language)} "
                     f"{label(by, language).lower()}",
            x_range=FactorRange(), y_range=Range1d(0, 100), y_axis_label="%")
        without_grid(self.figure, 0)
        self.source = ColumnDataSource({c: [] for c in ("categorie", "taux", "bas", "haut",
                                                        "texte", "ic")})
        bars = self.figure.vbar(x="categorie", top="taux", width=0.7, source=self.source,
                                fill_color=ACCENT, fill_alpha=0.8, line_color=ACCENT)
        self.figure.add_layout(Whisker(base="categorie", lower="bas", upper="haut",
                                       source=self.source, line_color="black"))
        self.figure.add_tools(HoverTool(renderers=[bars], tooltips=[
            (label(by, language), "@categorie"), (label(name, language), "@texte"),
            ("IC 95 %", "@ic")]))

    def update(self, table: IndicatorTable) -> bool:
        """Show ``table``'s shares by category (named through the figure's ``labels``);
        False when none is shown."""
        data = rate_bars_data(table, self.name, self.by, self.labels)
        if data is None:
            return False
        self.source.data = columns_of(data)
        self.figure.x_range.factors = list(data["categorie"])
        self.figure.xaxis.major_label_orientation = math.pi / 6 if len(data) > 6 else 0
        return True

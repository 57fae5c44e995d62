"""Counts by step as horizontal bars, the first step on top (a funnel)."""

from __future__ import annotations

import pandas as pd
from bokeh.models import (
    ColumnDataSource,
    FactorRange,
    HoverTool,
    Range1d,
)

from .base import (
    ACCENT,
    columns_of,
    new_figure,
    set_range,
    without_grid,
)


class StepBarsFigure:
    """Counts by step as horizontal bars, the first step on top (a funnel); a step under
    secret has no bar, its label says « secret »."""

    def __init__(self, title: str, step_label: str, count_label: str) -> None:
        self.figure = new_figure(title, french="x", y_range=FactorRange(),
                                 x_range=Range1d(0, 1), x_axis_label=count_label)
        without_grid(self.figure, 1)
        self.source = ColumnDataSource({"étape": [], "effectif": [], "texte": []})
        bars = self.figure.hbar(y="étape", right="effectif", height=0.8, source=self.source,
                                fill_color=ACCENT, line_color=ACCENT)
        self.figure.add_tools(HoverTool(renderers=[bars], tooltips=[
            (step_label, "@{étape}"), (count_label, "@texte")]))

    def update(self, steps: pd.DataFrame) -> None:
        """Show ``steps`` (columns ``étape``, ``effectif``, ``texte``; last step first)."""
        self.source.data = columns_of(steps)
        self.figure.y_range.factors = list(steps["étape"])
        top = steps["effectif"].max()
        set_range(self.figure.x_range, 0, top * 1.08 if top > 0 else 1)

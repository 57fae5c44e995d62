"""The number of CQPs under each register today."""

from __future__ import annotations

import pandas as pd
from bokeh.models import (
    ColumnDataSource,
    FactorRange,
    HoverTool,
    Range1d,
)
from bokeh.plotting import figure

from ..i18n import say
from .base import (
    ACCENT,
    new_figure,
    without_grid,
)


class RegisterFigure:
    """The number of CQPs under each register today, one bar each; made once."""

    def __init__(self, language: str = "fr") -> None:
        self.figure = plot = new_figure(
            say("CQP par registre aujourd'hui", language), height=280, x_range=FactorRange(),
            y_range=Range1d(0, 1), x_axis_label=say("Registre", language), y_axis_label="CQP")
        without_grid(plot, 0)
        self.source = ColumnDataSource({"registre": [], "cqp": []})
        bars = plot.vbar(x="registre", top="cqp", width=0.7, source=self.source,
                         fill_color=ACCENT, line_color=ACCENT)
        plot.add_tools(HoverTool(renderers=[bars], tooltips=[
            (say("Registre", language), "@registre"), ("CQP", "@cqp")]))

    def update(self, counts: pd.Series) -> None:
        """Show ``counts`` (by register, in order)."""
        registers = [str(r) for r in counts.index]
        self.source.data = {"registre": registers, "cqp": counts.to_numpy()}
        self.figure.x_range.factors = registers
        top = max(1, int(counts.max())) * 1.08
        self.figure.y_range.update(start=0, end=top, reset_start=0, reset_end=top)


def register_bars(counts: pd.Series, language: str = "fr") -> figure:
    """:class:`RegisterFigure` drawing ``counts`` once (its Bokeh figure)."""
    drawn = RegisterFigure(language)
    drawn.update(counts)
    return drawn.figure

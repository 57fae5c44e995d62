"""Each competence block's pass rate by referential version, with its interval."""

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
from bokeh.palettes import Category10
from bokeh.plotting import figure
from bokeh.transform import factor_cmap

from ..i18n import say
from .base import (
    columns_of,
    new_figure,
    share_columns,
    without_grid,
)


def blocks_data(shown: pd.DataFrame) -> pd.DataFrame:
    """What the blocks chart draws (``shown``: the masked table by (referential_version,
    block_code), hidden rates dropped): one bar per block and version, ``bloc · vN``, in %
    with its bounds and French texts, ordered by block then version."""
    data = pd.DataFrame({
        "version": shown["referential_version"].fillna("?").astype(str).to_numpy(),
        "block_code": shown["block_code"].astype(str).to_numpy(),
        **share_columns(shown, "block_pass_rate")})
    data["bloc"] = data["block_code"] + " · v" + data["version"]
    return data.sort_values(["block_code", "version"]).reset_index(drop=True)


class BlocksFigure:
    """Each block's pass rate by referential version with its interval as whiskers, one
    colour per version."""

    def __init__(self, language: str = "fr") -> None:
        self.figure = plot = new_figure(
            say("Blocs : taux d'acquisition par version (IC 95 %)", language), height=380,
            x_range=FactorRange(), y_range=Range1d(0, 100), y_axis_label="%")
        without_grid(plot, 0)
        plot.xaxis.major_label_orientation = math.pi / 6
        self.source = ColumnDataSource({c: [] for c in (
            "version", "block_code", "taux", "bas", "haut", "texte", "ic", "bloc")})
        self.colours = factor_cmap("version", list(Category10[10]), [])
        bars = plot.vbar(x="bloc", top="taux", width=0.8, source=self.source,
                         legend_field="version", fill_color=self.colours, line_color=None)
        plot.add_layout(Whisker(base="bloc", lower="bas", upper="haut", source=self.source,
                                line_color="black"))
        plot.add_tools(HoverTool(renderers=[bars], tooltips=[
            (say("Bloc", language), "@bloc"), (say("Taux d'acquisition", language), "@texte"),
            (say("IC 95 %", language), "@ic")]))
        legend = plot.legend[0]
        legend.update(orientation="horizontal", border_line_alpha=0, label_text_font_size="9pt")
        plot.add_layout(legend, "below")

    def draw(self, shown: pd.DataFrame) -> None:
        """Show ``shown`` (the masked table by version and block, hidden rates dropped)."""
        data = blocks_data(shown)
        versions = sorted(data["version"].unique())
        self.colours["transform"].update(
            factors=versions, palette=[Category10[10][i % 10] for i in range(len(versions))])
        self.source.data = columns_of(data)
        self.figure.x_range.factors = list(data["bloc"])

    def update(self, blocks) -> bool:
        """Show ``blocks`` (a table by version and block); False when every rate is hidden
        or there is none."""
        shown = blocks.masked().dropna(subset=["block_pass_rate"])
        if shown.empty:
            return False
        self.draw(shown)
        return True


def blocks_figure(shown: pd.DataFrame, language: str = "fr") -> figure:
    """:class:`BlocksFigure` drawing ``shown`` once (its Bokeh figure)."""
    drawn = BlocksFigure(language)
    drawn.draw(shown)
    return drawn.figure

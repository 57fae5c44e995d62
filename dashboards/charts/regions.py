"""The 18 regions on a tile grid (offline, overseas on the bottom row)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    HoverTool,
    LabelSet,
    LinearColorMapper,
    Range1d,
)
from bokeh.palettes import Blues256
from bokeh.plotting import figure

from cqp_metrics.codes import REGIONS
from cqp_metrics.registry import BY_NAME, label

from ..i18n import say
from .base import (
    columns_of,
    fr_axis,
)

#: Column, row of each region on the grid; overseas regions on the bottom row.
TILES = {"32": (2, 0), "53": (0, 1), "28": (1, 1), "11": (2, 1), "44": (3, 1), "52": (0, 2),
         "24": (1, 2), "27": (2, 2), "75": (1, 3), "84": (2, 3), "76": (1, 4), "93": (2, 4),
         "94": (3, 4), "01": (0, 6), "02": (1, 6), "03": (2, 6), "04": (3, 6), "06": (4, 6)}


SHORT = {"32": "HdF", "53": "BRE", "28": "NOR", "11": "IdF", "44": "GES", "52": "PdL",
         "24": "CVL", "27": "BFC", "75": "NAQ", "84": "ARA", "76": "OCC", "93": "PACA",
         "94": "COR", "01": "GUA", "02": "MAR", "03": "GUY", "04": "RÉU", "06": "MAY"}


#: The tiles' colours, light for the smallest value (the page's map and the report's).
PALETTE = list(reversed(Blues256))


@dataclass
class Tiles:
    """What the map draws: one tile per region (``x0``…``y1``, its value, in % for a share,
    NaN when hidden or missing, its French text, its name and abbreviation, where its two
    labels go), and which tiles are dark enough to need white labels."""

    data: pd.DataFrame
    dark: pd.Series
    share: bool


def tiles(table, name: str) -> Tiles:
    """The tiles of ``name`` by region: the map's data, for the page and the report."""
    values = table.masked().set_index("region_code")[name]
    shown = table.published().set_index("region_code")[name]
    rows = []
    share = BY_NAME[name].unit == "share"
    for code, (x, y) in TILES.items():
        value = values.get(code)
        text = BY_NAME[name].text(shown.get(code, ""))
        rows.append({"x0": x, "y0": -y, "x1": x + 0.95, "y1": -y + 0.95, "code": code,
                     "région": REGIONS[code], "valeur": value * 100 if share and
                     value is not None and pd.notna(value) else value,
                     "texte": text or "—", "lx": x + 0.475, "ly": -y + 0.6,
                     "vx": x + 0.475, "vy": -y + 0.3, "abbr": SHORT[code]})
    data = pd.DataFrame(rows)
    data["valeur"] = pd.to_numeric(data["valeur"], errors="coerce").astype(float)
    # white where it contrasts more than black with the tile's own colour (AA on every tile)
    scale = data["valeur"]
    low, high = scale.min(), scale.max()
    dark = scale.map(lambda v: pd.notna(v) and _contrast("#ffffff", _fill(v, low, high))
                     > _contrast("#000000", _fill(v, low, high)))
    return Tiles(data, dark.fillna(False).astype(bool), share)


def _fill(value: float, low: float, high: float) -> str:
    """The tile's colour, as a linear colour mapper places ``value`` on :data:`PALETTE`."""
    if not high > low:
        return PALETTE[0]
    at = int((value - low) / (high - low) * len(PALETTE))
    return PALETTE[min(max(at, 0), len(PALETTE) - 1)]


def _luminance(colour: str) -> float:
    """WCAG's relative luminance of ``#rrggbb``."""
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _title(name: str, language: str) -> str:
    return f"{label(name, language)} {say('par région (Outre-mer en bas)', language)}"


class TileFigure:
    """The map as a Bokeh figure, for the page, made once: the tiles coloured on the Blues
    scale over the shown values (grey when hidden or missing), with its colour bar; each
    tile's abbreviation and value in black, or white where it contrasts more."""

    def __init__(self, language: str = "fr") -> None:
        self.language = language
        self.figure = plot = figure(height=460, width=520, toolbar_location=None, tools="",
                                    x_range=Range1d(-0.1, 5.1), y_range=Range1d(-6.1, 1.0))
        plot.axis.visible = False
        plot.grid.grid_line_color = None
        plot.outline_line_color = None
        self.mapper = LinearColorMapper(palette=PALETTE, nan_color="#dddddd")
        self.source = ColumnDataSource({c: [] for c in (
            "x0", "y0", "x1", "y1", "code", "région", "valeur", "texte", "lx", "ly", "vx", "vy",
            "abbr")})
        quads = plot.quad(left="x0", right="x1", bottom="y0", top="y1", source=self.source,
                          fill_color={"field": "valeur", "transform": self.mapper},
                          line_color="white")
        self.hover = HoverTool(renderers=[quads])
        plot.add_tools(self.hover)
        self.labels = {}  # on a dark tile or not: the labels' source
        for on_dark in (False, True):
            labels = ColumnDataSource({c: [] for c in ("lx", "ly", "vx", "vy", "abbr",
                                                       "texte")})
            colour = "white" if on_dark else "black"
            plot.add_layout(LabelSet(x="lx", y="ly", text="abbr", source=labels,
                                     text_font_size="10pt", text_color=colour,
                                     text_align="center", text_baseline="middle"))
            plot.add_layout(LabelSet(x="vx", y="vy", text="texte", source=labels,
                                     text_font_size="9pt", text_color=colour,
                                     text_align="center", text_baseline="middle"))
            self.labels[on_dark] = labels
        self.bar = ColorBar(color_mapper=self.mapper, formatter=fr_axis())
        plot.add_layout(self.bar, "right")

    def update(self, table, name: str) -> bool:
        """Show ``name`` by region from ``table``; False when the table has no region."""
        if table.values.empty:
            return False
        language = self.language
        shape = tiles(table, name)
        data, values = shape.data, shape.data["valeur"]
        self.figure.title.text = _title(name, language)
        self.hover.tooltips = [(say("Région", language), "@{région}"),
                               (label(name, language), "@texte")]
        shown = values.notna().any()
        self.mapper.update(low=float(values.min()) if shown else 0.0,
                           high=float(values.max()) if shown else 1.0)
        self.bar.title = label(name, language) + (" (%)" if shape.share else "")
        self.source.data = columns_of(data)
        for on_dark, labels in self.labels.items():
            labels.data = columns_of(data[shape.dark == on_dark][
                ["lx", "ly", "vx", "vy", "abbr", "texte"]])
        return True


def tile_figure(table, name: str, language: str = "fr") -> figure:
    """:class:`TileFigure` drawing ``name`` once (its Bokeh figure)."""
    drawn = TileFigure(language)
    drawn.update(table, name)
    return drawn.figure

"""Holders' insertion by promotion: a rate raw and corrected for non-response."""

from __future__ import annotations

import pandas as pd
from bokeh.models import (
    ColumnDataSource,
    HoverTool,
    Legend,
    LegendItem,
)

from ..i18n import say
from .base import (
    COUNT_COLOURS,
    YearFigure,
    columns_of,
    share_columns,
)

TITLES = {"employment": "Taux d'emploi par promotion",
          "target_job": "Taux d'emploi dans le métier visé par promotion"}


SERIES = {"raw": "Répondants", "adjusted": "Corrigé de la non-réponse"}


class RawAndAdjustedFigure(YearFigure):
    """A rate by promotion and the same rate corrected for non-response, side by side, each
    with its 95 % interval as a band; at 24 months (no correction), the raw rate alone."""

    def __init__(self, kind: str, language: str = "fr") -> None:
        self.kind, self.language = kind, language
        super().__init__(say(TITLES[kind], language), "%", language, y_range=(0, 100))
        self.sources, items = {}, []
        for key, colour in zip(("raw", "adjusted"), COUNT_COLOURS, strict=False):
            source = ColumnDataSource({c: [] for c in ("year", "taux", "bas", "haut",
                                                       "texte", "ic")})
            band = self.figure.varea("year", "bas", "haut", source=source, fill_color=colour,
                                     fill_alpha=0.18)
            line = self.figure.line("year", "taux", source=source, line_color=colour,
                                    line_width=2, line_dash="solid" if key == "raw" else "dashed")
            points = self.figure.scatter("year", "taux", source=source, size=7, color=colour,
                                         marker="circle" if key == "raw" else "square")
            words = say(SERIES[key], language)
            self.figure.add_tools(HoverTool(renderers=[points], tooltips=[
                (say("Promotion", language), "@year"), (words, "@texte"),
                ("IC 95 %", "@ic")]))
            items.append(LegendItem(label=words, renderers=[line, points, band]))
            self.sources[key] = source
        legend = Legend(items=items, orientation="horizontal", label_text_font_size="9pt",
                        padding=2, margin=0, border_line_alpha=0)
        self.figure.add_layout(legend, "above")

    def update(self, table, h: int) -> bool:
        """Draw the promotions of ``table`` at ``h`` months; False when nothing is shown."""
        frame = table.masked()
        frame = frame[frame["year"].map(lambda y: not isinstance(y, str) and pd.notna(y))]
        names = {"raw": f"{self.kind}_rate_{h}m", "adjusted": f"{self.kind}_rate_{h}m_adjusted"}
        drawn = False
        for key, source in self.sources.items():
            name = names[key]
            if name not in frame or frame[name].isna().all():
                source.data = {c: [] for c in source.data}
                continue
            source.data = columns_of(pd.DataFrame({"year": frame["year"].astype(int),
                                                   **share_columns(frame, name)}))
            drawn = True
        if drawn:
            self._frame(table, frame["year"].astype(int), 100)
        return drawn

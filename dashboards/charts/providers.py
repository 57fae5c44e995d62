"""Training providers on a funnel plot: their full-validation rate against their volume,
inside 95 % and 99.8 % limits around the overall rate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from bokeh.models import (
    ColumnDataSource,
    HoverTool,
    LabelSet,
    Range1d,
)
from bokeh.plotting import figure

from cqp_metrics.formatting import fr_int, fr_pct
from cqp_metrics.stats import Z95, funnel_half_width, outside_funnel

from ..i18n import say
from .base import (
    ACCENT,
    ZOOM_TOOLS,
    columns_of,
    new_figure,
)


@dataclass
class FunnelData:
    """What a providers' funnel plot draws, in % (one computation for the page, the report
    and the notebooks)."""

    #: One row per provider: juries, organisme, taux, texte (the rate), volume (juries).
    points: pd.DataFrame
    #: (legend, dash, volumes, upper limit, lower limit) at 95 % and 99.8 %.
    limits: list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]]
    #: The overall rate's legend and value.
    overall: tuple[str, float]
    #: The providers outside the 95 % limits, above then below, each with ``ly``, where its
    #: name is written (staggered by three heights, so that neighbours do not overprint).
    named: list[tuple[bool, pd.DataFrame]]
    #: The rates' axis.
    y_range: tuple[float, float]


def funnel_data(frame: pd.DataFrame, overall: float, language: str = "fr") -> FunnelData:
    """Providers' full-validation rate against their volume, inside 95 % and 99.8 % limits
    around the overall rate; the providers outside the 95 % limits to be named."""
    outside = outside_funnel(frame["full_rate"], frame["juries"], overall)
    points = pd.DataFrame({"juries": frame["juries"].astype(float).to_numpy(),
                           "organisme": frame["provider_id"].astype(str).to_numpy(),
                           "taux": (frame["full_rate"] * 100).to_numpy(),
                           "texte": frame["full_rate"].map(fr_pct).to_numpy(),
                           "volume": frame["juries"].map(fr_int).to_numpy()})
    n = np.linspace(max(points["juries"].min() * 0.8, 5), points["juries"].max() * 1.1, 100)
    limits = []
    for z, dash, name in ((Z95, "dashed", "limites à 95 %"), (3.09, "dotted",
                                                              "limites à 99,8 %")):
        half = funnel_half_width(overall, n, z) * 100
        limits.append((say(name, language), dash, n,
                       np.clip(overall * 100 + half, 0, 100),
                       np.clip(overall * 100 - half, 0, 100)))
    named_rows = points[outside.to_numpy()].sort_values("juries")
    named = []
    for above in (True, False):
        side = named_rows[(named_rows["taux"] > overall * 100) == above]
        if not side.empty:
            step = np.arange(len(side)) % 3 * 5 + 3
            named.append((above, side.assign(ly=side["taux"] + (step if above else -step))))
    low = max(0.0, min(points["taux"].min(), overall * 100 - 15) - 20)
    high = min(100.0, max(points["taux"].max(), overall * 100 + 15) + 20)
    return FunnelData(points, limits,
                      (f"{say('ensemble', language)} ({fr_pct(overall)})", overall * 100),
                      named, (low, high))


def outside_table(frame: pd.DataFrame, overall: float) -> pd.DataFrame:
    """The providers outside the funnel plot's 95 % limits, as people read them."""
    outside = frame[outside_funnel(frame["full_rate"], frame["juries"], overall)]
    return pd.DataFrame({
        "Organisme": outside["provider_id"].astype(str),
        "Présentés au jury": outside["juries"].map(fr_int),
        "Taux de validation totale": outside["full_rate"].map(fr_pct),
        "Position": np.where(outside["full_rate"] > overall, "au-dessus des limites",
                             "en dessous des limites")})


class ProvidersFigure:
    """The providers on a funnel plot: their rate against their volume, inside 95 % (dashed)
    and 99.8 % (dotted) limits around the overall rate (solid), the providers outside the
    95 % limits named beside their point. Providers' codes are text: hover fields
    (escaped) and canvas labels."""

    def __init__(self, language: str = "fr") -> None:
        self.language = language
        juries, rate = say("Présentés au jury", language), say("% validation totale", language)
        self.figure = plot = new_figure(
            say("Organismes : validation totale selon le volume", language), height=360,
            french="xy", x_axis_label=juries, y_axis_label=rate, y_range=Range1d(0, 100),
            tools=ZOOM_TOOLS)
        self.limits = []  # (upper, lower) sources at 95 % then 99.8 %
        for dash, name in (("dashed", "limites à 95 %"), ("dotted", "limites à 99,8 %")):
            pair = [ColumnDataSource({"x": [], "y": []}) for _ in range(2)]
            for source in pair:
                plot.line("x", "y", source=source, line_color="grey", line_dash=dash,
                          legend_label=say(name, language))
            self.limits.append(pair)
        self.overall = ColumnDataSource({"x": [], "y": []})
        line = plot.line("x", "y", source=self.overall, line_color="black", line_width=1,
                         legend_label=say("ensemble", language))
        self.points = ColumnDataSource({c: [] for c in ("juries", "organisme", "taux", "texte",
                                                        "volume")})
        points = plot.scatter("juries", "taux", source=self.points, size=9, color=ACCENT,
                              legend_label=say("organismes", language))
        plot.add_tools(HoverTool(renderers=[points], tooltips=[
            (say("Organisme", language), "@organisme"), (juries, "@volume"),
            (say("Validation totale", language), "@texte")]))
        self.named = {}  # above the limits or below: the names' source
        for above in (True, False):
            self.named[above] = ColumnDataSource({"juries": [], "ly": [], "organisme": []})
            plot.add_layout(LabelSet(
                x="juries", y="ly", text="organisme", text_font_size="9pt", text_color="black",
                text_baseline="bottom" if above else "top", source=self.named[above]))
        legend = plot.legend[0]
        self._everyone = next(i for i in legend.items if line in i.renderers)
        legend.update(orientation="horizontal", ncols=4, border_line_alpha=0,
                      label_text_font_size="9pt")
        plot.add_layout(legend, "below")

    def draw(self, data: FunnelData) -> None:
        """Show ``data`` (:func:`funnel_data`)."""
        for pair, (_, _, n, upper, lower) in zip(self.limits, data.limits, strict=True):
            pair[0].data, pair[1].data = {"x": n, "y": upper}, {"x": n, "y": lower}
        n = data.limits[0][2]
        everyone, level = data.overall
        self.overall.data = {"x": [n[0], n[-1]], "y": [level, level]}
        self._everyone.label = {"value": everyone}
        self.points.data = columns_of(data.points)
        sides = dict(data.named)
        for above, source in self.named.items():
            side = sides.get(above, pd.DataFrame({"juries": [], "ly": [], "organisme": []}))
            source.data = columns_of(side[["juries", "ly", "organisme"]])
        low, high = data.y_range
        self.figure.y_range.update(start=low, end=high, reset_start=low, reset_end=high)

    def update(self, providers, overall: float) -> bool:
        """Show the providers of ``providers`` (a table by provider) around the ``overall``
        rate; False when none is shown or the rate is unknown."""
        visible = providers.masked().dropna(subset=["full_rate", "provider_id"])
        if visible.empty or pd.isna(overall):
            return False
        self.draw(funnel_data(visible, overall, self.language))
        return True


def funnel_figure(data: FunnelData, language: str = "fr") -> figure:
    """:class:`ProvidersFigure` drawing ``data`` once (its Bokeh figure)."""
    drawn = ProvidersFigure(language)
    drawn.draw(data)
    return drawn.figure

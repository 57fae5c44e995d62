"""Pieces every page uses: key-figure cards, charts with intervals, tables, messages."""

from __future__ import annotations

import datetime as dt
import html
import io

import holoviews as hv
import pandas as pd
import panel as pn
import param

from cqp_metrics.api import SECRET, IndicatorTable
from cqp_metrics.formatting import export_notes, fr_int, fr_pct
from cqp_metrics.registry import RATES, label
from cqp_metrics.render import french_frame

from .data import MetricsSource
from .filters import Filters

ACCENT = "#1f5f8b"
NO_DATA = "aucune donnée"
TABLE_CSS = """
table.dataframe {border-collapse: collapse; font-size: 0.9em;}
table.dataframe th {background: #eef3f7; position: sticky; top: 0; text-align: left;}
table.dataframe td, table.dataframe th {padding: 3px 8px; border-bottom: 1px solid #ddd;}
table.dataframe td {text-align: right; white-space: nowrap;}
"""


def no_data(what: str = "") -> pn.pane.Alert:
    """What an empty selection shows instead of an empty chart."""
    text = f"**{NO_DATA.capitalize()}** pour cette sélection" + (f" ({what})" if what else "")
    return pn.pane.Alert(text + ".", alert_type="light", css_classes=["no-data"])


def secret_legend(table: IndicatorTable) -> pn.pane.Markdown:
    return pn.pane.Markdown(f"<small>« {SECRET} » : {html.escape(table.rule.describe())} "
                            "Taux : intervalle de confiance à 95 % (Wilson).</small>",
                            css_classes=["secret-legend"])


def kpi(name: str, table: IndicatorTable, language: str = "fr") -> pn.pane.HTML:
    """A key figure: its last value in the period, the change on the year before, interval."""
    values, published = table.values, table.published()
    title = label(name, language)
    if values.empty:
        body, change = NO_DATA, ""
    else:
        last = published.iloc[-1]
        value = last[name]
        is_rate = name in RATES
        body = value if isinstance(value, str) else (fr_pct(value) if is_rate else fr_int(value))
        body = body or "—"
        change = ""
        if is_rate and not isinstance(value, str) and pd.notna(value):
            change = (f"IC 95 % [{fr_pct(last[f'{name}_low'])} – "
                      f"{fr_pct(last[f'{name}_high'])}]")
        if len(published) > 1:
            before = published.iloc[-2][name]
            if not isinstance(before, str) and not isinstance(value, str) and pd.notna(
                    before) and pd.notna(value):
                delta = value - before
                if is_rate:
                    text = f"{delta * 100:+.1f} pt".replace(".", ",")
                else:
                    text = (f"{delta / before * 100:+.1f} %".replace(".", ",") if before
                            else fr_int(delta))
                change = f"{text} sur un an" + (f" · {change}" if change else "")
        if "year" in values:
            title = f"{title} ({int(values['year'].iloc[-1])})"
    return pn.pane.HTML(
        f'<div class="kpi" data-kpi="{name}"><div class="kpi-title">{html.escape(title)}</div>'
        f'<div class="kpi-value">{html.escape(str(body))}</div>'
        f'<div class="kpi-change">{html.escape(change)}</div></div>',
        width=230, height=120, margin=5)


def rate_trend(table: IndicatorTable, name: str, by: str = "year",
               language: str = "fr") -> hv.Overlay | pn.pane.Alert:
    """A rate over the years with its 95 % interval as a band; hidden points are left out."""
    frame = table.masked()
    frame = frame[frame[name].notna()]
    if frame.empty:
        return no_data(label(name, language))
    data = pd.DataFrame({by: frame[by].astype(int), "taux": frame[name] * 100,
                         "bas": frame[f"{name}_low"] * 100, "haut": frame[f"{name}_high"] * 100})
    band = hv.Area(data, by, ["bas", "haut"]).opts(alpha=0.25, color=ACCENT, line_alpha=0)
    curve = hv.Curve(data, by, "taux").opts(color=ACCENT, line_width=2)
    points = hv.Scatter(data, by, ["taux", "bas", "haut"]).opts(
        color=ACCENT, size=7, tools=["hover"])
    return (band * curve * points).opts(
        title=label(name, language), ylabel="%", xlabel=label(by, language), height=300,
        responsive=True, shared_axes=False, ylim=(0, 100), show_legend=False)


def rate_bars(table: IndicatorTable, name: str, by: str, language: str = "fr",
              labels: dict | None = None) -> hv.Overlay | pn.pane.Alert:
    """A rate by category, with its interval as error bars."""
    frame = table.masked()
    frame = frame[frame[name].notna()]
    if frame.empty:
        return no_data(label(name, language))
    keys = frame[by].map(lambda v: (labels or {}).get(v, "non renseigné" if v is None else str(v)))
    data = pd.DataFrame({by: keys, "taux": frame[name] * 100,
                         "moins": (frame[name] - frame[f"{name}_low"]) * 100,
                         "plus": (frame[f"{name}_high"] - frame[name]) * 100})
    bars = hv.Bars(data, by, "taux").opts(color=ACCENT, alpha=0.8, tools=["hover"],
                                          xrotation=30 if len(data) > 6 else 0)
    errors = hv.ErrorBars(data, by, ["taux", "moins", "plus"]).opts(color="black")
    return (bars * errors).opts(title=f"{label(name, language)} par "
                                f"{label(by, language).lower()}", ylabel="%", xlabel="",
                                height=300, responsive=True, shared_axes=False, ylim=(0, 100))


def count_trend(table: IndicatorTable, names: list[str], language: str = "fr"):
    frame = table.masked()
    if frame.empty:
        return no_data()
    curves = [hv.Curve((frame["year"].astype(int), frame[n]), label(n, language), "Effectif",
                       label=label(n, language)).opts(tools=["hover"], line_width=2)
              for n in names if frame[n].notna().any()]
    if not curves:
        return no_data()
    return hv.Overlay(curves).opts(title="Volumes par année", height=300, responsive=True,
                                   shared_axes=False, legend_position="top_left",
                                   xlabel=label("year", language))


def data_table(frame: pd.DataFrame, **kwargs) -> pn.pane.DataFrame:
    """A read-only HTML table, scrolling past 520 px. (Tabulator, shown in a tab after the VAE
    page's charts, sent Chromium into an endless layout loop: plain HTML is enough here.)"""
    kwargs.setdefault("css_classes", [])
    return pn.pane.DataFrame(frame, index=False, escape=True, max_height=520,
                             styles={"overflow": "auto"}, stylesheets=[TABLE_CSS], **kwargs)


class IndicatorTableView(param.Parameterized):
    """A published table with its legend and CSV / Excel downloads of exactly what it shows."""

    filters = param.ClassSelector(class_=Filters, doc="The filters the table was made with.")
    source = param.ClassSelector(class_=MetricsSource, doc="Where the notes' source comes from.")
    language = param.Selector(default="fr", objects=["fr", "en"], doc="Language of labels.")

    def frame(self, table: IndicatorTable) -> pd.DataFrame:
        """What the table shows: French labels and formats, intervals in the rate cells."""
        return french_frame(table, self.language)

    def notes(self, table: IndicatorTable) -> list[tuple[str, str]]:
        return export_notes(self.source.catalogue("source"), self.filters.description(),
                            table.rule)

    def csv_bytes(self, table: IndicatorTable) -> io.BytesIO:
        """The shown table as a French CSV (semicolons, UTF-8 with BOM), notes on top."""
        lines = [f"# {key} : {value}" for key, value in self.notes(table)]
        body = self.frame(table).to_csv(index=False, sep=";", lineterminator="\n")
        return io.BytesIO(("\ufeff" + "\n".join(lines) + "\n" + body).encode("utf-8"))

    def xlsx_bytes(self, table: IndicatorTable) -> io.BytesIO:
        """The shown table in Excel (numbers as numbers, ``secret`` as text) and its notes."""
        shown = table.published().rename(columns=lambda c: label(c, self.language))
        buffer = io.BytesIO()
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            shown.to_excel(writer, sheet_name="indicateurs", index=False)
            pd.DataFrame(self.notes(table), columns=["Note", "Valeur"]).to_excel(
                writer, sheet_name="notes", index=False)
        buffer.seek(0)
        return buffer

    def view(self, table: IndicatorTable, name: str = "indicateurs") -> pn.Column:
        if table.values.empty:
            return pn.Column(no_data())
        stamp = dt.date.today().isoformat()
        downloads = pn.Row(
            pn.widgets.FileDownload(callback=lambda: self.csv_bytes(table),
                                    filename=f"{name}_{stamp}.csv", label="Télécharger CSV",
                                    button_type="primary", css_classes=["download-csv"]),
            pn.widgets.FileDownload(callback=lambda: self.xlsx_bytes(table),
                                    filename=f"{name}_{stamp}.xlsx", label="Télécharger Excel",
                                    button_type="primary", css_classes=["download-xlsx"]),
        )
        shown = data_table(self.frame(table), css_classes=["indicator-table"])
        return pn.Column(downloads, shown, secret_legend(table), sizing_mode="stretch_width")

"""Write an indicator table as CSV, Excel or a French table for the terminal."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .api import SECRET, IndicatorTable
from .formatting import fr_int, fr_pct
from .registry import COUNTS, RATES, label


def to_csv(table: IndicatorTable) -> str:
    """CSV with machine-readable numbers: dot decimals, empty undefined rates, ``secret``."""
    frame = table.published()
    for column in frame.columns:
        if column in RATES or column.removesuffix("_low") in RATES or column.removesuffix(
                "_high") in RATES:
            frame[column] = frame[column].map(_decimal)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def _decimal(value: object) -> object:
    if isinstance(value, str) or value is None or pd.isna(value):
        return value
    return f"{float(value):.6f}".rstrip("0").rstrip(".") if value else "0"


def french_frame(table: IndicatorTable, language: str = "fr",
                 intervals: str = "cell") -> pd.DataFrame:
    """Labels and French formats, for people. ``intervals``: ``cell`` folds the 95 % interval
    into the rate's cell, ``column`` gives it a column of its own."""
    frame = table.published()
    out = pd.DataFrame(index=frame.index)
    for dim in table.query.by:
        out[label(dim, language)] = frame[dim].map(lambda v: "non renseigné" if v is None or (
            not isinstance(v, str) and pd.isna(v)) else str(v))
    for column in table.values.columns:
        if column in COUNTS:
            out[label(column, language)] = frame[column].map(fr_int)
        elif column in RATES:
            bounds = [_interval(lo, hi) for lo, hi in zip(
                frame[f"{column}_low"], frame[f"{column}_high"], strict=True)]
            rates = frame[column].map(fr_pct)
            if intervals == "cell":
                out[label(column, language)] = [
                    f"{r} {b}".strip() if b else r for r, b in zip(rates, bounds, strict=True)]
            else:
                out[label(column, language)] = rates
                out[("IC 95 % " if language == "fr" else "95% CI ") + label(column, language)] \
                    = bounds
    return out


def _interval(low: object, high: object) -> str:
    if isinstance(low, str) or low is None or pd.isna(low):
        return ""
    return f"[{fr_pct(low).removesuffix(chr(160) + '%')} – {fr_pct(high)}]"


def print_table(table: IndicatorTable, console: Console, language: str = "fr") -> None:
    """A rich table; with few rows, indicators run down and the cuts across."""
    frame = french_frame(table, language, intervals="column")
    dims = [label(d, language) for d in table.query.by]
    title = "Indicateurs CQP" if language == "fr" else "CQP indicators"
    if len(frame) <= 8:
        headers = [" / ".join(str(row[d]) for d in dims) or "Ensemble" for _, row in
                   frame.iterrows()]
        rich_table = Table(title=title)
        rich_table.add_column("Indicateur" if language == "fr" else "Indicator", no_wrap=True)
        for header in headers:  # values from the data: text, never markup
            rich_table.add_column(Text(header), justify="right", no_wrap=True)
        for column in frame.columns:
            if column in dims:
                continue
            style = "dim" if column.startswith(("IC 95", "95% CI")) else None
            name = "  IC 95 %" if style and language == "fr" else ("  95% CI" if style else column)
            rich_table.add_row(Text(name), *(Text(str(v)) for v in frame[column]), style=style)
    else:
        rich_table = Table(title=title)
        for column in frame.columns:
            rich_table.add_column(Text(column), justify="left" if column in dims else "right")
        for _, row in frame.iterrows():
            rich_table.add_row(*(Text(str(v)) for v in row))
    console.print(rich_table)
    if table.hidden.to_numpy().any():
        console.print(Text(f"« {SECRET} » : {table.rule.describe()}"))


def to_xlsx(table: IndicatorTable, path: str | Path, notes: list[tuple[str, str]]) -> None:
    """An Excel workbook: the table (numbers as numbers, ``secret`` as text) and its notes."""
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        table.published().to_excel(writer, sheet_name="indicateurs", index=False)
        pd.DataFrame(notes, columns=["Note", "Valeur"]).to_excel(writer, sheet_name="notes",
                                                                 index=False)

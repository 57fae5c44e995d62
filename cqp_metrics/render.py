"""Write an indicator table as CSV, Excel or a French table for the terminal."""

from __future__ import annotations

import io

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .api import SECRET, IndicatorTable
from .codes import REGIONS
from .formatting import NOT_SIGNIFICANT, SIGNIFICANT, fr_pct
from .kinds import DAYS_PER_MONTH
from .period import fr_date
from .registry import BY_NAME, label, owner

#: What a spreadsheet reads as the start of a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A text cell a spreadsheet will not run: one that would start a formula gets a leading
    apostrophe (numbers, even negative ones, are left as they are)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value.replace(",", "."))
        except ValueError:
            return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell and column name of a frame made safe for a spreadsheet."""
    frame = frame.rename(columns=lambda c: safe_cell(c) if isinstance(c, str) else c)
    return frame.map(safe_cell)


def write_sheets(target, sheets: dict[str, pd.DataFrame], style=None) -> None:
    """An Excel workbook, one sheet per frame; text that looks like a formula is stored as
    text, never as a live formula. ``style(name, frame, sheet)``, when given, then formats
    each openpyxl sheet."""
    with pd.ExcelWriter(target, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
            for row in writer.sheets[name].iter_rows():
                for cell in row:
                    if cell.data_type == "f":
                        cell.data_type = "s"
            if style is not None:
                style(name, frame, writer.sheets[name])


def to_csv(table: IndicatorTable) -> str:
    """CSV with machine-readable numbers: dot decimals, empty undefined rates, ``secret``;
    ``year_complete`` as ``true``/``false``."""
    frame = table.published()
    for column in frame.columns:
        entry = owner(column)
        if entry is not None:
            frame[column] = frame[column].map(entry.csv)
    if "year_complete" in frame:
        frame["year_complete"] = frame["year_complete"].map(
            lambda v: "" if v is None or v is pd.NA else ("true" if v else "false"))
    buffer = io.StringIO()
    safe_frame(frame).to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def dimension_text(dim: str, value: object, language: str = "fr") -> str:
    """A dimension's value for people: a region's name beside its code."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "not given" if language == "en" else "non renseigné"
    if dim == "region_code" and value in REGIONS:
        return f"{value} — {REGIONS[value]}"
    return str(value)


def year_text(year: object, table: IndicatorTable, language: str = "fr") -> str:
    """A year for people, marked when the data cut leaves it incomplete."""
    if year is None or (not isinstance(year, str) and pd.isna(year)):
        return "not given" if language == "en" else "non renseigné"
    if not isinstance(year, str) and int(year) in table.incomplete_years():
        if language == "en":
            return f"{int(year)} (incomplete, data as of {fr_date(table.data_until)})"
        return f"{int(year)} (incomplète, données au {fr_date(table.data_until)})"
    return str(year)


def change_text(delta: object, low: object, high: object) -> str:
    """``+0,4 pt [−1,2 ; +2,0] dans la marge d'incertitude``; empty when undefined."""
    if isinstance(delta, str) or delta is None or pd.isna(delta):
        return ""
    points = lambda v: f"{v * 100:+.1f}".replace(".", ",")  # noqa: E731
    significant = SIGNIFICANT if low > 0 or high < 0 else NOT_SIGNIFICANT
    return f"{points(delta)} pt [{points(low)} ; {points(high)}] {significant}"


def french_frame(table: IndicatorTable, language: str = "fr",
                 intervals: str = "cell", names: tuple[str, ...] | None = None
                 ) -> pd.DataFrame:
    """Labels and French formats, for people. ``intervals``: ``cell`` folds the 95 % interval
    into the rate's cell, ``column`` gives it a column of its own. ``names``: only these
    indicators (and the cuts), e.g. a chart's of a wider table."""
    return table.kept(("french", language, intervals, names),
                      lambda: _french_frame(table, language, intervals, names))


def _french_frame(table: IndicatorTable, language: str, intervals: str,
                  names: tuple[str, ...] | None) -> pd.DataFrame:
    frame = table.published()
    # each column's values as a list, formatted cell by cell, then one frame (pandas'
    # per-column operations cost more than the formatting of a few rows)
    cells = {column: frame[column].tolist() for column in frame.columns}
    out: dict[str, list] = {}
    for dim in table.query.by:
        if dim == "year":
            out[label(dim, language)] = [year_text(v, table, language) for v in cells[dim]]
            continue
        out[label(dim, language)] = [dimension_text(dim, v, language) for v in cells[dim]]
    for column in table.values.columns:
        entry = BY_NAME.get(column)
        if entry is None or (names is not None and column not in names):
            continue
        values = [entry.text(v) for v in cells[column]]
        if f"{column}_low" not in cells or not getattr(entry, "secret", True):
            # a census (the RNCP/RS coverage of the CQPs) has no sampling interval
            out[label(column, language)] = values
        else:
            bounds = [_interval(lo, hi) for lo, hi in zip(
                cells[f"{column}_low"], cells[f"{column}_high"], strict=True)]
            if intervals == "cell":
                out[label(column, language)] = [
                    f"{r} {b}".strip() if b else r for r, b in zip(values, bounds, strict=True)]
            else:
                out[label(column, language)] = values
                out[("IC 95 % " if language == "fr" else "95% CI ") + label(column, language)] \
                    = bounds
        if f"{column}_change" in cells:
            out[label(f"{column}_change", language)] = [
                change_text(d, lo, hi) for d, lo, hi in zip(
                    cells[f"{column}_change"], cells[f"{column}_change_low"],
                    cells[f"{column}_change_high"], strict=True)]
    return pd.DataFrame(out, index=frame.index)


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


#: Excel number formats of the analyst's workbook, by kind of column.
EXCEL_FORMATS = {"count": "#,##0", "share": "0.0%", "months": "0.0", "year": "0",
                 "euros": '#,##0 "€"'}


def analyst_frame(table: IndicatorTable, language: str = "fr",
                  percent: bool = True) -> tuple[pd.DataFrame, dict[str, str]]:
    """The shown table for computing: one column per published number (a rate, its low and
    high bounds apart), numbers as numbers (``secret`` where hidden, empty where undefined),
    French headers; shares in percent (``percent``) or as fractions (for Excel's % format),
    medians in months, pays in euros. Also each column's kind (``count``, ``share``,
    ``months``, ``euros``, ``year``, ``text``)."""
    published = table.published()
    out, kinds = {}, {}  # columns, made into one frame at the end
    for dim in table.query.by:
        header = label(dim, language)
        if dim == "year":
            out[header] = published[dim].map(
                lambda v: v if isinstance(v, str) else (None if pd.isna(v) else int(v)))
            kinds[header] = "year"
            if "year_complete" in published:
                done = "Année complète" if language == "fr" else "Complete year"
                out[done] = published["year_complete"].map(
                    lambda v: "" if v is None or v is pd.NA else
                    ("oui" if v else "non") if language == "fr" else ("yes" if v else "no"))
                kinds[done] = "text"
            continue
        out[header] = published[dim].map(lambda v: "non renseigné" if v is None or (
            not isinstance(v, str) and pd.isna(v)) else str(v))
        kinds[header] = "text"
    for column in table.values.columns:
        entry = BY_NAME.get(column)
        if entry is None:
            continue
        for name in entry.columns():
            header, kind = label(name, language), {"share": "share", "days": "months",
                                                   "euros": "euros"}.get(entry.unit, "count")
            scale = 1.0
            if kind == "share" and percent:
                header, scale = f"{header} (%)", 100.0
            elif kind == "months":
                header, scale = f"{header} ({'mois' if language == 'fr' else 'months'})", \
                    1 / DAYS_PER_MONTH
            elif kind == "euros":
                header = f"{header} (€)"
            out[header] = published[name].map(lambda v, scale=scale, kind=kind: _number(
                v, scale, kind))
            kinds[header] = kind
    return pd.DataFrame(out, index=published.index), kinds


def _number(value: object, scale: float, kind: str) -> object:
    if isinstance(value, str) or value is None or pd.isna(value):
        return value if isinstance(value, str) else None
    if kind == "count":
        return int(value)
    return round(float(value) * scale, 4 if scale == 1.0 else 2)


def analyst_csv(table: IndicatorTable, notes: list[tuple[str, str]],
                language: str = "fr") -> bytes:
    """A CSV French Excel opens as numbers (semicolons, decimal comma, UTF-8 with BOM) and
    ``pandas.read_csv(path, sep=";", decimal=",")`` reads without error: the notes (source,
    data cut, export time, filters, secret rule) are its last columns, the same on every
    row, so that a row copied elsewhere keeps where it comes from."""
    frame, _ = analyst_frame(table, language)
    frame = pd.concat([frame, pd.DataFrame({key: value for key, value in notes},
                                           index=frame.index)], axis=1)
    text = safe_frame(frame).to_csv(index=False, sep=";", decimal=",", lineterminator="\r\n")
    return ("\ufeff" + text).encode("utf-8")


def analyst_xlsx(table: IndicatorTable, target, notes: list[tuple[str, str]],
                 language: str = "fr") -> None:
    """An Excel workbook for computing: numbers with number and percent formats, the header
    frozen and wrapped, columns wide enough; the notes on a sheet of their own."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    frame, kinds = analyst_frame(table, language, percent=False)

    def style(name: str, sheet_frame: pd.DataFrame, sheet) -> None:
        for at, header in enumerate(sheet_frame.columns, start=1):
            letter = get_column_letter(at)
            title = sheet[f"{letter}1"]
            title.font = Font(bold=True)
            title.alignment = Alignment(wrap_text=True, vertical="top")
            longest = max([len(str(v)) for v in sheet_frame[header].head(200)] + [6])
            wide = 60 if name == "notes" else 28
            sheet.column_dimensions[letter].width = min(max(longest + 2, 10, min(
                len(str(header)), 24)), wide)
            number_format = EXCEL_FORMATS.get(kinds.get(header, "")) if name != "notes" \
                else None
            for (cell,) in sheet.iter_rows(min_row=2, min_col=at, max_col=at):
                if number_format and isinstance(cell.value, int | float):
                    cell.number_format = number_format
                if name == "notes":
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.freeze_panes = "B2" if name != "notes" else "A2"

    write_sheets(target, {"indicateurs": frame,
                          "notes": pd.DataFrame(notes, columns=["Note", "Valeur"])}, style)


def version_changes(blocks: pd.DataFrame) -> pd.DataFrame:
    """Each block's pass rate in one referential version beside the version before, each
    with its 95 % interval, and the difference with its own interval (Newcombe): the
    difference's interval, not whether the two intervals overlap, says whether the change is
    beyond the uncertainty. ``blocks``: the masked table by (referential_version, block_code)."""
    rate = BY_NAME["block_pass_rate"]
    columns = ["Bloc", "Version avant", "Taux avant (IC 95 %)", "Version après",
               "Taux après (IC 95 %)", "Écart (IC 95 %, Newcombe)"]
    rows = []
    known = blocks.dropna(subset=["referential_version"])
    for block, group in known.groupby("block_code"):
        group = group.sort_values("referential_version")
        for (_, before), (_, this) in zip(group.iloc[:-1].iterrows(), group.iloc[1:].iterrows(),
                                          strict=True):
            delta, low, high = (s.iloc[0] for s in rate.change(pd.DataFrame([this]),
                                                               pd.DataFrame([before])))
            rows.append([str(block), str(before["referential_version"]),
                         _rate_with_interval(rate, before), str(this["referential_version"]),
                         _rate_with_interval(rate, this),
                         change_text(delta, low, high) or "non calculable"])
    return pd.DataFrame(rows, columns=columns)


def _rate_with_interval(rate, row: pd.Series) -> str:
    text = rate.text(row[rate.name])
    if not text:
        return SECRET
    bounds = _interval(row.get(f"{rate.name}_low"), row.get(f"{rate.name}_high"))
    return f"{text} {bounds}".strip()

"""Read the interchange files (a folder of CSV files or one .xlsx workbook) as raw text.

Every cell comes out as a string (empty when blank), with the line number a person sees in
the file (the header is line 1), so that every later message can point at it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import html
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .problems import LoadError, Problem

#: The tables of the interchange format, in the order they are read.
TABLE_NAMES = ("branches", "certifications", "blocks", "candidacies", "juries", "block_results")
LINE = "__line__"
#: Characters no identifier or title may hold (the NUL byte PostgreSQL refuses, and the
#: other control characters but tab).
CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
#: Format characters (Unicode category Cf): zero-width spaces and joiners, direction marks,
#: embeddings and overrides, soft hyphens, the byte order mark… Invisible: no identifier or
#: code may hold one (« C0000001 » followed by U+200B would be a second candidacy).
FORMAT = ("[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
          "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
          "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
          "\U000e0020-\U000e007f]")
#: Bidirectional embeddings, overrides and isolates: no title may hold one (they reorder the
#: text a reader sees).
BIDI = "[\u202a-\u202e\u2066-\u2069]"


def visible(text: str) -> str:
    """A value as a message shows it: control and format characters as ``<U+XXXX>``."""
    return re.sub(f"{CONTROL}|{FORMAT}", lambda m: f"<U+{ord(m.group()):04X}>", text)


@dataclass
class RawTable:
    """One table as read: text cells plus the ``__line__`` column, and the file it came from."""

    name: str
    file: str
    frame: pd.DataFrame
    #: The text encoding the file was read in (a CSV file); None for a workbook's sheet.
    encoding: str | None = None
    #: True when the whole file was seen to hold no control or format character
    #: (``CONTROL``, ``FORMAT``): its cells need not be searched one by one.
    plain: bool = False


def read_input(path: str | Path) -> dict[str, RawTable]:
    """Read a folder of CSV files or an .xlsx workbook; raise :class:`LoadError` if unreadable."""
    path = Path(path)
    if not path.exists():
        raise LoadError([Problem(str(path), None, None, None, "fichier ou dossier introuvable")])
    if path.is_dir():
        tables, problems = _read_folder(path)
    elif path.suffix.lower() in (".xlsx", ".xlsm"):
        tables, problems = _read_workbook(path)
    else:
        raise LoadError([Problem(path.name, None, None, None,
                                 "format non reconnu : donnez un dossier de fichiers CSV ou un "
                                 "classeur .xlsx")])
    if not tables and not problems:
        expected = ", ".join(f"{name}.csv" for name in TABLE_NAMES)
        problems.append(Problem(path.name, None, None, None,
                                f"aucune table reconnue (attendu : {expected})"))
    if problems:
        raise LoadError(problems)
    return tables


def _unexpected(name: str, expected: list[str]) -> str:
    """Why a file or sheet name is refused: a near miss is named as such."""
    close = difflib.get_close_matches(name.lower(), expected, n=1, cutoff=0.6)
    listed = ", ".join(expected)
    if close:
        return f"nom non reconnu : voulez-vous dire « {close[0]} » ? (attendu : {listed})"
    return f"nom non reconnu (attendu : {listed})"


def _read_folder(folder: Path) -> tuple[dict[str, RawTable], list[Problem]]:
    tables: dict[str, RawTable] = {}
    problems: list[Problem] = []
    expected = [f"{name}.csv" for name in TABLE_NAMES]
    for file in sorted(folder.iterdir()):
        if file.name.startswith(".") or file.name in expected:
            continue
        problems.append(Problem(file.name, None, None, None, _unexpected(file.name, expected)))
    for name in TABLE_NAMES:
        file = folder / f"{name}.csv"
        if not file.exists():
            continue
        try:
            frame, encoding, plain = _read_csv(file)
            tables[name] = RawTable(name, file.name, frame, encoding, plain)
        except _Unreadable as error:
            problems.append(Problem(file.name, error.line, None, None, error.message))
    return tables, problems


class _Unreadable(Exception):
    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message, self.line = message, line


#: What a CSV may be written in, tried in this order: UTF-8 (Excel's "CSV UTF-8", with or
#: without its BOM), then Windows-1252, which French Excel writes for "CSV (séparateur :
#: point-virgule)". Any byte sequence that is not valid UTF-8 is almost never text meant as
#: UTF-8, so the order cannot misread a UTF-8 file.
ENCODINGS = (("utf-8-sig", "UTF-8"), ("cp1252", "Windows-1252"))


def decode(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and the name of the encoding it was read in."""
    for codec, name in ENCODINGS:
        try:
            return data.decode(codec), name
        except UnicodeDecodeError as error:
            failure = error
    line = data[: failure.start].count(b"\n") + 1
    raise _Unreadable(f"fichier illisible : ni UTF-8 ni Windows-1252 (octet 0x"
                      f"{data[failure.start]:02X}) ; enregistrez en « CSV UTF-8 »", line)


def _read_csv(file: Path) -> tuple[pd.DataFrame, str, bool]:
    text, encoding = decode(file.read_bytes())
    if not text.strip():
        raise _Unreadable("fichier vide")
    header = text.split("\n", 1)[0]
    sep = ";" if header.count(";") > header.count(",") else ","
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                            na_filter=False, skip_blank_lines=False, engine="c")
    except pd.errors.ParserError as error:
        found = re.search(r"line (\d+), saw (\d+)", str(error))
        if found:
            raise _Unreadable(f"{found.group(2)} valeurs pour {len(header.split(sep))} colonnes "
                              f"(séparateur « {sep} »)", int(found.group(1))) from None
        raise _Unreadable(f"CSV illisible ({str(error).strip()[:120]})") from None
    frame.columns = [str(column).strip() for column in frame.columns]
    frame[LINE] = range(2, len(frame) + 2)
    plain = re.search(CONTROL, text) is None and re.search(FORMAT, text) is None
    return _drop_blank_rows(frame), encoding, plain


def _drop_blank_rows(frame: pd.DataFrame) -> pd.DataFrame:
    cells = frame.drop(columns=[LINE])
    if cells.empty:
        return frame
    # A blank row is blank in its first column: only those rows are looked at further.
    blank = cells.iloc[:, 0].astype(str).str.strip().eq("")
    if not blank.any():
        return frame
    rows = cells.loc[blank]
    blank.loc[blank] = pd.concat([rows[c].astype(str).str.strip().eq("")
                                  for c in rows.columns], axis=1).all(axis=1)
    return frame.loc[~blank].reset_index(drop=True)


def _read_workbook(path: Path) -> tuple[dict[str, RawTable], list[Problem]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a broken file
        return {}, [Problem(path.name, None, None, None,
                            f"classeur illisible ({error.__class__.__name__})")]
    tables: dict[str, RawTable] = {}
    problems: list[Problem] = []
    # Sheet names are matched without case, as Excel itself does.
    sheets = {sheet.strip().lower(): sheet for sheet in workbook.sheetnames}
    for key, sheet in sheets.items():
        if key not in TABLE_NAMES:
            problems.append(Problem(f"{path.name}[{sheet}]", None, None, None,
                                    _unexpected(key, list(TABLE_NAMES))))
    merged = _merged_ranges(path)
    for name in TABLE_NAMES:
        if name not in sheets:
            continue
        where = f"{path.name}[{name}]"
        for cells in merged.get(sheets[name], []):
            problems.append(Problem(where, None, None, cells, "cellules fusionnées : "
                                    "défusionnez-les et remplissez chaque ligne"))
        sheet = workbook[sheets[name]]
        rows = [[_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
        if not rows or not any(cell for cell in rows[0]):
            problems.append(Problem(where, None, None, None, "feuille vide"))
            continue
        columns = [cell.strip() for cell in rows[0]]
        while columns and not columns[-1]:
            columns.pop()
        doubled = sorted({c for c in columns if c and columns.count(c) > 1})
        for column in doubled:
            problems.append(Problem(where, 1, column, None, "colonne en double"))
        if doubled or "" in columns:
            if "" in columns:
                problems.append(Problem(where, 1, None, None, "colonne sans nom dans l'en-tête"))
            continue
        width = len(columns)
        frame = pd.DataFrame([(row + [""] * width)[:width] for row in rows[1:]],
                             columns=columns, dtype=object)
        frame[LINE] = range(2, len(rows) + 1)
        tables[name] = RawTable(name, where, _drop_blank_rows(frame))
    workbook.close()
    return tables, problems


def _merged_ranges(path: Path) -> dict[str, list[str]]:
    """Merged cell ranges of each sheet (``A2:A3``), read from the workbook's XML: openpyxl's
    streaming reader does not see them."""
    ranges: dict[str, list[str]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            book = archive.read("xl/workbook.xml").decode("utf-8", "replace")
            links = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
            targets = dict(re.findall(r'Id="([^"]+)"[^>]*Target="([^"]+)"', links))
            targets |= {k: v for v, k in re.findall(r'Target="([^"]+)"[^>]*Id="([^"]+)"',
                                                    links)}
            for name, rid in re.findall(r'<sheet [^>]*name="([^"]+)"[^>]*r:id="([^"]+)"', book):
                target = targets.get(rid, "")
                member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                if member in archive.namelist():
                    xml = archive.read(member).decode("utf-8", "replace")
                    found = re.findall(r'<mergeCell ref="([A-Z]+\d+:[A-Z]+\d+)"', xml)
                    if found:
                        ranges[html.unescape(name)] = found
    except (KeyError, zipfile.BadZipFile, OSError):
        return {}
    return ranges


def _cell_text(value: object) -> str:
    """An Excel cell as the text a CSV would hold (dates ISO, whole numbers without .0)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

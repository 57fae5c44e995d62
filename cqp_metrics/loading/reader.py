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
TABLE_NAMES = ("branches", "certifications", "blocks", "candidacies", "juries", "block_results",
               "insertion")
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


#: Bounds checked before a file is parsed: its size, its rows and its columns (an
#: interchange file has at most 14 columns; ten million candidacies weigh about 1 GB).
MAX_FILE_BYTES = 2 * 1024**3
MAX_ROWS = 20_000_000
MAX_COLUMNS = 100
#: A workbook's members once decompressed (its sheets' XML), checked before it is opened.
MAX_WORKBOOK_BYTES = 1024**3


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.0f}".replace(",", " ") + " Mo"


def _read_csv(file: Path) -> tuple[pd.DataFrame, str, bool]:
    size = file.stat().st_size
    if size > MAX_FILE_BYTES:
        raise _Unreadable(f"fichier trop volumineux ({_megabytes(size)}, au plus "
                          f"{_megabytes(MAX_FILE_BYTES)}) : découpez-le en plusieurs chargements")
    data = file.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or data[:400].count(b"\x00") > 20:
        raise _Unreadable("fichier en UTF-16 (« Texte Unicode » d'Excel) : enregistrez-le en "
                          "« CSV UTF-8 (délimité par des virgules) » ou « CSV (séparateur : "
                          "point-virgule) »")
    if data.startswith((b"PK\x03\x04", b"\x1f\x8b")):
        raise _Unreadable("fichier compressé (zip, gzip) ou classeur renommé en .csv : "
                          "donnez le fichier CSV lui-même")
    text, encoding = decode(data)
    if not text.strip():
        raise _Unreadable("fichier vide")
    header, _, rest = text.partition("\n")
    sep = ";" if header.count(";") > header.count(",") else ","
    width = header.count(sep) + 1
    if width > MAX_COLUMNS:
        raise _Unreadable(f"{width} colonnes dans l'en-tête (au plus {MAX_COLUMNS}) : ce n'est "
                          "pas un fichier d'échange", 1)
    rows = text.count("\n")
    if rows > MAX_ROWS + 1:
        raise _Unreadable(f"{rows} lignes (au plus {MAX_ROWS}) : découpez le fichier en "
                          "plusieurs chargements")
    second = rest.partition("\n")[0]
    other = "," if sep == ";" else ";"
    if width > 1 and second.strip() and sep not in second and other in second:
        raise _Unreadable(f"l'en-tête est séparé par « {sep} » et les lignes par « {other} » : "
                          "enregistrez le fichier avec un seul séparateur", 2)
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
    from openpyxl.utils import column_index_from_string

    refused = _workbook_refused(path)
    if refused:
        return {}, [Problem(path.name, None, None, None, refused)]
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
    merged, formulas = _sheet_marks(path)
    for name in TABLE_NAMES:
        if name not in sheets:
            continue
        where = f"{path.name}[{name}]"
        for cells in merged.get(sheets[name], []):
            problems.append(Problem(where, None, None, cells, "cellules fusionnées : "
                                    "défusionnez-les et remplissez chaque ligne"))
        sheet = workbook[sheets[name]]
        # the header whole (Excel stops at 16,384 columns), then the rows as wide as it
        header = next(sheet.iter_rows(max_row=1, values_only=True), ())
        columns = [_cell_text(value).strip() for value in header]
        while columns and not columns[-1]:
            columns.pop()
        if not columns:
            problems.append(Problem(where, None, None, None, "feuille vide"))
            continue
        if len(columns) > MAX_COLUMNS:
            problems.append(Problem(where, 1, None, None, f"plus de {MAX_COLUMNS} colonnes "
                                    "dans l'en-tête : ce n'est pas un fichier d'échange"))
            continue
        rows = [columns]
        for row in sheet.iter_rows(min_row=2, max_col=len(columns), values_only=True):
            if len(rows) > MAX_ROWS:
                break
            rows.append([_cell_text(value) for value in row])
        if len(rows) > MAX_ROWS:
            problems.append(Problem(where, None, None, None, f"plus de {MAX_ROWS} lignes : "
                                    "découpez la feuille en plusieurs chargements"))
            continue
        uncached = [(int(line), letters) for letters, line in formulas.get(sheets[name], [])]
        for line, letters in sorted(uncached):
            index = column_index_from_string(letters) - 1
            problems.append(Problem(where, line, columns[index] if index < len(columns)
                                    else letters, None, "formule sans valeur calculée (classeur "
                                    "écrit par un programme, jamais ouvert dans Excel) : ouvrez-le "
                                    "et enregistrez-le dans Excel, ou collez les valeurs"))
        if uncached:
            continue
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


def _workbook_refused(path: Path) -> str | None:
    """Why a workbook is refused before it is opened: not a zip (an .xlsx is one), or
    members that would fill the memory once decompressed."""
    if not zipfile.is_zipfile(path):
        return ("ce n'est pas un classeur Excel .xlsx (un ancien .xls, un CSV renommé ?) : "
                "enregistrez-le au format « Classeur Excel (.xlsx) »")
    try:
        with zipfile.ZipFile(path) as archive:
            size = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "classeur illisible (archive endommagée)"
    if size > MAX_WORKBOOK_BYTES:
        return (f"classeur trop volumineux une fois décompressé ({_megabytes(size)}, au plus "
                f"{_megabytes(MAX_WORKBOOK_BYTES)})")
    return None


#: A cell (``<c r="B7" …>…</c>``) of a sheet's XML: its formula (``<f>``) and its cached
#: value (``<v>``, empty or absent when the formula was never computed).
_CELL = re.compile(r'<c r="([A-Z]+)(\d+)"[^>]*(?<!/)>(.*?)</c>', re.S)


def _sheet_marks(path: Path) -> tuple[dict[str, list[str]], dict[str, list[tuple[str, str]]]]:
    """Of each sheet, read from the workbook's XML (openpyxl's streaming reader does not see
    them): its merged cell ranges (``A2:A3``), and its cells holding a formula without a
    cached value (column letters, line), which read as blank."""
    ranges: dict[str, list[str]] = {}
    formulas: dict[str, list[tuple[str, str]]] = {}
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
                    if "<f" in xml:
                        uncached = [(letters, line) for letters, line, body in _CELL.findall(xml)
                                    if re.search(r"<f[ >/]", body)
                                    and not re.search(r"<v>[^<]", body)]
                        if uncached:
                            formulas[html.unescape(name)] = uncached
    except (KeyError, zipfile.BadZipFile, OSError):
        return {}, {}
    return ranges, formulas


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

"""Load the interchange files into the database: read, validate everything, then write once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from ..db import ensure_schema
from ..period import data_cut
from .problems import LoadError, Problem
from .reader import read_input
from .validate import Dataset, validate
from .writer import Progress, write_dataset

__all__ = ["Dataset", "LoadError", "LoadReport", "Problem", "load", "write_dataset"]


@dataclass
class LoadReport:
    """What a load wrote: rows in all, rows read per file, columns kept per file."""

    rows: int
    read: dict[str, int] = field(default_factory=dict)
    kept: dict[str, list[str]] = field(default_factory=dict)
    #: The data cut recorded with the load.
    data_until: dt.date | None = None
    #: The encoding each CSV file was read in (UTF-8 or Windows-1252).
    encodings: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The report in French, one line per file."""
        out = []
        if self.data_until is not None:
            out.append(f"Données arrêtées au {self.data_until:%d/%m/%Y}.")
        for file, count in self.read.items():
            line = f"{file} : {count} ligne(s)"
            if file in self.encodings:
                line += f", lu en {self.encodings[file]}"
            if self.kept.get(file):
                line += ("  (colonnes absentes du fichier, valeurs de la base conservées : "
                         + ", ".join(self.kept[file]) + ")")
            out.append(line)
        return out


def load(path: str | Path, engine: sa.Engine, progress: Progress | None = None,
         data_until: dt.date | None = None) -> LoadReport:
    """Load a folder of CSV files or an .xlsx workbook; ``data_until``: the day up to which
    its data are complete (default: the latest date of a fact), no fact may be dated after it.

    Raises :class:`LoadError` with every problem found; then nothing has been written.
    """
    raw = read_input(path)
    ensure_schema(engine)
    with engine.begin() as connection:
        dataset = validate(raw, connection, data_until=data_until)
        # the file's or folder's name: exports and reports name it, never its server path
        rows = write_dataset(connection, dataset, source=Path(path).resolve().name,
                             progress=progress, data_until=data_until)
        cut = data_cut(connection)
    encodings = {table.file: table.encoding for table in raw.values() if table.encoding}
    return LoadReport(rows, dataset.read, dataset.kept, cut, encodings)

"""Load the interchange files into the database: read, validate everything, then write once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from ..db import ensure_schema
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

    def lines(self) -> list[str]:
        """The report in French, one line per file."""
        out = []
        for file, count in self.read.items():
            line = f"{file} : {count} ligne(s)"
            if self.kept.get(file):
                line += ("  (colonnes absentes du fichier, valeurs de la base conservées : "
                         + ", ".join(self.kept[file]) + ")")
            out.append(line)
        return out


def load(path: str | Path, engine: sa.Engine, progress: Progress | None = None,
         data_until: dt.date | None = None) -> LoadReport:
    """Load a folder of CSV files or an .xlsx workbook.

    Raises :class:`LoadError` with every problem found; then nothing has been written.
    """
    raw = read_input(path)
    ensure_schema(engine)
    with engine.begin() as connection:
        dataset = validate(raw, connection, data_until=data_until)
        rows = write_dataset(connection, dataset, source=str(Path(path).resolve()),
                             progress=progress)
    return LoadReport(rows, dataset.read, dataset.kept)

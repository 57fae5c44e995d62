"""Load the interchange files into the database: read, validate everything, then write once."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from ..db import ensure_schema
from .problems import LoadError, Problem
from .reader import read_input
from .validate import Dataset, validate
from .writer import Progress, write_dataset

__all__ = ["Dataset", "LoadError", "Problem", "load", "write_dataset"]


def load(path: str | Path, engine: sa.Engine, progress: Progress | None = None) -> int:
    """Load a folder of CSV files or an .xlsx workbook; return the number of rows written.

    Raises :class:`LoadError` with every problem found; then nothing has been written.
    """
    raw = read_input(path)
    ensure_schema(engine)
    with engine.begin() as connection:
        dataset = validate(raw, connection)
        return write_dataset(connection, dataset, source=str(Path(path).resolve()),
                             progress=progress)

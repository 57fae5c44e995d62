"""Where the database is, and the settings of the statistical secret."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Environment variable that names the database URL when ``--db`` is not given.
DB_ENV = "CQP_DB"


def project_data_dir() -> Path:
    """The ``data/`` folder of the project checkout, else ``./data``."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").exists():
        return root / "data"
    return Path.cwd() / "data"


def default_db_url() -> str:
    """The embedded default: a DuckDB file under ``data/``."""
    return f"duckdb:///{project_data_dir() / 'cqp.duckdb'}"


def resolve_db_url(db: str | None = None) -> str:
    """``--db`` if given, else ``$CQP_DB``, else the embedded DuckDB file."""
    return db or os.environ.get(DB_ENV) or default_db_url()


@dataclass(frozen=True)
class SecretRule:
    """The statistical secret: counts below ``min_count`` and rates whose denominator is
    below ``min_denominator`` are hidden (InserJeunes rule by default)."""

    min_count: int = 5
    min_denominator: int = 20
    enabled: bool = True

    def describe(self) -> str:
        """The rule in French, for the notes that go with every export."""
        if not self.enabled:
            return "Secret statistique désactivé (option --no-secret) : diffusion interdite."
        return (
            f"Secret statistique : effectifs inférieurs à {self.min_count} et taux dont le "
            f"dénominateur est inférieur à {self.min_denominator} masqués (« secret »), "
            "ainsi que les cases qui permettraient de les retrouver (secret secondaire)."
        )

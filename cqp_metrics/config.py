"""Where the database is, and the settings of the statistical secret."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Environment variable that names the database URL when ``--db`` is not given.
DB_ENV = "CQP_DB"
#: Environment variable that gives a served instance the branches its users may see.
SCOPE_ENV = "CQP_SCOPE"


class InputError(ValueError):
    """A value typed by a user (option, environment variable, URL parameter) is invalid."""


def branch_code(text: object) -> str:
    """A branch code (IDCC) as stored: 1 to 4 digits, padded to 4 ("16" -> "0016")."""
    value = str(text).strip()
    if not (value.isascii() and value.isdigit() and 1 <= len(value) <= 4):
        raise InputError(f"code de branche invalide : « {value} » (IDCC : 1 à 4 chiffres)")
    return value.zfill(4)


def parse_branches(text: str) -> list[str]:
    """Branch codes separated by commas, each checked and padded; an empty list is refused
    (a scope that names no branch is a mistake, never "every branch")."""
    codes = [branch_code(part) for part in text.split(",") if part.strip()]
    if not codes:
        raise InputError("aucune branche donnée (attendu des codes IDCC séparés par des "
                         "virgules, par exemple 0016,3248)")
    return sorted(set(codes))


def scope_from_env() -> list[str] | None:
    """The served scope from ``$CQP_SCOPE``: None when unset; refused when empty or
    malformed (fail closed: a mistake must not show every branch)."""
    if SCOPE_ENV not in os.environ:
        return None
    try:
        return parse_branches(os.environ[SCOPE_ENV])
    except InputError as error:
        raise InputError(f"{SCOPE_ENV} : {error}") from None


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

    def describe(self, language: str = "fr") -> str:
        """The rule in words (French by default), for the notes that go with every export."""
        if language == "en":
            if not self.enabled:
                return "Statistical secrecy off (option --no-secret): not for publication."
            return (f"Statistical secrecy: counts under {self.min_count} and rates whose "
                    f"denominator is under {self.min_denominator} hidden (« secret »), with "
                    "the cells that would give them back (secondary secrecy).")
        if not self.enabled:
            return "Secret statistique désactivé (option --no-secret) : diffusion interdite."
        return (
            f"Secret statistique : effectifs inférieurs à {self.min_count} et taux dont le "
            f"dénominateur est inférieur à {self.min_denominator} masqués (« secret »), "
            "ainsi que les cases qui permettraient de les retrouver (secret secondaire)."
        )

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
    """The statistical secret (DOMAIN.md, « Statistical secret »): the cell-key method.

    Every count of persons is published perturbed by at most ``max_deviation`` (D) persons,
    with variance ``variance`` (V), the same people always reading the same value; a
    published count from 1 to ``min_count`` - 1 reads « secret »; a rate whose published
    denominator is below ``min_denominator`` (the InserJeunes rule) reads « secret ». The
    database holds its rule (:func:`cqp_metrics.secret.database_rule`); a request may raise
    its thresholds (:meth:`at_least`), never lower them; ``enabled=False`` (``--no-secret``)
    publishes exact figures."""

    min_count: int = 5
    min_denominator: int = 20
    enabled: bool = True
    max_deviation: int = 2
    variance: float = 1.0

    def at_least(self, requested: SecretRule) -> SecretRule:
        """This rule (the database's), its thresholds raised to a request's; off when the
        request turns the secret off."""
        if not requested.enabled:
            return SecretRule(self.min_count, self.min_denominator, False, self.max_deviation,
                              self.variance)
        return SecretRule(max(self.min_count, requested.min_count),
                          max(self.min_denominator, requested.min_denominator), True,
                          self.max_deviation, self.variance)

    def describe(self, language: str = "fr") -> str:
        """The rule in words (French by default), for the notes that go with every export:
        what readers must know of the figures."""
        d = self.max_deviation
        if language == "en":
            if not self.enabled:
                return "Statistical secrecy off (option --no-secret): not for publication."
            return (f"Statistical secrecy (cell-key method): every count is exact to within "
                    f"{d} persons; counts of 1 to {self.min_count - 1} (under "
                    f"{self.min_count}) and rates whose "
                    f"denominator is under {self.min_denominator} read « secret »; a total "
                    "may differ from the sum of its rows by a few units; the same people "
                    "always show the same figure, whatever the table.")
        if not self.enabled:
            return "Secret statistique désactivé (option --no-secret) : diffusion interdite."
        return (f"Secret statistique (méthode des clés de cellule) : chaque effectif est exact "
                f"à {d} personnes près ; les effectifs de 1 à {self.min_count - 1} (sous le "
                f"seuil de {self.min_count}) et les taux "
                f"dont le dénominateur est inférieur à {self.min_denominator} sont masqués "
                "(« secret ») ; un total peut différer de quelques unités de la somme de ses "
                "lignes ; les mêmes personnes donnent toujours le même chiffre, quel que soit "
                "le tableau.")

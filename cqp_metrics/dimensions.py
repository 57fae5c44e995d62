"""The dimensions every count can be cut and filtered by."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from .facts import FactSource, year_of


@dataclass(frozen=True)
class Dimension:
    """A way to cut the indicators: its code name, labels and SQL expression on a fact."""

    name: str
    label_fr: str
    label_en: str
    expression: Callable[[FactSource, sa.FromClause | None], sa.ColumnElement]
    numeric: bool = False
    #: Only the facts that carry it can be cut by it (``block_code``: block results only).
    facts: tuple[str, ...] | None = None


def _attribute(column: str) -> Callable[[FactSource, sa.FromClause | None], sa.ColumnElement]:
    return lambda fact, _link: fact.candidacy.c[column]


def _age_band(fact: FactSource, _link: sa.FromClause | None) -> sa.ColumnElement:
    cand = fact.candidacy.c
    age = year_of(cand.entered_on) - cand.birth_year
    return sa.case((cand.birth_year.is_(None), sa.null()), (age < 26, "<26"), (age < 45, "26-44"),
                   else_="45+")


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("year", "Année", "Year", lambda fact, _l: year_of(fact.date), numeric=True),
        Dimension("branch_code", "Branche", "Branch", lambda _f, link: link.c.branch_code),
        Dimension("cqp_code", "CQP", "CQP", _attribute("cqp_code")),
        Dimension("region_code", "Région", "Region", _attribute("region_code")),
        Dimension("pathway", "Voie d'accès", "Pathway", _attribute("pathway")),
        Dimension("funding", "Financement", "Funding", _attribute("funding")),
        Dimension("status", "Statut", "Status", _attribute("status")),
        Dimension("sex", "Sexe", "Sex", _attribute("sex")),
        Dimension("age_band", "Tranche d'âge", "Age band", _age_band),
        Dimension("provider_id", "Organisme de formation", "Training provider",
                  _attribute("provider_id")),
        Dimension("referential_version", "Version du référentiel", "Referential version",
                  _attribute("referential_version")),
        Dimension("block_code", "Bloc de compétences", "Competence block",
                  lambda fact, _l: fact["block_code"], facts=("block_result",)),
        Dimension("contract", "Contrat", "Contract", lambda fact, _l: fact["contract"],
                  facts=("insertion",)),
    )
}


def canonical(dims: Iterable[str]) -> tuple[str, ...]:
    """Dimensions in registry order: one name for one table, whatever the request's order."""
    dims = set(dims)
    return tuple(d for d in DIMENSIONS if d in dims)

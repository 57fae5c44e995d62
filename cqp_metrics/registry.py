"""The indicators of DOMAIN.md, declared once: the SQL, the CLI columns and the labels follow.

Adding an indicator is adding one entry here: a :class:`Count` (what is counted, on which
fact, under which condition) or a :class:`Rate` (a count divided by another).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from .facts import FactSource, completed_within

Condition = Callable[[FactSource], sa.ColumnElement]


@dataclass(frozen=True)
class Count:
    """A number of facts in the period, optionally under a condition."""

    name: str
    fact: str
    label_fr: str
    label_en: str
    description: str
    condition: Condition | None = None
    #: Count distinct values of this fact column instead of rows (CQPs, not persons).
    distinct: str | None = None
    #: Counts of persons are under statistical secret; counts of CQPs are public facts.
    secret: bool = True
    #: The counts this one is the sum of, in every row (``juries = full + partial + refused``).
    parts: tuple[str, ...] = ()
    #: Another count that always holds the same value (``certified`` is ``full``).
    equals: str | None = None
    #: (count, dimension, value): this count is that count restricted to dimension = value,
    #: so it equals it where the filters or the row fix the dimension to that value, and is
    #: 0 where they exclude it (``vae_full`` is ``full`` restricted to pathway ``vae``).
    restricts: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class Rate:
    """``numerator / denominator`` with its 95 % Wilson interval; empty if the denominator is 0."""

    name: str
    numerator: str
    denominator: str
    label_fr: str
    label_en: str
    description: str
    secret: bool = True


def _decision(kind: str) -> Condition:
    return lambda f: f["decision"] == kind


def _vae(f: FactSource) -> sa.ColumnElement:
    return f.candidacy.c.pathway == "vae"


REGISTRY: tuple[Count | Rate, ...] = (
    Count("enrolments", "candidacy", "Entrées en parcours", "Enrolments",
          "Candidatures entrées dans la période (entered_on)."),
    Count("juries", "jury", "Présentés au jury", "Jury decisions",
          "Décisions de jury (totale, partielle, refus) dans la période ; absences exclues.",
          parts=("full", "partial", "refused")),
    Count("full", "jury", "Validations totales", "Full validations",
          "Décisions de validation totale dans la période.", _decision("full")),
    Count("partial", "jury", "Validations partielles", "Partial validations",
          "Décisions de validation partielle dans la période.", _decision("partial")),
    Count("refused", "jury", "Refus", "Refusals", "Décisions de refus dans la période.",
          _decision("refused")),
    Rate("full_rate", "full", "juries", "Taux de validation totale", "Full validation rate",
         "Validations totales / présentés au jury."),
    Rate("partial_rate", "partial", "juries", "Taux de validation partielle",
         "Partial validation rate", "Validations partielles / présentés au jury."),
    Rate("refusal_rate", "refused", "juries", "Taux de refus", "Refusal rate",
         "Refus / présentés au jury."),
    Count("vae_enrolments", "candidacy", "Entrées en VAE", "VAE enrolments",
          "Candidatures VAE entrées dans la période.", _vae,
          restricts=("enrolments", "pathway", "vae")),
    Count("vae_admissible", "candidacy", "VAE recevables", "Admissible VAE candidacies",
          "Candidatures VAE entrées dans la période et déclarées recevables (admissible_on).",
          lambda f: sa.and_(_vae(f), f.candidacy.c.admissible_on.is_not(None))),
    Rate("vae_admissibility_rate", "vae_admissible", "vae_enrolments", "Taux de recevabilité VAE",
         "VAE admissibility rate", "VAE recevables / entrées en VAE."),
    Count("vae_juries", "jury", "Présentés au jury (VAE)", "VAE jury decisions",
          "Décisions de jury dans la période, voie VAE.", _vae,
          restricts=("juries", "pathway", "vae")),
    Count("vae_full", "jury", "Validations totales (VAE)", "VAE full validations",
          "Validations totales dans la période, voie VAE.",
          lambda f: sa.and_(_vae(f), f["decision"] == "full"),
          restricts=("full", "pathway", "vae")),
    Rate("vae_success_rate", "vae_full", "vae_juries", "Taux de réussite VAE", "VAE success rate",
         "Validations totales VAE / présentés au jury VAE."),
    Count("withdrawals", "candidacy", "Abandons", "Withdrawals",
          "Candidatures entrées dans la période, abandonnées (withdrawn_on) sans décision de jury.",
          lambda f: sa.and_(f.candidacy.c.withdrawn_on.is_not(None), ~f["has_decision"])),
    Rate("withdrawal_rate", "withdrawals", "enrolments", "Taux d'abandon", "Withdrawal rate",
         "Abandons / entrées en parcours."),
    Count("partial_candidacies", "first_partial", "Candidats en validation partielle",
          "Candidacies with a first partial validation",
          "Candidatures dont la première validation partielle tombe dans la période."),
    Count("partial_completed", "first_partial", "Validations partielles complétées",
          "Completed partial validations",
          "Parmi elles, celles qui obtiennent ensuite une validation totale.",
          lambda f: f["completed"]),
    Rate("partial_completion_rate", "partial_completed", "partial_candidacies",
         "Taux de complétion des validations partielles", "Partial completion rate",
         "Validations partielles complétées / candidats en validation partielle."),
    *(entry for months in (6, 12, 24) for entry in (
        Count(f"partial_completed_{months}m", "first_partial",
              f"Complétées sous {months} mois", f"Completed within {months} months",
              f"Validations partielles complétées au plus {months} mois (calendaires) après la "
              "première.", lambda f, m=months: completed_within(f, m)),
        Rate(f"partial_completion_{months}m_rate", f"partial_completed_{months}m",
             "partial_candidacies", f"Taux de complétion sous {months} mois",
             f"Completion rate within {months} months",
             f"Complétées sous {months} mois / candidats en validation partielle."),
    )),
    Count("certified", "jury", "Certifiés", "Certified",
          "Certificats délivrés : validations totales de la période.", _decision("full"),
          equals="full"),
    Count("certified_rncp", "jury", "Certifiés avec reconnaissance nationale",
          "Certified with national recognition",
          "Validations totales dont le jury tombe dans une fenêtre d'enregistrement RNCP ou RS.",
          lambda f: sa.and_(f["decision"] == "full", f["in_registration"])),
    Rate("recognition_rate", "certified_rncp", "certified", "Taux de reconnaissance nationale",
         "Recognition rate", "Certifiés avec reconnaissance RNCP/RS / certifiés."),
    Count("cqps_active", "activity", "CQP actifs", "Active CQPs",
          "CQP ayant au moins une entrée ou une décision de jury dans la période.",
          distinct="cqp_code", secret=False),
    Count("cqps_registered", "activity", "CQP actifs enregistrés", "Active registered CQPs",
          "CQP actifs enregistrés au RNCP ou au RS le dernier jour de la période.",
          lambda f: f["registered_at_end"], distinct="cqp_code", secret=False),
    Rate("rncp_coverage", "cqps_registered", "cqps_active", "Couverture RNCP/RS",
         "RNCP/RS coverage",
         "CQP actifs enregistrés le dernier jour de la période / CQP actifs.", secret=False),
    Count("block_results", "block_result", "Résultats de blocs", "Block results",
          "Résultats de blocs de compétences évalués par un jury dans la période."),
    Count("blocks_acquired", "block_result", "Blocs acquis", "Blocks acquired",
          "Résultats de blocs acquis.", lambda f: f["acquired"]),
    Rate("block_pass_rate", "blocks_acquired", "block_results", "Taux d'acquisition des blocs",
         "Block pass rate", "Blocs acquis / résultats de blocs (par bloc avec --by block_code)."),
)

BY_NAME: dict[str, Count | Rate] = {entry.name: entry for entry in REGISTRY}
COUNTS = {e.name: e for e in REGISTRY if isinstance(e, Count)}
RATES = {e.name: e for e in REGISTRY if isinstance(e, Rate)}


def family(names: list[str]) -> list[str]:
    """The counts under secret that share a fact with ``names``, in registry order.

    The secret of one cell depends on every count of its fact (sums, equal counts, rates), so
    it is always decided on the whole family: a cell gets the same fate whichever indicators a
    request names.
    """
    facts = {COUNTS[n].fact for n in names if COUNTS[n].secret}
    return [c.name for c in COUNTS.values() if c.secret and c.fact in facts]


def label(name: str, language: str = "fr") -> str:
    """The label of an indicator or of one of its interval columns."""
    base, suffix = name, ""
    for end, words in (("_low", (" (borne basse)", " (low)")), ("_high", (" (borne haute)",
                                                                          " (high)"))):
        if name.endswith(end) and name[: -len(end)] in RATES:
            base, suffix = name[: -len(end)], words[0 if language == "fr" else 1]
    entry = BY_NAME.get(base)
    if entry is None:
        from .dimensions import DIMENSIONS

        dim = DIMENSIONS.get(name)
        if dim is None:
            return name
        return dim.label_fr if language == "fr" else dim.label_en
    return (entry.label_fr if language == "fr" else entry.label_en) + suffix

"""Coded values of the interchange format, with the French synonyms users type."""

from __future__ import annotations

import unicodedata

PATHWAYS = ("formation", "vae")
FUNDINGS = ("contrat_pro", "pro_a", "cpf", "plan", "autre")
STATUSES = ("salarie", "demandeur_emploi", "alternant", "autre")
SEXES = ("F", "M")
DECISIONS = ("full", "partial", "refused", "absent")
#: Decisions that count as a jury decision in every figure (an absence does not).
JURY_DECISIONS = ("full", "partial", "refused")
REGISTERS = ("RNCP", "RS")
AGE_BANDS = ("<26", "26-44", "45+")
#: The insertion survey (DOMAIN.md, « Insertion of holders »): its horizons in months, a
#: respondent's situation, the contract of one in work.
HORIZONS = (6, 24)
SITUATIONS = ("emploi", "recherche", "formation", "inactif", "incapacite")
#: Situations France compétences leaves out of the rates' numerator and denominator.
NEUTRALISED = ("formation", "incapacite")
CONTRACTS = ("cdi", "cdd", "interim", "alternance", "independant", "fonctionnaire", "autre")
#: The contracts as people read them.
CONTRACT_LABELS = {"cdi": "CDI", "cdd": "CDD", "interim": "Intérim", "alternance": "Alternance",
                   "independant": "Indépendant", "fonctionnaire": "Fonctionnaire",
                   "autre": "Autre"}

#: The 18 INSEE region codes (2016 geography) and their names.
REGIONS = {
    "01": "Guadeloupe",
    "02": "Martinique",
    "03": "Guyane",
    "04": "La Réunion",
    "06": "Mayotte",
    "11": "Île-de-France",
    "24": "Centre-Val de Loire",
    "27": "Bourgogne-Franche-Comté",
    "28": "Normandie",
    "32": "Hauts-de-France",
    "44": "Grand Est",
    "52": "Pays de la Loire",
    "53": "Bretagne",
    "75": "Nouvelle-Aquitaine",
    "76": "Occitanie",
    "84": "Auvergne-Rhône-Alpes",
    "93": "Provence-Alpes-Côte d'Azur",
    "94": "Corse",
}


def fold(text: str) -> str:
    """Lower-case, strip accents and surrounding spaces: the key synonyms are looked up by."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _table(canonical: tuple[str, ...], synonyms: dict[str, str]) -> dict[str, str]:
    table = {fold(code): code for code in canonical}
    table.update({fold(word): code for word, code in synonyms.items()})
    return table


#: For each coded column, folded spelling -> canonical code.
SYNONYMS: dict[str, dict[str, str]] = {
    "pathway": _table(
        PATHWAYS,
        {"alternance": "formation", "apprentissage": "formation",
         "validation des acquis de l'experience": "vae"},
    ),
    "funding": _table(
        FUNDINGS,
        {"contrat de professionnalisation": "contrat_pro", "contrat pro": "contrat_pro",
         "pro-a": "pro_a", "pro a": "pro_a", "plan de developpement des competences": "plan",
         "plan de formation": "plan", "compte personnel de formation": "cpf"},
    ),
    "status": _table(
        STATUSES,
        {"salarié": "salarie", "demandeur d'emploi": "demandeur_emploi",
         "demandeur d’emploi": "demandeur_emploi", "demandeur emploi": "demandeur_emploi"},
    ),
    "sex": _table(SEXES, {"h": "M", "homme": "M", "femme": "F"}),
    "decision": _table(
        DECISIONS,
        {"totale": "full", "validation totale": "full", "partielle": "partial",
         "validation partielle": "partial", "refus": "refused", "refuse": "refused",
         "echec": "refused", "absente": "absent", "excuse": "absent", "absent excuse": "absent"},
    ),
    "acquired": {
        "1": "1", "0": "0", "oui": "1", "non": "0", "true": "1", "false": "0",
        "vrai": "1", "faux": "0", "o": "1", "n": "0", "acquis": "1", "non acquis": "0",
    },
    "situation": _table(
        SITUATIONS,
        {"en emploi": "emploi", "en recherche d'emploi": "recherche",
         "recherche d'emploi": "recherche", "chomage": "recherche", "etudes": "formation",
         "poursuite d'etudes": "formation", "en formation": "formation",
         "incapacite de travail": "incapacite"},
    ),
    "contract": _table(
        CONTRACTS,
        {"interimaire": "interim", "intérim": "interim", "apprentissage": "alternance",
         "contrat de professionnalisation": "alternance", "independante": "independant",
         "auto-entrepreneur": "independant", "fonction publique": "fonctionnaire"},
    ),
}
#: Yes/no columns (``responded``, ``in_target_job``), as ``acquired``.
SYNONYMS["responded"] = SYNONYMS["in_target_job"] = SYNONYMS["acquired"]

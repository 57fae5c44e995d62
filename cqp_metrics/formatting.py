"""Numbers for people: French formats, labels and the note that goes with every export."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import PurePosixPath

import pandas as pd
import sqlalchemy as sa

from . import schema
from .config import SecretRule

#: Narrow no-break space, the French thousands separator.
THOUSANDS = "\u202f"


#: What a change beyond noise reads; the word is said only then (DOMAIN.md).
SIGNIFICANT = "significatif"
#: What a change within noise reads.
NOT_SIGNIFICANT = "dans la marge d'incertitude"
#: The same words for ``?lang=en``.
SIGNIFICANCE_EN = {SIGNIFICANT: "significant",
                   NOT_SIGNIFICANT: "within the margin of uncertainty"}


def change_said(change, language: str = "fr") -> str:
    """A :class:`~cqp_metrics.kinds.Change` in words: its figure, then whether it is beyond
    noise (« +3,2 % · significatif »), the figure alone when it was not tested."""
    if change.significant is None:
        return change.text
    word = SIGNIFICANT if change.significant else NOT_SIGNIFICANT
    return f"{change.text} · {SIGNIFICANCE_EN[word] if language == 'en' else word}"


def fr_int(value: object) -> str:
    """``1234`` -> ``1 234``; text (``secret``) passes through; missing -> empty."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return f"{int(value):,}".replace(",", THOUSANDS)


def fr_pct(value: object, digits: int = 1) -> str:
    """``0.625`` -> ``62,5 %``; text passes through; missing (undefined rate) -> empty."""
    if isinstance(value, str):
        return value
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{100 * float(value):.{digits}f}".replace(".", ",") + "\u00a0%"


def source_note(connection: sa.Connection | sa.Engine) -> dict[str, str]:
    """Where the figures come from: the last load recorded in the database."""
    query = sa.select(schema.load_log).order_by(schema.load_log.c.loaded_at.desc()).limit(1)
    if isinstance(connection, sa.Engine):
        with connection.connect() as conn:
            row = conn.execute(query).first()
    else:
        row = connection.execute(query).first()
    if row is None:
        return {"source": "inconnue", "loaded_at": ""}
    # the loaded file's name, never its path on the server (older loads recorded the path)
    name = PurePosixPath(row.source.replace("\\", "/")).name or row.source
    return {"source": name, "loaded_at": row.loaded_at.strftime("%d/%m/%Y %H:%M")}


#: The words of the export notes, per language: each note's heading and fixed text.
NOTE_WORDS = {
    "fr": {"loaded": "chargée le", "cut": "Données au",
           "incomplete": "une année qui finit après cette date est incomplète",
           "exported": "Exporté le", "filters": "Filtres", "none": "aucun",
           "rule": "Règle de secret", "rates": "Taux",
           "wilson": "Intervalles de confiance à 95 % (méthode de Wilson) ; un taux vide a un "
                     "dénominateur nul."},
    "en": {"loaded": "loaded on", "cut": "Data as of",
           "incomplete": "a year ending after this date is incomplete",
           "exported": "Exported on", "filters": "Filters", "none": "none",
           "rule": "Secrecy rule", "rates": "Rates",
           "wilson": "95% confidence intervals (Wilson's method); an empty rate has a zero "
                     "denominator."},
}


def export_notes(source: dict[str, str], filters: dict[str, object], rule: SecretRule,
                 data_until: dt.date | None = None,
                 language: str = "fr") -> list[tuple[str, str]]:
    """The notes printed beside every exported table (source, data cut, dates, filters,
    secret rule), in French or (``language="en"``) English."""
    words = NOTE_WORDS["en" if language == "en" else "fr"]
    listed = "; ".join(f"{k} = {v}" for k, v in filters.items() if v not in (None, "", [], ()))
    cut = [] if data_until is None else [
        (words["cut"], f"{data_until:%d/%m/%Y} ({words['incomplete']})")]
    return [
        ("Source", f"{source['source']} ({words['loaded']} {source['loaded_at']})"),
        *cut,
        (words["exported"], dt.datetime.now().strftime("%d/%m/%Y %H:%M")),
        (words["filters"], listed or words["none"]),
        (words["rule"], rule.describe(language)),
        (words["rates"], words["wilson"]),
    ]


def registration_state(status: str, valid_from: dt.date | None, valid_until: dt.date | None,
                       successor: str | None = None, language: str = "fr") -> str:
    """A registration's state in words (:func:`cqp_metrics.catalogue.registration_status`):
    « expirée le 31/12/2025, non renouvelée », « en cours jusqu'au 31/05/2026 »…"""
    english = language == "en"
    end = "" if valid_until is None else f"{valid_until:%d/%m/%Y}"
    if status == "lapsed":
        return f"lapsed on {end}, not renewed" if english else \
            f"expirée le {end}, non renouvelée"
    if status == "renewed":
        return (f"ended on {end}, renewed ({successor})" if english else
                f"terminée le {end}, renouvelée ({successor})")
    if status == "future":
        start = "" if valid_from is None else f"{valid_from:%d/%m/%Y}"
        return f"from {start}" if english else f"à partir du {start}"
    if valid_until is None:
        return "in force, no end date" if english else "en cours, sans date de fin"
    return f"in force until {end}" if english else f"en cours jusqu'au {end}"


def months_text(value: object) -> str:
    """A number of months as a French reader writes it (``8``, not ``8.0``)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return fr_int(int(value))

"""Numbers for people: French formats, labels and the note that goes with every export."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import sqlalchemy as sa

from . import schema
from .config import SecretRule

#: Narrow no-break space, the French thousands separator.
THOUSANDS = "\u202f"


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
    return {"source": row.source, "loaded_at": row.loaded_at.strftime("%d/%m/%Y %H:%M")}


def export_notes(source: dict[str, str], filters: dict[str, object], rule: SecretRule,
                 data_until: dt.date | None = None,
                 language: str = "fr") -> list[tuple[str, str]]:
    """The notes printed beside every exported table (source, data cut, dates, filters,
    secret rule), in French or (``language="en"``) English."""
    listed = "; ".join(f"{k} = {v}" for k, v in filters.items() if v not in (None, "", [], ()))
    now = dt.datetime.now().strftime("%d/%m/%Y %H:%M")
    if language == "en":
        cut = [] if data_until is None else [
            ("Data as of", f"{data_until:%d/%m/%Y} (a year ending after this date is "
                           "incomplete)")]
        return [
            ("Source", f"{source['source']} (loaded on {source['loaded_at']})"),
            *cut,
            ("Exported on", now),
            ("Filters", listed or "none"),
            ("Secrecy rule", rule.describe("en")),
            ("Rates", "95% confidence intervals (Wilson's method); an empty rate has a zero "
                      "denominator."),
        ]
    cut = [] if data_until is None else [
        ("Données au", f"{data_until:%d/%m/%Y} (une année qui finit après cette date est "
                       "incomplète)")]
    return [
        ("Source", f"{source['source']} (chargée le {source['loaded_at']})"),
        *cut,
        ("Exporté le", now),
        ("Filtres", listed or "aucun"),
        ("Règle de secret", rule.describe()),
        ("Taux", "Intervalles de confiance à 95 % (méthode de Wilson) ; un taux vide a un "
                 "dénominateur nul."),
    ]

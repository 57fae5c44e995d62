"""Time: the data cut, complete years and the same period of every year (DOMAIN.md)."""

from __future__ import annotations

import calendar
import datetime as dt

import sqlalchemy as sa

from . import schema

MONTHS_FR = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
             "nov.", "déc.")
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
             "Dec")


def latest_fact_date(connection: sa.Connection) -> dt.date | None:
    """The latest date of a fact in the database (entries, admissibility, withdrawals,
    jury decisions, survey dates)."""
    c, j = schema.candidacy.c, schema.jury.c
    dates = [sa.select(sa.func.max(column)).scalar_subquery()
             for column in (c.entered_on, c.admissible_on, c.withdrawn_on, j.jury_date,
                            schema.insertion_response.c.surveyed_on)]
    values = [v for v in connection.execute(sa.select(*dates)).one() if v is not None]
    return max((_as_date(v) for v in values), default=None)


def data_cut(connection: sa.Connection) -> dt.date | None:
    """The database's data cut: that of its latest load; for a load recorded before data
    cuts were, the latest date of a fact; None for an empty database."""
    log = schema.load_log
    row = connection.execute(sa.select(log.c.data_until).order_by(
        log.c.loaded_at.desc()).limit(1)).first()
    if row is not None and row.data_until is not None:
        return _as_date(row.data_until)
    return latest_fact_date(connection)


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    return value


def year_complete(year: int, data_until: dt.date | None,
                  until: tuple[int, int] | None = None) -> bool:
    """A year is complete when the data cut is on or after its last day (31 December, or
    the ``until`` day when every year stops there). Without a data cut: complete."""
    if data_until is None:
        return True
    month, day = until or (12, 31)
    return data_until >= dt.date(year, month, day)


def until_of(data_until: dt.date) -> tuple[int, int] | None:
    """The (month, day) that makes every year comparable with the data cut's year (None on
    29 February: the comparison then stops on the 28th)."""
    if (data_until.month, data_until.day) == (2, 29):
        return (2, 28)
    return (data_until.month, data_until.day)


def period_label(year: int, until: tuple[int, int] | None, language: str = "fr") -> str:
    """``janv.–sept. 2025`` (until the month's last day), ``1er janv.–15 sept. 2025``; in
    English ``Jan–Sep 2025``, ``1 Jan–15 Sep 2025``."""
    if until is None or until == (12, 31):
        return str(year)
    month, day = until
    months, first = (MONTHS_EN, "1 ") if language == "en" else (MONTHS_FR, "1er ")
    if day == calendar.monthrange(2023, month)[1]:
        return f"{months[0]}–{months[month - 1]} {year}"
    return f"{first}{months[0]}–{day} {months[month - 1]} {year}"


def fr_date(value: dt.date | None) -> str:
    return "" if value is None else value.strftime("%d/%m/%Y")

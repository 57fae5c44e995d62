"""The facts indicators count, each placed in a period by one date.

A fact is a FROM clause over the schema that yields one row per thing counted (a candidacy,
a jury decision, a first partial validation, a block result, a CQP's activity), joined to
its candidacy so that every dimension can cut it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from . import schema
from .codes import JURY_DECISIONS


@dataclass
class FactSource:
    """A FROM clause, its candidacy, the date that places a row in a period and extra columns."""

    from_: sa.FromClause
    candidacy: sa.FromClause
    date: sa.ColumnElement
    columns: dict[str, sa.ColumnElement] = field(default_factory=dict)

    def __getitem__(self, name: str) -> sa.ColumnElement:
        return self.columns[name]


def cqps_of(branches) -> sa.Select:
    """The CQPs owned by at least one of ``branches`` (a CQPI by each of its branches)."""
    member = schema.certification_branch
    return sa.select(member.c.cqp_code).where(member.c.branch_code.in_(sorted(branches)))


def year_of(date: sa.ColumnElement) -> sa.ColumnElement:
    """The calendar year of a date, as an integer, on every backend."""
    return sa.cast(sa.extract("year", date), sa.Integer)


def registered_on_last_day(cqp_code: sa.ColumnElement, year: sa.ColumnElement) -> sa.ColumnElement:
    """True when the CQP has a registration window containing 31 December of ``year``."""
    reg = schema.registration.alias("reg_end")
    until_year = year_of(reg.c.valid_until)
    return sa.exists().where(
        reg.c.cqp_code == cqp_code,
        sa.or_(reg.c.valid_from.is_(None), year_of(reg.c.valid_from) <= year),
        sa.or_(
            reg.c.valid_until.is_(None),
            until_year > year,
            sa.and_(until_year == year, sa.extract("month", reg.c.valid_until) == 12,
                    sa.extract("day", reg.c.valid_until) == 31),
        ),
    )


def _decided(table: sa.FromClause) -> sa.ColumnElement:
    return table.c.decision.in_(JURY_DECISIONS)


def candidacy_fact() -> FactSource:
    """One row per candidacy, dated by its entry (``entered_on``)."""
    cand = schema.candidacy.alias("c")
    jury = schema.jury.alias("j_any")
    has_decision = sa.exists().where(jury.c.candidacy_id == cand.c.candidacy_id, _decided(jury))
    return FactSource(cand, cand, cand.c.entered_on, {"has_decision": has_decision})


def jury_fact() -> FactSource:
    """One row per jury decision (full, partial, refused; absences left out), by ``jury_date``."""
    cand = schema.candidacy.alias("c")
    jury = schema.jury.alias("j")
    reg = schema.registration.alias("reg")
    decided = sa.select(jury).where(_decided(jury)).subquery("jd")
    from_ = decided.join(cand, cand.c.candidacy_id == decided.c.candidacy_id)
    in_window = sa.exists().where(
        reg.c.cqp_code == cand.c.cqp_code,
        sa.or_(reg.c.valid_from.is_(None), reg.c.valid_from <= decided.c.jury_date),
        sa.or_(reg.c.valid_until.is_(None), reg.c.valid_until >= decided.c.jury_date),
    )
    return FactSource(from_, cand, decided.c.jury_date,
                      {"decision": decided.c.decision, "in_registration": in_window})


def first_partial_fact() -> FactSource:
    """One row per candidacy with a partial validation, dated by its first one."""
    cand = schema.candidacy.alias("c")
    jury = schema.jury.alias("jp")
    later = schema.jury.alias("jf")
    first = (sa.select(jury.c.candidacy_id, sa.func.min(jury.c.jury_date).label("first_partial"))
             .where(jury.c.decision == "partial").group_by(jury.c.candidacy_id).subquery("fp"))
    completed = sa.exists().where(later.c.candidacy_id == first.c.candidacy_id,
                                  later.c.decision == "full",
                                  later.c.jury_date > first.c.first_partial)
    from_ = first.join(cand, cand.c.candidacy_id == first.c.candidacy_id)
    return FactSource(from_, cand, first.c.first_partial, {"completed": completed})


def completed_within(fact: FactSource, months: int) -> sa.ColumnElement:
    """A full validation follows the first partial one within ``months`` calendar months."""
    later = schema.jury.alias(f"jw{months}")
    gap = (year_of(later.c.jury_date) - year_of(fact.date)) * 12 + (
        sa.extract("month", later.c.jury_date) - sa.extract("month", fact.date))
    return sa.exists().where(later.c.candidacy_id == fact.candidacy.c.candidacy_id,
                             later.c.decision == "full", later.c.jury_date > fact.date,
                             gap <= months)


def block_result_fact() -> FactSource:
    """One row per block result of a jury decision (never of an absence), dated by its jury."""
    cand = schema.candidacy.alias("c")
    result = schema.block_result.alias("br")
    jury = schema.jury.alias("jb")
    from_ = result.join(jury, sa.and_(jury.c.candidacy_id == result.c.candidacy_id,
                                      jury.c.jury_date == result.c.jury_date, _decided(jury)))
    from_ = from_.join(cand, cand.c.candidacy_id == result.c.candidacy_id)
    return FactSource(from_, cand, result.c.jury_date,
                      {"acquired": result.c.acquired, "block_code": result.c.block_code})


def _activity(alias: str) -> sa.Subquery:
    entries = sa.select(schema.candidacy.c.candidacy_id.label("candidacy_id"),
                        schema.candidacy.c.entered_on.label("activity_date"))
    decisions = sa.select(schema.jury.c.candidacy_id, schema.jury.c.jury_date).where(
        _decided(schema.jury))
    return sa.union_all(entries, decisions).subquery(alias)


def activity_fact() -> FactSource:
    """One row per candidacy entry or jury decision: what makes a CQP active in a period."""
    cand = schema.candidacy.alias("c")
    activity = _activity("act")
    from_ = activity.join(cand, cand.c.candidacy_id == activity.c.candidacy_id)
    return FactSource(from_, cand, activity.c.activity_date, {"cqp_code": cand.c.cqp_code})


def last_activity_year() -> sa.ScalarSelect:
    """The last year with an entry or a jury decision in the whole database."""
    activity = _activity("act_all")
    return sa.select(sa.func.max(year_of(activity.c.activity_date))).scalar_subquery()


FACTS = {
    "candidacy": candidacy_fact,
    "jury": jury_fact,
    "first_partial": first_partial_fact,
    "block_result": block_result_fact,
    "activity": activity_fact,
}

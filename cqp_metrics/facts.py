"""The facts indicators count, each placed in a period by one date.

A fact is a FROM clause over the schema that yields one row per thing counted (a candidacy,
a jury decision, a first partial validation, a block result, a CQP's activity), joined to
its candidacy so that every dimension can cut it. Each fact of persons or decisions names
its unit's ``record_key`` (the statistical secret's, :mod:`cqp_metrics.secret`): the
candidacy's where the unit is a person, the decision's or block result's own otherwise.
These definitions over the raw tables are materialised at each load by
:mod:`cqp_metrics.derived`, which the query builder reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from . import schema
from .codes import JURY_DECISIONS
from .dialects import days_between


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
    """The CQPs owned by at least one of ``branches`` (a CQPI by each of its branches; or a
    parameter that will hold them)."""
    member = schema.certification_branch
    if not isinstance(branches, sa.BindParameter):
        branches = sorted(branches)
    return sa.select(member.c.cqp_code).where(member.c.branch_code.in_(branches))


def year_of(date: sa.ColumnElement) -> sa.ColumnElement:
    """The calendar year of a date, as an integer, on every backend."""
    return sa.cast(sa.extract("year", date), sa.Integer)


def on_or_before(date: sa.ColumnElement, month: int | sa.ColumnElement,
                 day: int | sa.ColumnElement) -> sa.ColumnElement:
    """True when ``date`` falls on or before ``month``-``day`` of its own year."""
    m = sa.extract("month", date)
    return sa.or_(m < month, sa.and_(m == month, sa.extract("day", date) <= day))


def on_or_after(date: sa.ColumnElement, month: int, day: int) -> sa.ColumnElement:
    """True when ``date`` falls on or after ``month``-``day`` of its own year."""
    m = sa.extract("month", date)
    return sa.or_(m > month, sa.and_(m == month, sa.extract("day", date) >= day))


def registered_on_last_day(cqp_code: sa.ColumnElement, year: sa.ColumnElement,
                           last_day: tuple[int, int] = (12, 31)) -> sa.ColumnElement:
    """True when the CQP has a registration window containing the period's last day: the
    ``last_day`` (month, day) of ``year``, 31 December by default."""
    reg = schema.registration.alias("reg_end")
    month, day = last_day
    from_year, until_year = year_of(reg.c.valid_from), year_of(reg.c.valid_until)
    after_start = sa.or_(from_year < year, sa.and_(
        from_year == year, on_or_before(reg.c.valid_from, month, day)))
    before_end = sa.or_(until_year > year, sa.and_(
        until_year == year, on_or_after(reg.c.valid_until, month, day)))
    return sa.exists().where(
        reg.c.cqp_code == cqp_code,
        sa.or_(reg.c.valid_from.is_(None), after_start),
        sa.or_(reg.c.valid_until.is_(None), before_end),
    )


def _decided(table: sa.FromClause) -> sa.ColumnElement:
    return table.c.decision.in_(JURY_DECISIONS)


def candidacy_fact() -> FactSource:
    """One row per candidacy, dated by its entry (``entered_on``)."""
    cand = schema.candidacy.alias("c")
    jury = schema.jury.alias("j_any")
    has_decision = sa.exists().where(jury.c.candidacy_id == cand.c.candidacy_id, _decided(jury))
    full = schema.jury.alias("j_full")
    has_full = sa.exists().where(full.c.candidacy_id == cand.c.candidacy_id,
                                 full.c.decision == "full")
    return FactSource(cand, cand, cand.c.entered_on, {"has_decision": has_decision,
                                                      "has_full": has_full,
                                                      "record_key": cand.c.record_key})


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
                      {"decision": decided.c.decision, "in_registration": in_window,
                       "record_key": decided.c.record_key})


def first_partial_fact() -> FactSource:
    """One row per candidacy with a partial validation, dated by its first one; ``event`` is
    its first later full validation (NULL: none yet)."""
    cand = schema.candidacy.alias("c")
    jury = schema.jury.alias("jp")
    later = schema.jury.alias("jf")
    first = (sa.select(jury.c.candidacy_id, sa.func.min(jury.c.jury_date).label("first_partial"))
             .where(jury.c.decision == "partial").group_by(jury.c.candidacy_id).subquery("fp"))
    first_full = (sa.select(sa.func.min(later.c.jury_date))
                  .where(later.c.candidacy_id == first.c.candidacy_id,
                         later.c.decision == "full", later.c.jury_date > first.c.first_partial)
                  .scalar_subquery())
    other = schema.jury.alias("jc")
    completed = sa.exists().where(other.c.candidacy_id == first.c.candidacy_id,
                                  other.c.decision == "full",
                                  other.c.jury_date > first.c.first_partial)
    from_ = first.join(cand, cand.c.candidacy_id == first.c.candidacy_id)
    return FactSource(from_, cand, first.c.first_partial,
                      {"completed": completed, "start": first.c.first_partial,
                       "event": first_full, "record_key": cand.c.record_key})


def first_jury_fact() -> FactSource:
    """One row per candidacy with a jury decision, dated by its first one (absences left
    out); ``days`` from its entry to that decision."""
    cand = schema.candidacy.alias("c")
    jury = schema.jury.alias("j1")
    first = (sa.select(jury.c.candidacy_id, sa.func.min(jury.c.jury_date).label("first_jury"))
             .where(_decided(jury)).group_by(jury.c.candidacy_id).subquery("fj"))
    from_ = first.join(cand, cand.c.candidacy_id == first.c.candidacy_id)
    return FactSource(from_, cand, first.c.first_jury,
                      {"days": days_between(cand.c.entered_on, first.c.first_jury),
                       "record_key": cand.c.record_key})


def block_result_fact() -> FactSource:
    """One row per block result of a jury decision (never of an absence), dated by its jury."""
    cand = schema.candidacy.alias("c")
    result = schema.block_result.alias("br")
    jury = schema.jury.alias("jb")
    from_ = result.join(jury, sa.and_(jury.c.candidacy_id == result.c.candidacy_id,
                                      jury.c.jury_date == result.c.jury_date, _decided(jury)))
    from_ = from_.join(cand, cand.c.candidacy_id == result.c.candidacy_id)
    return FactSource(from_, cand, result.c.jury_date,
                      {"acquired": result.c.acquired, "block_code": result.c.block_code,
                       "record_key": result.c.record_key})


def _first_full(alias: str) -> sa.Subquery:
    """Each candidacy's (first) full validation: the day it became a holder."""
    jury = schema.jury.alias(f"{alias}_j")
    return (sa.select(jury.c.candidacy_id, sa.func.min(jury.c.jury_date).label("first_full"))
            .where(jury.c.decision == "full").group_by(jury.c.candidacy_id).subquery(alias))


def holder_fact() -> FactSource:
    """One row per candidacy with a full validation, dated by it: the promotion of holders
    of its year."""
    cand = schema.candidacy.alias("c")
    full = _first_full("ff")
    from_ = full.join(cand, cand.c.candidacy_id == full.c.candidacy_id)
    return FactSource(from_, cand, full.c.first_full, {"record_key": cand.c.record_key})


def insertion_fact() -> FactSource:
    """One row per survey response (a holder and a horizon: 6 or 24 months), dated by the
    holder's full validation (its promotion); the unit is the person (the candidacy's
    record key)."""
    cand = schema.candidacy.alias("c")
    full = _first_full("fi")
    answer = schema.insertion_response.alias("ir")
    from_ = answer.join(full, full.c.candidacy_id == answer.c.candidacy_id).join(
        cand, cand.c.candidacy_id == answer.c.candidacy_id)
    return FactSource(from_, cand, full.c.first_full, {
        "horizon_months": answer.c.horizon_months, "responded": answer.c.responded,
        "surveyed_on": answer.c.surveyed_on, "situation": answer.c.situation,
        "in_target_job": answer.c.in_target_job, "contract": answer.c.contract,
        "gross_monthly_pay": answer.c.gross_monthly_pay, "record_key": cand.c.record_key})


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
    return FactSource(from_, cand, activity.c.activity_date, {
        "cqp_code": cand.c.cqp_code,
        # what the RNCP coverage by year asks of each row; stored by the derived layer, so
        # that PostgreSQL and SQLite do not look up the windows row by row at each request
        "registered_year_end": registered_on_last_day(cand.c.cqp_code,
                                                      year_of(activity.c.activity_date))})


def last_activity_year(activity: sa.FromClause, year: sa.ColumnElement) -> sa.ScalarSelect:
    """The last year with an entry or a jury decision in the whole database, read from
    ``activity`` (the activity fact's rows, raw or derived, or its cube) and its ``year``."""
    # never correlated: the request reads the same rows
    return sa.select(sa.func.max(year)).select_from(activity).correlate(None).scalar_subquery()


#: Each fact over the raw tables: what the derived layer (:mod:`cqp_metrics.derived`) is
#: built from, and the reference its tests compare it with.
RAW_FACTS = {
    "candidacy": candidacy_fact,
    "jury": jury_fact,
    "first_partial": first_partial_fact,
    "first_jury": first_jury_fact,
    "block_result": block_result_fact,
    "activity": activity_fact,
    "holder": holder_fact,
    "insertion": insertion_fact,
}

#: What places each fact's rows in a period, for people (the definitions' "période").
PERIODS_FR = {
    "candidacy": "date d'entrée en parcours (entered_on)",
    "jury": "date du jury (jury_date)",
    "first_partial": "date de la première validation partielle de la candidature",
    "first_jury": "date de la première décision de jury de la candidature",
    "block_result": "date du jury qui a évalué le bloc",
    "activity": "date d'entrée ou de décision de jury",
    "holder": "date de la validation totale (la promotion)",
    "insertion": "date de la validation totale du titulaire enquêté (sa promotion)",
}
PERIODS_EN = {
    "candidacy": "date of entering the pathway (entered_on)",
    "jury": "date of the jury (jury_date)",
    "first_partial": "date of the candidacy's first partial validation",
    "first_jury": "date of the candidacy's first jury decision",
    "block_result": "date of the jury that assessed the block",
    "activity": "date of entry or of jury decision",
    "holder": "date of the full validation (the promotion)",
    "insertion": "date of the surveyed holder's full validation (their promotion)",
}

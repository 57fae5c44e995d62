"""What each view asks, for the pages, the report and the notebooks alike.

Each function is pure: from the filters (``where``, ``years``) and the view's own choices, it
returns the view's requests by name (:class:`~cqp_metrics.query.IndicatorQuery`), made by
``ask``: a data source's :meth:`~dashboards.data.MetricsSource.request` (a session, within
its user's scope), or :func:`asking`'s for an engine (the report, a notebook). A page shows
their answers; the report and the notebooks ask the same requests for their sections, so a
figure reads the same in all three, and is computed once in a process that shares results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

import sqlalchemy as sa

from cqp_metrics.api import IndicatorTable, compute_query
from cqp_metrics.config import SecretRule
from cqp_metrics.insertion import cqp_names, promotion_names
from cqp_metrics.period import data_cut
from cqp_metrics.query import IndicatorQuery

from .charts.vae_path import FUNNEL

#: ``ask(names=None, by=(), where=None, years=(None, None), until=None)``: one request.
Ask = Callable[..., IndicatorQuery]
#: ``answer(query, changes=False)``: its table.
Answer = Callable[..., IndicatorTable]

#: The key figures of the Vue d'ensemble and of the report, in order.
KEY_FIGURES = ("enrolments", "juries", "full_rate", "vae_success_rate", "partial_rate",
               "recognition_rate")
#: What the Vue d'ensemble shows by year: its key figures and its trends' terms.
OVERVIEW = (*KEY_FIGURES, "full")
#: The VAE path's steps, each a count of the period's VAE entrants.
VAE_STEPS = tuple(name for name, _ in FUNNEL)
#: Partial validations by year: how many, how many completed, and Kaplan–Meier's estimates.
PARTIAL = ("partial_rate", "partial_candidacies", "partial_completed",
           "partial_completion_rate", "partial_completion_12m_km", "partial_completion_24m_km")
#: Kaplan–Meier's completion estimates at 12 and 24 months.
KM = ("partial_completion_12m_km", "partial_completion_24m_km")
#: National recognition by year.
RECOGNITION = ("recognition_rate", "rncp_coverage", "certified", "certified_rncp",
               "cqps_active", "cqps_registered")
#: What a region shows (the Territoires page's choices).
TERRITORIES = ("enrolments", "juries", "full_rate", "vae_success_rate", "partial_rate",
               "withdrawal_rate")
#: A CQP's sheet by year (the Fiche CQP page, the CPNE's review).
SHEET = ("enrolments", "juries", "full_rate", "partial_rate", "vae_success_rate",
         "partial_completion_12m_km", "days_to_first_jury_median", "recognition_rate")


def by_year(ask: Ask, where: dict, years: tuple, names: Iterable[str] | None = None,
            until: tuple[int, int] | None = None) -> IndicatorQuery:
    """Indicators by year (every one when ``names`` is None: the Données page by year)."""
    return ask(names=None if names is None else list(names), by=("year",), where=where,
               years=years, until=until)


def overview(ask: Ask, where: dict, years: tuple) -> IndicatorQuery:
    """The Vue d'ensemble's key figures and trends by year."""
    return by_year(ask, where, years, OVERVIEW)


def same_months(ask: Ask, where: dict, year: int,
                until: tuple[int, int] | None) -> IndicatorQuery:
    """The key figures of ``year`` and of the one before: when ``year`` is incomplete, each
    up to the same day ``until`` (their change compares the same months)."""
    return by_year(ask, where, (year - 1, year), OVERVIEW, until)


def lapses(ask: Ask, where: dict, others: list[str], year: int,
           until: tuple[int, int] | None) -> IndicatorQuery:
    """The recognition rate of the ``others`` CQPs (those whose registration did not end)
    over ``year`` and the year before: what the rate's change is beside a lapse."""
    return by_year(ask, {**where, "cqp_code": others}, (year - 1, year), ["recognition_rate"],
                   until)


def vae(ask: Ask, where: dict, years: tuple) -> dict[str, IndicatorQuery]:
    """The VAE page: the path of the period's entrants, the success rate by year (with the
    path's steps), by status and age band, the time to a first jury (none when the filters
    leave the VAE out)."""
    if where.get("pathway") and "vae" not in where["pathway"]:
        return {}
    where = {**where, "pathway": ["vae"]}
    return {
        "total": ask(names=list(VAE_STEPS), where=where, years=years),
        "by_year": by_year(ask, where, years, ["vae_success_rate", *VAE_STEPS]),
        "by_status": ask(names=["vae_success_rate"], by=("status",), where=where,
                         years=years),
        "by_age": ask(names=["vae_success_rate"], by=("age_band",), where=where, years=years),
        "durations": by_year(ask, where, years, ["days_to_first_jury_median"])}


def partial(ask: Ask, where: dict, years: tuple) -> dict[str, IndicatorQuery]:
    """The partial validations page: by year, over the period, by block."""
    return {"by_year": by_year(ask, where, years, PARTIAL),
            "overall": ask(names=list(KM), where=where, years=years),
            "blocks": ask(by=("block_code",), where=where, years=years)}


def recognition(ask: Ask, where: dict, years: tuple) -> dict[str, IndicatorQuery]:
    """The national recognition by year."""
    return {"by_year": by_year(ask, where, years, RECOGNITION)}


def blocks(ask: Ask, where: dict, years: tuple) -> IndicatorQuery:
    """Competence blocks by referential version."""
    return ask(by=("referential_version", "block_code"), where=where, years=years)


def providers(ask: Ask, where: dict, years: tuple) -> dict[str, IndicatorQuery]:
    """The providers' full validation rates and the overall one (the funnel plot's)."""
    return {"providers": ask(names=["full_rate"], by=("provider_id",), where=where,
                             years=years),
            "overall": ask(names=["full_rate"], where=where, years=years)}


def sheet(ask: Ask, where: dict, years: tuple, cqp: str) -> dict[str, IndicatorQuery]:
    """A CQP's sheet (the Fiche CQP page, the CPNE's review): by year, its blocks by
    version, its providers."""
    one = {**where, "cqp_code": [cqp]}
    return {"sheet": by_year(ask, one, years, SHEET), "blocks": blocks(ask, one, years),
            **providers(ask, one, years)}


def territories(ask: Ask, where: dict, years: tuple) -> dict[str, IndicatorQuery]:
    """The indicators by region."""
    return {"regions": ask(names=list(TERRITORIES), by=("region_code",), where=where,
                           years=years)}


def insertion(ask: Ask, where: dict, years: tuple, horizon: int) -> dict[str, IndicatorQuery]:
    """The holders' insertion at ``horizon`` months: by promotion, by CQP, by contract."""
    return {"promotions": by_year(ask, where, years, promotion_names(horizon)),
            "cqps": ask(names=cqp_names(horizon), by=("cqp_code",), where=where, years=years),
            "contracts": ask(names=[f"insertion_employed_{horizon}m"], by=("contract",),
                             where=where, years=years)}


def asking(engine: sa.Engine, scope: Iterable[str] | None = None,
           rule: SecretRule | bool = True, data_until: dt.date | None = None
           ) -> tuple[Ask, Answer]:
    """``ask`` and ``answer`` for an engine (the report, a notebook), as a session's data
    source makes them: requests within ``scope`` carrying the data cut (read once), the
    same requests a page makes for the same filters; answered under ``rule``
    (:func:`~cqp_metrics.compute`'s ``secret``), each computed once however often asked;
    ``answer(query, changes=True)``: with each share's change on the year before;
    ``data_until``: the database's data cut when the caller has read it."""
    scope = None if scope is None else list(scope)
    cut = data_until
    if cut is None:
        with engine.connect() as connection:
            cut = data_cut(connection)
    answers: dict[tuple[IndicatorQuery, bool], IndicatorTable] = {}

    def ask(names=None, by=(), where=None, years=(None, None), until=None) -> IndicatorQuery:
        return IndicatorQuery.make(names, by, {k: v for k, v in (where or {}).items() if v},
                                   years, scope, until).at_data_cut(cut)

    def answer(query: IndicatorQuery, changes: bool = False) -> IndicatorTable:
        if (query, changes) not in answers:
            answers[query, changes] = compute_query(engine, query, rule, changes=changes)
        return answers[query, changes]

    return ask, answer

"""Where the dashboards get their numbers: ``cqp_metrics``, cached once for every session."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pandas as pd
import panel as pn
import param
import sqlalchemy as sa

from cqp_metrics import catalogue
from cqp_metrics.access import NOBODY, Access
from cqp_metrics.api import IndicatorTable, compute_query, prefetch_scans
from cqp_metrics.cache import TABLES
from cqp_metrics.config import SecretRule, resolve_db_url, scope_from_env
from cqp_metrics.db import DatabaseError, check_schema, error_reason
from cqp_metrics.formatting import source_note
from cqp_metrics.period import data_cut
from cqp_metrics.query import IndicatorQuery
from cqp_metrics.secret import database_rule
from cqp_metrics.survival import completion_curve

from .engines import data_version, engine_for

#: Threads that answer a page's requests side by side, shared by every session.
_POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2),
                           thread_name_prefix="cqp-requests")
log = logging.getLogger("dashboards")


def _for_people(message: str) -> str:
    """A database message without the server's paths."""
    if message.startswith("Base introuvable"):
        return ("Base introuvable : l'administrateur doit charger des données "
                "(« cqp-metrics load » ou « cqp-metrics demo »).")
    return message


def _indicator_table(url: str, version: int, query: IndicatorQuery,
                     totals: bool) -> IndicatorTable:
    """One request's table, shared by every session: the request itself is the key (a
    session asking while another computes it waits for that table)."""
    return TABLES.get(_table_key(url, version, query, totals), lambda: compute_query(
        engine_for(url), query, secret=SecretRule(), totals=totals, version=version))


def _table_key(url: str, version: int, query: IndicatorQuery, totals: bool) -> tuple:
    """What a request's table is shared by (:data:`cqp_metrics.cache.TABLES`)."""
    return (url, version, query, totals)


@pn.cache(max_items=128, policy="LRU")
def _completion_curve(url: str, version: int, where: tuple, years: tuple,
                      scope: tuple | None, by_year: bool) -> pd.DataFrame:
    return completion_curve(engine_for(url), where=dict(where), years=years, scope=scope,
                            by_year=by_year, secret=SecretRule())


@pn.cache(max_items=64, policy="LRU")
def _catalogue(url: str, version: int, scope: tuple | None, what: str):
    with engine_for(url).connect() as connection:
        if what == "certifications":
            return catalogue.certifications(connection, scope)
        if what == "branches":
            return catalogue.branches(connection, scope)
        if what == "registrations":
            return catalogue.registrations(connection, scope)
        if what == "source":
            return source_note(connection)
        if what == "certifinfo":  # the national list names every branch's CQPs
            national = catalogue.certifinfo_catalogue(connection)
            return national if scope is None else national[["recognition"]]
        if what == "data_cut":
            return data_cut(connection)
        if what == "secret_rule":
            return database_rule(connection)[0]
        return tuple(catalogue.dimension_values(connection, what, scope))  # shared: frozen


def in_served_session() -> bool:
    return bool(pn.state.curdoc and pn.state.curdoc.session_context)


def where_key(where: dict | None) -> tuple:
    """A set of filters as a key (hashable, the same whatever the order; empty ones out)."""
    return tuple(sorted((k, tuple(v)) for k, v in (where or {}).items() if v))


class MetricsSource(param.Parameterized):
    """The database the dashboards read and the branches their user may see."""

    url = param.String(default=None, allow_None=True, doc="""
        SQLAlchemy URL of the database; default: $CQP_DB, else data/cqp.duckdb.""")
    scope = param.List(default=None, allow_None=True, item_type=str, doc="""
        Branches (IDCC) the user may see; None: all. Default: $CQP_SCOPE.""")

    def __init__(self, access: Access | None = None, **params):
        """``scope`` comes from the server side: the app passes the signed-in user's
        (:func:`dashboards.auth.session_scope`). Without one, ``$CQP_SCOPE`` outside a
        served session, and nothing at all inside one (deny by default)."""
        params.setdefault("url", resolve_db_url(None))
        #: Who is signed in (``cqp-metrics serve``), None when nobody signs in.
        self.access: Access | None = access
        if "scope" not in params:
            if in_served_session():
                log.warning("a served session's source made without its scope: nothing shown")
                params["scope"], self.access = [], NOBODY
            else:
                params["scope"] = scope_from_env()  # InputError when set but malformed
        super().__init__(**params)
        self.param.scope.constant = True  # from the server side only, never a widget

    def check(self) -> None:
        """Raise :class:`DatabaseError` with a message for people if the base is not usable
        (the details, with paths, go to the server's log only)."""
        try:
            check_schema(engine_for(self.url))
        except DatabaseError as error:
            log.error("database not usable: %s", error)
            raise DatabaseError(_for_people(str(error))) from None
        except Exception as error:  # a locked or unreadable file, an unreachable server
            log.error("database not reachable: %s", error_reason(error, limit=None))
            raise DatabaseError("Base inaccessible pour le moment : réessayez dans un instant "
                                "ou prévenez l'administrateur.") from None

    def _scope(self) -> tuple | None:
        return None if self.scope is None else tuple(sorted(self.scope))

    def engine(self) -> sa.Engine:
        """The server's engine of this database (read only)."""
        return engine_for(self.url)

    def request(self, names=None, by=(), where=None, years=(None, None),
                until: tuple[int, int] | None = None) -> IndicatorQuery:
        """The request for these indicators, cuts and filters, within this session's scope:
        made (normalised and checked) once, then the key of the shared cache. It carries
        the data cut, read once per version of the data rather than by each computation."""
        return IndicatorQuery.make(names, by, {k: v for k, v in (where or {}).items() if v},
                                   years, self._scope(), until).at_data_cut(self.data_cut())

    def table(self, names=None, by=(), where=None, years=(None, None),
              totals: bool = False, until: tuple[int, int] | None = None) -> IndicatorTable:
        """Indicators for these cuts and filters (cached for every session); ``until``:
        (month, day), the same period of every year."""
        return self.answer(self.request(names, by, where, years, until), totals)

    def answer(self, query: IndicatorQuery, totals: bool = False) -> IndicatorTable:
        """The table of a request (cached for every session)."""
        return _indicator_table(self.url, data_version(self.url), query, totals)

    def _unanswered(self, requests: dict[str, IndicatorQuery], version: int,
                    totals: bool = False) -> list[IndicatorQuery]:
        """The requests (each once) whose tables are not computed yet (nothing is)."""
        return [q for q in dict.fromkeys(requests.values())
                if TABLES.peek(_table_key(self.url, version, q, totals)) is None]

    def has_answers(self, requests: dict[str, IndicatorQuery], totals: bool = False) -> bool:
        """Whether the tables of these requests are all computed already (nothing is)."""
        return not self._unanswered(requests, data_version(self.url), totals)

    def answers(self, requests: dict[str, IndicatorQuery],
                totals: bool = False) -> dict[str, IndicatorTable]:
        """The tables of a page's requests (``totals``: each with its total rows), computed
        side by side, each cached for every session.

        What the requests not cached yet will read is read first
        (:func:`cqp_metrics.api.prefetch_scans`): the requests of one set of filters in one
        scan of each fact, the scans side by side."""
        version = data_version(self.url)
        scans: dict[IndicatorQuery, list[IndicatorQuery]] = {}
        for query in self._unanswered(requests, version, totals):
            scans.setdefault(query.filters(), []).append(query)
        engine = engine_for(self.url)
        reads = [read for group in scans.values()
                 for read in prefetch_scans(engine, group, totals, version)]
        for future in [_POOL.submit(read) for read in reads]:
            future.result()
        futures = {name: _POOL.submit(self.answer, query, totals)
                   for name, query in requests.items()}
        return {name: future.result() for name, future in futures.items()}

    def beside(self, compute: Callable[[], object]) -> Future:
        """``compute`` started in the threads that answer the requests (a page's
        computation besides its tables, read at the same time as them)."""
        return _POOL.submit(compute)

    def completion_curve(self, where=None, years=(None, None),
                         by_year: bool = False) -> pd.DataFrame:
        """The Kaplan–Meier completion curve of partial validations (cached)."""
        return _completion_curve(self.url, data_version(self.url), where_key(where),
                                 tuple(years), self._scope(), by_year)

    def data_cut(self):
        """The database's data cut (a date), or None."""
        return self.catalogue("data_cut")

    def secret_rule(self) -> SecretRule:
        """The database's statistical secret rule (what every figure is published under)."""
        return self.catalogue("secret_rule")

    def catalogue(self, what: str):
        """``certifications``, ``branches``, ``source`` or the values of a dimension."""
        return _catalogue(self.url, data_version(self.url), self._scope(), what)

    def certifications(self) -> pd.DataFrame:
        return self.catalogue("certifications")

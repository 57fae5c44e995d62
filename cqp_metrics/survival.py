"""The Kaplan–Meier completion curve of partial validations, computed in the database.

The curve of a cohort (candidacies whose first partial validation falls in the period, per
cohort year when asked) is its estimate at each event day: the database groups the cohort's
times by day, counts those still at risk (``n``: times on or after the day) and accumulates
Σ ln(1 − d/n) and Greenwood's Σ d/(n(n − d)) with window functions. Only those aggregates
leave the database. A cohort whose figure the secret hides
(:class:`cqp_metrics.kinds.KaplanMeier`) has no curve, and a curve stops where fewer than the
count threshold are still at risk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from . import dialects
from .api import _connection, _rule, compute
from .config import SecretRule
from .dialects import days_between
from .kinds import DAYS_PER_MONTH, km_estimate
from .period import data_cut
from .query import IndicatorQuery, fact_rows

#: The estimate its secret follows (the same cohort).
FIGURE = "partial_completion_24m_km"


def completion_curve(engine: sa.Engine | sa.Connection, where: dict | None = None,
                     years: tuple[int | None, int | None] | None = None,
                     scope: Iterable[str] | None = None, by_year: bool = False,
                     horizon: int = 730, secret: SecretRule | bool = True,
                     data_until: dt.date | None = None) -> pd.DataFrame:
    """One row per event day of each cohort, up to ``horizon`` days: ``year`` (the cohort's,
    with ``by_year``), ``days``, ``months``, ``completion`` and its log-log ``low``/``high``
    bounds (95 %); the curve starts at (0, 0)."""
    rule = _rule(secret)
    by = ("year",) if by_year else ()
    with _connection(engine) as connection:
        dialects.prepare(connection)
        cut = data_until or data_cut(connection)
        query = IndicatorQuery.make([FIGURE], by, where, years, scope, data_until=cut)
        figures = compute(connection, [FIGURE], by, where, years, scope, rule, data_until=cut)
        if cut is None:
            return _empty(by)

        def columns(fact, _partition):
            event = fact["event"]
            end = sa.func.coalesce(event, sa.literal(cut, sa.Date))
            return {"t": days_between(fact["start"], end),
                    "e": sa.case((event.is_not(None), 1), else_=0)}

        rows = fact_rows("first_partial", query, columns)
        keys = [rows.c[f"k_{d}"].label(d) for d in by]
        days = (sa.select(*keys, rows.c.t, sa.func.sum(rows.c.e).label("d"),
                          sa.func.count().label("c"))
                .group_by(*(rows.c[f"k_{d}"] for d in by), rows.c.t).subquery("days"))
        part = [days.c[d] for d in by] or None
        at_risk = sa.func.sum(days.c.c).over(partition_by=part, order_by=days.c.t.desc(),
                                             rows=(None, 0))
        risk = sa.select(*(days.c[d] for d in by), days.c.t, days.c.d,
                         at_risk.label("n")).subquery("risk")
        step = sa.and_(risk.c.d > 0, risk.c.d < risk.c.n)
        ratio = sa.cast(risk.c.d, sa.Double) / risk.c.n
        running = {"partition_by": [risk.c[d] for d in by] or None, "order_by": risk.c.t,
                   "rows": (None, 0)}
        curve = sa.select(
            *(risk.c[d] for d in by), risk.c.t, risk.c.d, risk.c.n,
            sa.func.sum(sa.case((step, sa.func.ln(1.0 - ratio)), else_=0.0)).over(
                **running).label("logs"),
            sa.func.sum(sa.case((step, sa.cast(risk.c.d, sa.Double) / (
                sa.cast(risk.c.n, sa.Double) * (risk.c.n - risk.c.d))), else_=0.0)).over(
                **running).label("var"),
            sa.func.max(sa.case((sa.and_(risk.c.d > 0, risk.c.d == risk.c.n), 1),
                                else_=0)).over(**running).label("zero"),
        ).subquery("curve")
        result = connection.execute(
            sa.select(curve).where(curve.c.t <= horizon, curve.c.d > 0)
            .order_by(*(curve.c[d] for d in by), curve.c.t))
        points = pd.DataFrame(result.all(), columns=list(result.keys()))
    return _shaped(points, figures, by, rule)


def _empty(by: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(columns=[*by, "days", "months", "completion", "low", "high"])


def _shaped(points: pd.DataFrame, figures, by: tuple[str, ...],
            rule: SecretRule) -> pd.DataFrame:
    hidden = figures.hidden[FIGURE] if FIGURE in figures.hidden else None
    shown_cohorts = set()
    for i, row in figures.values.iterrows():
        if hidden is None or not hidden.iloc[i]:
            shown_cohorts.add(tuple(int(row[d]) for d in by))
    out = []
    for cohort, group in (points.groupby(list(by)) if by else [((), points)]):
        cohort = cohort if isinstance(cohort, tuple) else (cohort,)
        cohort = tuple(int(v) for v in cohort)
        if cohort not in shown_cohorts:
            continue
        if rule.enabled:
            group = group[group["n"] >= rule.min_count]
        survival, low, high = km_estimate(group["logs"], group["var"], group["zero"],
                                          group["t"], horizon=0)
        frame = pd.DataFrame({"days": group["t"].astype(int), "completion": 1 - survival,
                              "low": 1 - high, "high": 1 - low})
        start = pd.DataFrame({"days": [0], "completion": [0.0], "low": [0.0], "high": [0.0]})
        frame = pd.concat([start, frame], ignore_index=True)
        for d, value in zip(by, cohort, strict=True):
            frame.insert(0, d, value)
        out.append(frame)
    if not out:
        return _empty(by)
    result = pd.concat(out, ignore_index=True)
    result.insert(len(by) + 1, "months", result["days"] / DAYS_PER_MONTH)
    return result

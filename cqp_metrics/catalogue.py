"""The catalogue: CQPs, their branches and national registrations (public facts, no secret),
and the values each dimension takes, for the dashboards' filters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from . import schema
from .dimensions import DIMENSIONS
from .facts import cqps_of

#: Columns of the candidacy table behind each filterable dimension.
_CANDIDACY_COLUMNS = ("cqp_code", "region_code", "pathway", "funding", "status", "sex",
                      "provider_id", "referential_version")


def _visible_cqps(scope: Iterable[str] | None) -> sa.Select | None:
    return None if scope is None else cqps_of(scope)


def dimension_values(connection: sa.Connection, dimension: str,
                     scope: Iterable[str] | None = None) -> list:
    """The distinct values of a dimension in the data the scope lets the user see."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension inconnue : {dimension}")
    visible = _visible_cqps(scope)
    if dimension == "branch_code":
        query = sa.select(schema.branch.c.branch_code)
        if scope is not None:
            query = query.where(schema.branch.c.branch_code.in_(sorted(scope)))
    elif dimension == "year":
        cand = schema.candidacy
        query = sa.select(sa.cast(sa.extract("year", cand.c.entered_on), sa.Integer)).distinct()
        jury = sa.select(sa.cast(sa.extract("year", schema.jury.c.jury_date),
                                 sa.Integer)).distinct()
        if visible is not None:
            query = query.where(cand.c.cqp_code.in_(visible))
            jury = jury.join(cand, cand.c.candidacy_id == schema.jury.c.candidacy_id).where(
                cand.c.cqp_code.in_(visible))
        query = sa.union(query, jury)
    elif dimension == "age_band":
        return ["<26", "26-44", "45+"]
    elif dimension == "block_code":
        query = sa.select(schema.block.c.block_code).distinct()
        if visible is not None:
            query = query.where(schema.block.c.cqp_code.in_(visible))
    else:
        column = schema.candidacy.c[dimension]
        query = sa.select(column).distinct().where(column.is_not(None))
        if visible is not None:
            query = query.where(schema.candidacy.c.cqp_code.in_(visible))
    return sorted(v for (v,) in connection.execute(query).all() if v is not None)


def branches(connection: sa.Connection, scope: Iterable[str] | None = None) -> pd.DataFrame:
    """Branch code and name, for the branches in scope."""
    query = sa.select(schema.branch).order_by(schema.branch.c.branch_code)
    if scope is not None:
        query = query.where(schema.branch.c.branch_code.in_(sorted(scope)))
    return pd.DataFrame(connection.execute(query).all(), columns=["branch_code", "name"])


def certifications(connection: sa.Connection, scope: Iterable[str] | None = None,
                   today: dt.date | None = None) -> pd.DataFrame:
    """One row per CQP: title, owning branches, CQPI flag and its recognition on ``today``
    (RNCP, RS or branch only) with the current window and months until it ends."""
    today = today or dt.date.today()
    cert, link = schema.certification, schema.certification_branch
    query = sa.select(cert.c.cqp_code, cert.c.title, cert.c.level).order_by(cert.c.cqp_code)
    visible = _visible_cqps(scope)
    if visible is not None:
        query = query.where(cert.c.cqp_code.in_(visible))
    rows = connection.execute(query).all()
    owners: dict[str, list[str]] = {}
    for cqp, branch in connection.execute(sa.select(link.c.cqp_code, link.c.branch_code)):
        owners.setdefault(cqp, []).append(branch)
    windows = registration_status(registrations(connection, scope), today)
    # a few dozen CQPs: plain Python, the frame made once (pandas per row costs more)
    current: dict[str, tuple] = {}  # the window in force that ends last (an open end first)
    lapsed: dict[str, tuple] = {}
    for window in windows.itertuples(index=False):
        if window.status == CURRENT:
            held = current.get(window.cqp_code)
            if held is None or _ends_after(window.valid_until, held.valid_until):
                current[window.cqp_code] = window
        elif window.status == LAPSED:
            lapsed[window.cqp_code] = window
    columns: dict[str, list] = {name: [] for name in (
        "cqp_code", "title", "level", "branch_codes", "cqpi", "recognition", "rncp_code",
        "valid_until", "months_left", "ever_registered", "lapsed_code", "lapsed_register",
        "lapsed_on")}
    ever = set(windows["cqp_code"])
    for cqp, title, level in rows:
        codes = "|".join(sorted(owners[cqp])) if cqp in owners else np.nan
        window, ended = current.get(cqp), lapsed.get(cqp)
        until = window.valid_until if window is not None else None
        columns["cqp_code"].append(cqp)
        columns["title"].append(title)
        columns["level"].append(level)
        columns["branch_codes"].append(codes)
        columns["cqpi"].append(cqp in owners and "|" in codes)
        columns["recognition"].append(window.register if window is not None
                                      else "branche seule")
        columns["rncp_code"].append(window.rncp_code if window is not None else np.nan)
        columns["valid_until"].append(until if until is not None else np.nan)
        columns["months_left"].append(None if until is None else
                                      (until.year - today.year) * 12 + until.month - today.month)
        columns["ever_registered"].append(cqp in ever)
        columns["lapsed_code"].append(ended.rncp_code if ended is not None else np.nan)
        columns["lapsed_register"].append(ended.register if ended is not None else np.nan)
        columns["lapsed_on"].append(ended.valid_until if ended is not None else np.nan)
    if not rows:  # no CQP in scope: the columns' types all the same (a flag is a bool)
        return pd.DataFrame({c: pd.Series(dtype=_EMPTY_TYPES.get(c, object)) for c in columns})
    # (the recognition as Python objects, as the frame always gave it)
    columns["recognition"] = pd.Series(columns["recognition"], dtype=object)
    return pd.DataFrame(columns)


#: The types of an empty :func:`certifications` frame's columns that are not objects.
_EMPTY_TYPES = {"branch_codes": "str", "cqpi": bool, "ever_registered": bool,
                **dict.fromkeys(("rncp_code", "valid_until", "months_left", "lapsed_code",
                                 "lapsed_register", "lapsed_on"), float)}


def _ends_after(ends: dt.date | None, other: dt.date | None) -> bool:
    """Whether a window ending on ``ends`` is kept over one ending on ``other`` (an open end
    ranks first, then dates in order; the later of ties)."""
    return other is None or (ends is not None and ends >= other)


#: A registration's state on a day: in force, not yet begun, ended but followed by another
#: window of the same CQP (renewed), ended with none after it (lapsed).
CURRENT, FUTURE, RENEWED, LAPSED = "current", "future", "renewed", "lapsed"


def registration_status(windows: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    """Each registration window (:func:`registrations`) with its ``status`` on ``today``
    (:data:`CURRENT`, :data:`FUTURE`, :data:`RENEWED`, :data:`LAPSED`) and, for one that has
    ended, the ``successor``'s code: the window of the same CQP that ends latest after it (an
    open end counts as the latest). A window whose end date is past and that has no
    successor has lapsed."""
    frame = windows.copy()
    for column in ("valid_from", "valid_until"):
        frame[column] = frame[column].map(_day)
    rows = list(zip(frame["cqp_code"], frame["valid_from"], frame["valid_until"],
                    frame["rncp_code"], strict=True))
    of_cqp: dict[str, list[int]] = {}
    for at, row in enumerate(rows):
        of_cqp.setdefault(row[0], []).append(at)
    status, successor = [], []
    for at, (cqp, begins, ends, _code) in enumerate(rows):
        follower, latest = None, None
        for other in of_cqp[cqp]:  # the same CQP's windows that end after this one
            until = rows[other][2]
            if other == at or ends is None or not (until is None or until > ends):
                continue
            if latest is None or (until or dt.date.max) >= latest:  # the last of ties
                follower, latest = rows[other][3], until or dt.date.max
        if begins is not None and begins > today:
            status.append(FUTURE)
        elif ends is None or ends >= today:
            status.append(CURRENT)
        else:
            status.append(RENEWED if follower is not None else LAPSED)
        successor.append(follower if status[-1] == RENEWED else None)
    frame["status"], frame["successor"] = status, successor
    return frame


def _day(value) -> dt.date | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


def lapsed(frame: pd.DataFrame) -> pd.DataFrame:
    """The CQPs of :func:`certifications` whose registration has lapsed (ended, not
    renewed), the most recent first."""
    return frame[frame["lapsed_on"].notna()].sort_values("lapsed_on", ascending=False)


def ended_between(windows: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The registration windows that ended from ``start`` to ``end`` (bounds included)
    with no window of the same CQP in force the day after: the CQPs whose certificates
    stopped being recognised in that period."""
    frame = windows.copy()
    for column in ("valid_from", "valid_until"):
        frame[column] = frame[column].map(_day)
    rows = list(zip(frame["cqp_code"], frame["valid_from"], frame["valid_until"],
                    strict=True))
    keep = []  # a few windows: plain Python (pandas row by row costs more)
    for cqp, _begins, ends in rows:
        if ends is None or not start <= ends <= end:
            keep.append(False)
            continue
        after = ends + dt.timedelta(days=1)
        keep.append(not any(other == cqp and (begins is None or begins <= after)
                            and (until is None or until >= after)
                            for other, begins, until in rows))
    # .loc and a boolean array: no window (a CQP never registered) keeps the columns
    return frame.loc[np.array(keep, dtype=bool)].sort_values("valid_until")


def registrations(connection: sa.Connection, scope: Iterable[str] | None = None) -> pd.DataFrame:
    """Every registration window (RNCP or RS) of the CQPs in scope, oldest first."""
    reg = schema.registration
    query = sa.select(reg.c.cqp_code, reg.c.register, reg.c.rncp_code, reg.c.valid_from,
                      reg.c.valid_until).order_by(reg.c.cqp_code, reg.c.valid_from)
    visible = _visible_cqps(scope)
    if visible is not None:
        query = query.where(reg.c.cqp_code.in_(visible))
    return pd.DataFrame(connection.execute(query).all(), columns=[
        "cqp_code", "register", "rncp_code", "valid_from", "valid_until"])


def certifinfo_catalogue(connection: sa.Connection) -> pd.DataFrame:
    """The CQPs of the last Certif Info import, with their recognition and level."""
    entry = schema.catalogue_entry
    query = sa.select(entry.c.code_diplome, entry.c.title, entry.c.recognition,
                      entry.c.rncp_code, entry.c.level, entry.c.valideur).order_by(entry.c.title)
    return pd.DataFrame(connection.execute(query).all(), columns=[
        "code_diplome", "title", "recognition", "rncp_code", "level", "valideur"])


def matching(frame: pd.DataFrame, where: dict | None) -> pd.DataFrame:
    """The CQPs of :func:`certifications` that a request's CQP and branch filters select."""
    where = where or {}
    if where.get("cqp_code"):
        frame = frame[frame["cqp_code"].isin(list(where["cqp_code"]))]
    if where.get("branch_code"):
        chosen = set(where["branch_code"])
        frame = frame[frame["branch_codes"].fillna("").map(
            lambda codes: bool(chosen & set(codes.split("|"))))]
    return frame


def ending_within(frame: pd.DataFrame, months: int) -> pd.DataFrame:
    """The current registrations that end within ``months`` months."""
    left = pd.to_numeric(frame["months_left"], errors="coerce")
    return frame[left.notna() & (left <= months)].sort_values("valid_until")

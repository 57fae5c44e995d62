"""Server-side sessions of a served instance.

A sign-in opens a session: the browser's signed cookie carries its random id, the server
keeps who it is for and until when (table ``app_session``, the id stored as its SHA-256
only). Every request and every action of an open page checks it: ``/logout``,
``users passwd``, ``users remove``, a lock after failed sign-ins and the end of
``--session-hours`` end it, for every process and host that shares the store.

Like the audit trail (:mod:`cqp_metrics.audit`), the sessions live in the database on a
server (PostgreSQL), and in the journal beside an embedded database file (DuckDB, SQLite):
the server reads such a file read-only, and a load replaces it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from . import schema
from .access import utcnow
from .audit import server_writer, stored_text

#: Bounds of ``--session-hours``: six minutes to thirty days.
SESSION_HOURS = (0.1, 720.0)


def key_of(session_id: str) -> str:
    """What the store keeps of a session id: its SHA-256 (a copy of the store opens nothing)."""
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Session:
    """An open session: who, until when, and the identity provider's claims (OIDC)."""

    login: str
    expires_at: dt.datetime
    claims: dict | None = None


class SessionStore:
    """The sessions of one database's served instance."""

    def __init__(self, url: str) -> None:
        self._engine, _ = server_writer(url, schema.app_session)

    def open(self, login: str, hours: float, claims: dict | None = None,
             address: str | None = None, now: dt.datetime | None = None) -> str:
        """Open a session for ``login`` lasting ``hours``; its id (for the signed cookie)."""
        low, high = SESSION_HOURS
        if not low <= hours <= high:
            raise ValueError(f"session of {hours} hours")
        now = now or utcnow()
        session_id = secrets.token_urlsafe(32)
        with self._engine.begin() as connection:
            connection.execute(schema.app_session.insert().values(
                session_key=key_of(session_id), login=login[:64], created_at=now,
                expires_at=now + dt.timedelta(hours=hours),
                claims=None if claims is None else json.dumps(claims, default=str),
                address=(address or None) and stored_text(address, 64)))
        return session_id

    def find(self, session_id: str | None, now: dt.datetime | None = None) -> Session | None:
        """The open session of this id; None when unknown, ended or expired."""
        if not session_id:
            return None
        table = schema.app_session
        with self._engine.connect() as connection:
            row = connection.execute(sa.select(table.c.login, table.c.expires_at,
                                               table.c.claims).where(
                table.c.session_key == key_of(session_id), table.c.ended_at.is_(None),
                table.c.expires_at > (now or utcnow()))).first()
        if row is None:
            return None
        return Session(row.login, row.expires_at, None if row.claims is None
                       else json.loads(row.claims))

    def end(self, session_id: str | None, why: str) -> None:
        """End one session (``logout``)."""
        if session_id:
            self._end(schema.app_session.c.session_key == key_of(session_id), why)

    def end_all(self, login: str, why: str) -> int:
        """End every open session of ``login`` (``password``, ``removed``, ``locked``); how
        many were open."""
        return self._end(schema.app_session.c.login == login, why)

    def _end(self, which: sa.ColumnElement, why: str) -> int:
        table = schema.app_session
        with self._engine.begin() as connection:
            return connection.execute(table.update().where(which, table.c.ended_at.is_(None))
                                      .values(ended_at=utcnow(), ended_why=why)).rowcount

    def dispose(self) -> None:
        self._engine.dispose()


def end_sessions(url: str, login: str, why: str) -> int:
    """End every open session of ``login`` in the store of database ``url`` (the ``users``
    commands); how many were open."""
    store = SessionStore(url)
    try:
        return store.end_all(login, why)
    finally:
        store.dispose()

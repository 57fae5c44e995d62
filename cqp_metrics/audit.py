"""The audit trail of a served instance: sign-ins (success or failure) and downloads.

On PostgreSQL the rows go to the database's ``audit_event`` table. An embedded database file
(DuckDB, SQLite) has one writer at a time, and a ``load`` beside the server writes a copy
that replaces the file: a row written into the file meanwhile would be lost, and the server
would wait for the load to sign someone in. So the server writes its rows to a journal
beside the file (``<file>.audit.sqlite``, SQLite's own locking lets several server
processes append), and ``cqp-metrics audit`` reads both.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from . import schema
from .access import LOCK_WINDOW, locked_until, utcnow
from .db import database_url, file_of, make_engine

COLUMNS = [c.name for c in schema.audit_event.columns if c.name != "event_id"]


def journal_path(url: sa.URL) -> Path | None:
    """The journal beside an embedded database file; None for a server."""
    file = file_of(url)
    return None if file is None else file.with_name(file.name + ".audit.sqlite")


@dataclass
class AuditLog:
    """Where one database's audit rows are written and read."""

    url: str

    def __post_init__(self) -> None:
        parsed = database_url(self.url)
        self._journal = journal_path(parsed)
        self._main = make_engine(self.url, read_only=True, hold_file=False) \
            if parsed.get_backend_name() == "duckdb" else make_engine(self.url)
        if self._journal is None:
            self._writer = self._main
        else:
            self._writer = sa.create_engine(f"sqlite:///{self._journal}",
                                            connect_args={"timeout": 30})
            schema.audit_event.create(self._writer, checkfirst=True)

    def record(self, login: str, event: str, *, page: str | None = None,
               filters: Mapping | str | None = None, format: str | None = None,
               rows: int | None = None, address: str | None = None,
               at: dt.datetime | None = None) -> None:
        """Append one row (UTC time)."""
        if isinstance(filters, Mapping):
            filters = json.dumps(filters, ensure_ascii=False, sort_keys=True, default=str)
        with self._writer.begin() as connection:
            connection.execute(schema.audit_event.insert().values(
                event_id=uuid.uuid4().hex, occurred_at=at or utcnow(), login=(login or "")[:64],
                event=event, page=page, filters=filters, format=format, rows=rows,
                address=(address or None) and address[:64]))

    def events(self, since: dt.datetime | None = None, login: str | None = None,
               kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Rows of the database and of the journal, oldest first."""
        table = schema.audit_event
        query = sa.select(*(table.c[name] for name in COLUMNS))
        if since is not None:
            query = query.where(table.c.occurred_at >= since)
        if login is not None:
            query = query.where(table.c.login == login)
        if kinds is not None:
            query = query.where(table.c.event.in_(kinds))
        rows = []
        engines = [self._main] if self._journal is None else [self._main, self._writer]
        for engine in engines:
            with engine.connect() as connection:
                rows += connection.execute(query).all()
        frame = pd.DataFrame(rows, columns=COLUMNS)
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"])
        return frame.sort_values("occurred_at", kind="stable").reset_index(drop=True)

    def locked_until(self, login: str, now: dt.datetime | None = None) -> dt.datetime | None:
        """When the login's lock ends, or None: failures since its last success count."""
        now = now or utcnow()
        recent = self.events(since=now - 2 * LOCK_WINDOW, login=login,
                             kinds=("sign_in", "sign_in_failed"))
        successes = recent.loc[recent["event"] == "sign_in", "occurred_at"]
        failures = recent[recent["event"] == "sign_in_failed"]
        if len(successes):
            failures = failures[failures["occurred_at"] > successes.max()]
        return locked_until([t.to_pydatetime() for t in failures["occurred_at"]], now)

    def dispose(self) -> None:
        self._main.dispose()
        self._writer.dispose()


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
import logging
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from . import schema
from .access import LOCK_WINDOW, locked_until, utcnow
from .db import database_url, error_reason, file_of, make_engine

log = logging.getLogger("cqp_metrics")
COLUMNS = [c.name for c in schema.audit_event.columns if c.name != "event_id"]


#: Unicode categories shown escaped: controls (line breaks), format characters (zero-width,
#: bidirectional overrides), separators of lines and paragraphs, surrogates, private use.
_HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def stored_text(text: str | None, length: int) -> str:
    """Text typed by someone (a login, an address) as the journal keeps it: escaped, so that
    a line break or a control character cannot forge a line of the journal or of its
    export, then cut to the column's length."""
    escaped = "".join(
        "\\\\" if char == "\\" else char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in _HIDDEN else char for char in text or "")
    return escaped[:length]


def journal_path(url: sa.URL) -> Path | None:
    """The journal beside an embedded database file; None for a server."""
    file = file_of(url)
    return None if file is None else file.with_name(file.name + ".audit.sqlite")


def server_writer(url: str, table: sa.Table) -> tuple[sa.Engine, bool]:
    """Where a served instance writes ``table`` (audit rows, sessions): the database itself
    on a server (PostgreSQL), else the journal beside the file, with ``table`` created there
    when missing; and whether it is that journal."""
    journal = journal_path(database_url(url))
    if journal is None:
        return make_engine(url), False
    engine = sa.create_engine(f"sqlite:///{journal}", connect_args={"timeout": 30})
    try:
        table.create(engine, checkfirst=True)
    except sa.exc.OperationalError as error:  # a full disk: the server still serves, and
        # each write says it cannot be made (sign-in « indisponible »)
        log.error("journal %s not writable: %s", journal.name, error_reason(error))
    return engine, True


@dataclass
class AuditLog:
    """Where one database's audit rows are written and read."""

    url: str

    def __post_init__(self) -> None:
        self._writer, self._journal = server_writer(self.url, schema.audit_event)
        if not self._journal:
            self._main = self._writer
        elif database_url(self.url).get_backend_name() == "duckdb":
            self._main = make_engine(self.url, read_only=True, hold_file=False)
        else:
            self._main = make_engine(self.url)

    def record(self, login: str, event: str, *, page: str | None = None,
               filters: Mapping | str | None = None, format: str | None = None,
               rows: int | None = None, address: str | None = None,
               at: dt.datetime | None = None) -> str:
        """Append one row (UTC time); its id."""
        if isinstance(filters, Mapping):
            filters = json.dumps(filters, ensure_ascii=False, sort_keys=True, default=str)
        event_id = uuid.uuid4().hex
        with self._writer.begin() as connection:
            connection.execute(schema.audit_event.insert().values(
                event_id=event_id, occurred_at=at or utcnow(), login=stored_text(login, 64),
                event=event, page=page, filters=filters, format=format, rows=rows,
                address=(address or None) and stored_text(address, 64)))
        return event_id

    def begin_sign_in(self, login: str, address: str | None = None) -> str | None:
        """Start a sign-in: its row is written first, as a failure, then the failures
        written before it decide whether the login is locked (the row then says so, and
        None is returned); else the row's id, for :meth:`settle` once the password is
        checked. Attempts at once all count: under 30 concurrent attempts, at most
        :data:`~cqp_metrics.access.MAX_FAILURES` have their password checked."""
        mine = self.record(login, "sign_in_failed", address=address)
        now = utcnow()
        if self._locked_until(login, now, but=mine) is None:
            return mine
        self.settle(mine, "sign_in_locked")
        return None

    def settle(self, event_id: str, event: str) -> None:
        """What a sign-in begun by :meth:`begin_sign_in` turned out to be."""
        table = schema.audit_event
        with self._writer.begin() as connection:
            connection.execute(table.update().where(table.c.event_id == event_id)
                               .values(event=event))

    def events(self, since: dt.datetime | None = None, login: str | None = None,
               kinds: tuple[str, ...] | None = None, ids: bool = False) -> pd.DataFrame:
        """Rows of the database and of the journal, oldest first (``ids``: with their
        ``event_id``)."""
        table = schema.audit_event
        columns = ["event_id", *COLUMNS] if ids else COLUMNS
        query = sa.select(*(table.c[name] for name in columns))
        if since is not None:
            query = query.where(table.c.occurred_at >= since)
        if login is not None:
            query = query.where(table.c.login == login)
        if kinds is not None:
            query = query.where(table.c.event.in_(kinds))
        rows = []
        engines = [self._main, self._writer] if self._journal else [self._main]
        for engine in engines:
            with engine.connect() as connection:
                rows += connection.execute(query).all()
        frame = pd.DataFrame(rows, columns=columns)
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"])
        return frame.sort_values("occurred_at", kind="stable").reset_index(drop=True)

    def locked_until(self, login: str, now: dt.datetime | None = None) -> dt.datetime | None:
        """When the login's lock ends, or None: the failures since its last success count,
        and so do the attempts refused while it was locked (hammering keeps it locked)."""
        return self._locked_until(login, now or utcnow())

    def _locked_until(self, login: str, now: dt.datetime,
                      but: str | None = None) -> dt.datetime | None:
        recent = self.events(since=now - 2 * LOCK_WINDOW, login=stored_text(login, 64),
                             kinds=("sign_in", "sign_in_failed", "sign_in_locked"), ids=True)
        recent = recent[recent["event_id"] != but]
        successes = recent.loc[recent["event"] == "sign_in", "occurred_at"]
        failures = recent[recent["event"] != "sign_in"]
        if len(successes):
            failures = failures[failures["occurred_at"] > successes.max()]
        return locked_until([t.to_pydatetime() for t in failures["occurred_at"]], now)

    def dispose(self) -> None:
        self._main.dispose()
        self._writer.dispose()


"""Engines for the three supported backends, and schema upgrades through Alembic."""

from __future__ import annotations

import errno
import fcntl
import functools
import logging
import os
import shutil
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.ddl.postgresql import PostgresqlImpl
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from . import derived
from .config import resolve_db_url
from .dialects import rules_for

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger("cqp_metrics")

warnings.filterwarnings("ignore", message="duckdb-engine doesn't yet support reflection")


class DuckDBImpl(PostgresqlImpl):
    """Alembic speaks to DuckDB as to PostgreSQL (duckdb-engine's dialect derives from it)."""

    __dialect__ = "duckdb"


class DatabaseError(Exception):
    """The database cannot be opened or is not in a usable state; the message says why."""


#: What the drivers say when the disk is full (DuckDB, SQLite, PostgreSQL).
_FULL = ("no space left on device", "database or disk is full", "could not extend file",
         "disk full")


def disk_full(error: BaseException) -> bool:
    """Whether a failed write failed for want of disk space."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    text = str(getattr(error, "orig", None) or error).lower()
    return any(words in text for words in _FULL)


def error_reason(error: BaseException, limit: int | None = 200) -> str:
    """The driver's own first line for a failed database call, for a message to people."""
    return str(getattr(error, "orig", error)).strip().splitlines()[0][:limit]


def make_engine(db: str | None = None, *, read_only: bool = False,
                hold_file: bool = True) -> sa.Engine:
    """An engine for ``db`` (URL), ``$CQP_DB`` or the embedded DuckDB file.

    DuckDB lets one process at a time open a file for writing: readers such as the
    dashboards pass ``read_only=True``, and ``hold_file=False`` so that a file that a
    writer has replaced (:func:`writing`) is read from the next query on
    (:class:`SharedReadOnlyFile`: the process keeps one read-only database open, and its
    cache, between queries).
    """
    url = database_url(db)
    kwargs: dict = {}
    file = file_of(url)
    if file is not None:
        if read_only and not file.exists():
            raise DatabaseError(f"Base introuvable : {file.name} (lancez « cqp-metrics demo » "
                                "ou « cqp-metrics load », ou donnez --db).")
        if not read_only:
            file.parent.mkdir(parents=True, exist_ok=True)
    kwargs["connect_args"] = connect_args = {}
    for key, value in rules_for(url.get_backend_name()).connect_args:
        given = url.query.get(key)  # the URL's own (PostgreSQL's options=…) come first
        connect_args[key] = value if given is None else f"{given} {value}"
    if url.get_backend_name() == "duckdb":
        connect_args["read_only"] = read_only
        if not hold_file:
            kwargs["poolclass"] = sa.pool.NullPool
    try:
        engine = sa.create_engine(url, **kwargs)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as error:
        raise DatabaseError(f"Adresse de base inutilisable : {error_reason(error)}") from None
    if url.get_backend_name() == "duckdb" and file is not None and read_only and not hold_file:
        SharedReadOnlyFile.of(file).serve(engine)
    if url.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_foreign_keys)
    if url.get_backend_name() == "duckdb":
        sa.event.listen(engine, "connect", _duckdb_quiet)
    return engine


def _duckdb_quiet(connection, _record) -> None:
    """DuckDB draws its own progress bar on the terminal for a query over 2 s (a large
    ``db upgrade``); our commands say what they do in their own words."""
    connection.execute("SET enable_progress_bar = false")


def _identity(file: Path) -> tuple[int, ...] | None:
    """What changes when a writer renames a new file over ``file``."""
    try:
        status = file.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino, status.st_mtime_ns, status.st_size


class SharedReadOnlyFile:
    """A DuckDB file opened read-only once for the process, each connection a cursor of it.

    Opening the file costs about 20 ms and starts with an empty cache: the queries of a
    server share one open database instead. A writer never writes into the served file: it
    renames a finished copy over it (:func:`writing`). The next connection sees the new
    file, waits until the queries still reading the old one have ended (DuckDB would hand
    the old database back to a new connection to the same path while one of them lives),
    then opens the new one.
    """

    #: How long a new connection waits for the old file's queries (seconds); past it, the
    #: old file is read once more and the new one opened at a later connection.
    WAIT = 10.0
    _BY_FILE: ClassVar[dict[Path, SharedReadOnlyFile]] = {}
    _MADE = threading.Lock()

    def __init__(self, file: Path) -> None:
        self.file = file.resolve()
        self._changed = threading.Condition()
        self._database = None
        self._identity: tuple[int, ...] | None = None
        self._open = 0

    @classmethod
    def of(cls, file: Path) -> SharedReadOnlyFile:
        """The process's one shared opening of ``file`` (engines on it share it too)."""
        file = file.resolve()
        with cls._MADE:
            if file not in cls._BY_FILE:
                cls._BY_FILE[file] = cls(file)
            return cls._BY_FILE[file]

    def serve(self, engine: sa.Engine) -> None:
        """Hand ``engine``'s connections out of this file (its pool is a ``NullPool``)."""
        sa.event.listen(engine, "do_connect", self._connect)
        sa.event.listen(engine, "close", self._closed)

    def _connect(self, dialect, _record, cargs, cparams):
        from duckdb_engine import ConnectionWrapper

        with self._changed:
            identity = _identity(self.file)
            if self._database is None or identity != self._identity:
                if self._changed.wait_for(lambda: self._open == 0, timeout=self.WAIT):
                    if self._database is not None:
                        self._database.close()
                    # as the dialect opens it (the same configuration as other engines)
                    self._database = dialect.connect(*cargs, **cparams)
                    self._identity = identity
                else:
                    log.warning("%s replaced: read as before until its queries end",
                                self.file.name)
            connection = self._database.duplicate()  # of the same database, own state
            self._open += 1
        return ConnectionWrapper(connection)

    def _closed(self, _connection, _record) -> None:
        with self._changed:
            self._open -= 1
            self._changed.notify_all()


#: The database servers the product supports, by SQLAlchemy backend name.
BACKENDS = ("duckdb", "sqlite", "postgresql")


def database_url(db: str | None = None) -> sa.URL:
    """The URL to use, checked: one of the supported backends, else :class:`DatabaseError`."""
    text = resolve_db_url(db)
    try:
        url = sa.make_url(text)
    except sa.exc.ArgumentError:
        raise DatabaseError("Adresse de base illisible : attendu une URL SQLAlchemy, par "
                            "exemple duckdb:///data/cqp.duckdb ou "
                            "postgresql+psycopg://utilisateur@hôte/base") from None
    if url.get_backend_name() not in BACKENDS:
        raise DatabaseError(f"Base non prise en charge : {url.get_backend_name()} (prises en "
                            "charge : " + ", ".join(BACKENDS) + ")")
    return url


def file_of(url: sa.URL) -> Path | None:
    """The file of an embedded database (DuckDB, SQLite), None for a server or memory."""
    if url.get_backend_name() in ("duckdb", "sqlite") and url.database not in (None, "",
                                                                               ":memory:"):
        return Path(url.database)
    return None


@contextmanager
def writing(db: str | None = None) -> Iterator[sa.Engine]:
    """An engine for a command that writes (load, demo, imports, upgrades).

    On a DuckDB file, which one process at a time may open for writing, the command writes
    into a copy that replaces the file in one atomic rename when it succeeds: the dashboards
    never meet the write lock and keep reading the last complete data until then. Writers
    queue on a lock file beside the database. Elsewhere (PostgreSQL, SQLite) the database's
    own transactions do that.
    """
    url = database_url(db)
    file = file_of(url)
    if url.get_backend_name() != "duckdb" or file is None:
        engine = make_engine(url.render_as_string(hide_password=False))
        try:
            yield engine
        finally:
            engine.dispose()
        return
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file.with_name(file.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _remove_copies(file)  # left by a writer killed or failed: we hold the lock
        work = file.with_name(f".{file.name}.{os.getpid()}.writing")
        wal = file.with_name(file.name + ".wal")
        engine = None
        try:
            if file.exists():  # a copy that fails half-way (a full disk) is removed below
                shutil.copy2(file, work)
                if wal.exists():
                    shutil.copy2(wal, work.with_name(work.name + ".wal"))
            engine = make_engine(url.set(database=str(work)).render_as_string(
                hide_password=False))
            yield engine
            with engine.connect() as connection:
                connection.exec_driver_sql("CHECKPOINT")
            engine.dispose()
            wal.unlink(missing_ok=True)
            os.replace(work, file)
        finally:
            if engine is not None:
                engine.dispose()
            for leftover in (work, work.with_name(work.name + ".wal")):
                leftover.unlink(missing_ok=True)


def _remove_copies(file: Path) -> list[Path]:
    """Remove the copies of ``file`` that writers left (``.cqp.duckdb.<pid>.writing`` and
    its WAL); the caller holds the writers' lock, so none of them is being written."""
    removed = []
    for copy in file.parent.glob(f".{file.name}.*.writing*"):
        copy.unlink(missing_ok=True)
        removed.append(copy)
    if removed:
        log.warning("removed %d copie(s) left by interrupted writes of %s", len(removed),
                    file.name)
    return removed


def remove_stale_copies(db: str | None = None) -> list[Path]:
    """Remove the copies a killed or failed write left beside a DuckDB file (each the size
    of the database, never removed until then), when no writer is at work; the copies
    removed (none when a writer holds the lock, or on another backend)."""
    url = database_url(db)
    file = file_of(url)
    if url.get_backend_name() != "duckdb" or file is None or not file.parent.exists():
        return []
    try:
        with open(file.with_name(file.name + ".lock"), "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return []
            return _remove_copies(file)
    except OSError:  # a read-only folder: nothing to clean there
        return []


def _sqlite_foreign_keys(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` in place, keeping the data; at the head revision,
    the derived fact tables at this release's definition (:func:`cqp_metrics.derived.
    ensure_current`)."""
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), revision)
        if revision == "head" or revision == head_revision():
            derived.ensure_current(connection)


def current_revision(engine: sa.Engine) -> str | None:
    """The schema revision the database is at (None: empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@functools.cache
def head_revision() -> str:
    """The newest schema revision this release knows (read from its migration scripts once
    a process: a served session checks the database against it)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def ensure_schema(engine: sa.Engine) -> None:
    """Create or upgrade the schema when it is not at the head revision, or its cubes not
    at this release's definition (:func:`cqp_metrics.derived.cubes_current`)."""
    if current_revision(engine) != head_revision() or not _cubes_current(engine):
        upgrade(engine)


def _cubes_current(engine: sa.Engine) -> bool:
    with engine.connect() as connection:
        return derived.cubes_current(connection)


def check_schema(engine: sa.Engine) -> None:
    """Raise :class:`DatabaseError` with a clear message when the schema is not usable."""
    try:
        revision = current_revision(engine)
    except sa.exc.SQLAlchemyError as error:
        raise DatabaseError(f"Base inaccessible : {error_reason(error)}") from None
    if revision is None:
        raise DatabaseError("La base est vide : chargez des données (« cqp-metrics load » ou "
                            "« cqp-metrics demo »).")
    if revision != head_revision():
        raise DatabaseError(f"Le schéma de la base ({revision}) n'est pas à jour : lancez "
                            "« cqp-metrics db upgrade ».")
    if not _cubes_current(engine):
        raise DatabaseError("Les agrégats de la base (cubes) ont été faits par une autre "
                            "version du logiciel : lancez « cqp-metrics db upgrade ».")

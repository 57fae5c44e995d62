"""Engines for the three supported backends, and schema upgrades through Alembic."""

from __future__ import annotations

import warnings
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.ddl.postgresql import PostgresqlImpl
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from .config import resolve_db_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

warnings.filterwarnings("ignore", message="duckdb-engine doesn't yet support reflection")


class DuckDBImpl(PostgresqlImpl):
    """Alembic speaks to DuckDB as to PostgreSQL (duckdb-engine's dialect derives from it)."""

    __dialect__ = "duckdb"


class DatabaseError(Exception):
    """The database cannot be opened or is not in a usable state; the message says why."""


def error_reason(error: BaseException, limit: int | None = 200) -> str:
    """The driver's own first line for a failed database call, for a message to people."""
    return str(getattr(error, "orig", error)).strip().splitlines()[0][:limit]


def make_engine(db: str | None = None, *, read_only: bool = False,
                hold_file: bool = True) -> sa.Engine:
    """An engine for ``db`` (URL), ``$CQP_DB`` or the embedded DuckDB file.

    DuckDB lets one process at a time open a file for writing: readers such as the
    dashboards pass ``read_only=True``, and ``hold_file=False`` so that the file is opened
    per query only and ``cqp-metrics load`` can write between two queries.
    """
    url = sa.make_url(resolve_db_url(db))
    kwargs: dict = {}
    if url.get_backend_name() == "duckdb":
        database = url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            if read_only and not Path(database).exists():
                raise DatabaseError(f"Base introuvable : {database} (lancez « cqp-metrics demo » "
                                    "ou « cqp-metrics load »).")
        kwargs["connect_args"] = {"read_only": read_only}
        if not hold_file:
            kwargs["poolclass"] = sa.pool.NullPool
    elif url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_foreign_keys)
    return engine


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
    """Bring the schema to ``revision`` in place, keeping the data."""
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), revision)


def current_revision(engine: sa.Engine) -> str | None:
    """The schema revision the database is at (None: empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest schema revision this release knows."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def ensure_schema(engine: sa.Engine) -> None:
    """Create or upgrade the schema when it is not at the head revision."""
    if current_revision(engine) != head_revision():
        upgrade(engine)


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

"""Fixtures: one suite runs on DuckDB, SQLite and a real PostgreSQL server started here."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from cqp_metrics.db import ensure_schema, make_engine
from dashboards.chromium import CHROMIUM_ARGS, chromium_path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
WORKED = SHARED / "examples" / "worked"
REFERENCE = SHARED / "data" / "reference"
BACKENDS = ("duckdb", "sqlite", "postgresql")


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (``playwright install`` cannot download one)."""
    from playwright.sync_api import sync_playwright

    if not Path(chromium_path()).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(),
                                              args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is missing: run `make test`, which installs "
                           "Debian's postgresql")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A throw-away PostgreSQL cluster in a temporary folder, on 127.0.0.1 and a free port."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="cqp-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        command = list(args)
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.folder)

    def start(self) -> None:
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C")
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-w",
                  "-o", f"-p {self.port} -h 127.0.0.1 -k {self.folder} -F", "start")

    def stop(self) -> None:
        try:
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path) -> str:
    """A fresh, empty database URL on each backend."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'test.duckdb'}"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite'}"
    else:
        server = request.getfixturevalue("postgres_server")
        name = "t_" + uuid.uuid4().hex[:12]
        admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f"CREATE DATABASE {name}"))
        yield server.url(name)
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def engine(backend):
    """An engine on a fresh database of each backend, schema at the head revision."""
    engine = make_engine(backend)
    ensure_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def worked(engine):
    """The worked example of DOMAIN.md, loaded."""
    from cqp_metrics.loading import load

    load(WORKED, engine)
    return engine


def demo_database(path: Path, candidacies: int, seed: int) -> str:
    """A DuckDB file holding the demo dataset; its URL."""
    from cqp_metrics import demo
    from cqp_metrics.loading import write_dataset

    engine = make_engine(f"duckdb:///{path}")
    ensure_schema(engine)
    with engine.begin() as connection:
        write_dataset(connection, demo.generate(candidacies, seed=seed), source="démo")
    engine.dispose()
    return f"duckdb:///{path}"


def table_rows(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every row of every data table, sorted: to compare databases before and after."""
    from cqp_metrics import schema

    rows = {}
    with engine.connect() as connection:
        for table in schema.WRITE_ORDER:
            result = connection.execute(sa.select(table)).all()
            rows[table.name] = sorted(tuple(str(v) for v in row) for row in result)
    return rows

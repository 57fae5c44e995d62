"""Fixtures: one suite runs on DuckDB, SQLite and a real PostgreSQL server started here."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from postgres import PostgresServer

from cqp_metrics.db import ensure_schema, make_engine
from dashboards.chromium import CHROMIUM_ARGS, chromium_path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
WORKED = SHARED / "examples" / "worked"
REFERENCE = SHARED / "data" / "reference"
BACKENDS = ("duckdb", "sqlite", "postgresql")
#: The test files, longest first (seconds on two workers, a clean-clone run of 2026-12-06),
#: the ones not listed (a few seconds each) after them: ``make test`` gives each file to one
#: worker (``--dist loadfile``) in this order (``--no-loadscope-reorder``: xdist would hand
#: out the files with the most tests first), so that the last files handed out are short and
#: the two workers end together.
LONGEST_FIRST = ("test_dashboards_browser.py", "test_secret.py", "test_serve.py",
                 "test_notify.py", "test_report.py", "test_loading.py", "test_bounds.py",
                 "test_loading_safety.py", "test_live_pages.py", "test_insertion.py",
                 "test_cubes.py", "test_notebooks.py", "test_derived.py",
                 "test_indicators_property.py", "test_access.py", "test_worked_example.py",
                 "test_cli.py", "test_demo.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first (:data:`LONGEST_FIRST`); each file's tests keep their order."""
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="module")
def playwright():
    """Playwright, driving Debian's chromium (``playwright install`` cannot download one)."""
    from playwright.sync_api import sync_playwright

    if not Path(chromium_path()).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it")
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def browser(playwright):
    """A chromium whose every context is a reader of its own (cookies apart, no disk)."""
    launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def reader(playwright, tmp_path_factory):
    """One reader's chromium with a profile on disk, for the pages that need no sign-in:
    it keeps the scripts it has compiled (a context of its own keeps none), so a page
    opened again costs chromium about 1.5 s of CPU less (by hand, README)."""
    context = playwright.chromium.launch_persistent_context(
        tmp_path_factory.mktemp("profile"), executable_path=chromium_path(),
        args=CHROMIUM_ARGS, viewport={"width": 1500, "height": 1300}, accept_downloads=True)
    yield context
    context.close()


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


#: The PostgreSQL databases every test database of a session is copied from: ``_<flavor>``.
TEMPLATE = "t_template"


@pytest.fixture(scope="session")
def templates(tmp_path_factory) -> dict[str, str]:
    """Per backend, a database at the head revision with the tests' HMAC key, made once per
    session (and worker): the migrations run once, not for every test; and the same with a
    demo dataset written (:func:`demo_engine_of`). Filled lazily."""
    return {"folder": str(tmp_path_factory.mktemp("templates"))}


def _template(kind: str, templates: dict[str, str], request, flavor: str = "head",
              fill: Callable[[sa.Engine], None] | None = None) -> str:
    """The template of ``kind`` and ``flavor`` (a file, or a PostgreSQL database's name),
    made once: the head revision, the tests' HMAC key, then what ``fill`` writes."""
    key = f"{kind}:{flavor}"
    if key not in templates:  # recorded once made: a failed fill leaves no half template
        if kind == "postgresql":
            server = request.getfixturevalue("postgres_server")
            name = f"{TEMPLATE}_{flavor}"
            admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
                connection.execute(sa.text(f"CREATE DATABASE {name}"))
            admin.dispose()
            made = make_engine(server.url(name))
        else:
            name = str(Path(templates["folder"]) / f"{flavor}.{kind}")
            Path(name).unlink(missing_ok=True)
            made = make_engine(f"{kind}:///{name}")
        try:
            use_hmac_key(made)
            if fill is not None:
                fill(made)
            if kind == "duckdb":  # the file alone holds everything: a copy is a database
                with made.connect() as connection:
                    connection.exec_driver_sql("CHECKPOINT")
        finally:
            made.dispose()
        templates[key] = name
    return templates[key]


def copy_of_template(backend: str, templates: dict[str, str], request, flavor: str = "head",
                     fill: Callable[[sa.Engine], None] | None = None) -> sa.Engine:
    """An engine on ``backend``'s fresh database, made a copy of a template
    (:func:`_template`)."""
    url = sa.make_url(backend)
    kind = url.get_backend_name()
    template = _template(kind, templates, request, flavor, fill)
    if kind == "postgresql":
        server = request.getfixturevalue("postgres_server")
        admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE {url.database} WITH (FORCE)"))
            connection.execute(sa.text(f"CREATE DATABASE {url.database} TEMPLATE {template}"))
        admin.dispose()
    else:
        shutil.copyfile(template, url.database)
    return make_engine(backend)


@pytest.fixture
def engine(backend, templates, request):
    """An engine on a fresh database of each backend, schema at the head revision, with the
    tests' HMAC key (the same published figures at every run): a copy of the session's
    template (:func:`templates`)."""
    engine = copy_of_template(backend, templates, request)
    yield engine
    engine.dispose()


def demo_engine_of(backend: str, templates: dict[str, str], request, candidacies: int,
                   seed: int) -> sa.Engine:
    """An engine on a fresh database of ``backend`` holding the demo dataset of
    ``candidacies`` and ``seed`` (the product's generator): a copy of a template written
    once per session and worker, not at each test."""
    return copy_of_template(backend, templates, request, f"demo_{candidacies}_{seed}",
                            lambda engine: write_demo(engine, candidacies, seed))


def load_worked(engine: sa.Engine) -> None:
    """The worked example of DOMAIN.md, loaded by the product's loader."""
    from cqp_metrics.loading import load

    load(WORKED, engine)


@pytest.fixture
def worked(backend, templates, request):
    """An engine on a fresh database of each backend holding the worked example of
    DOMAIN.md, loaded: a copy of a template loaded once per session and worker (a test of
    the loading of the worked example itself calls ``load``)."""
    engine = copy_of_template(backend, templates, request, "worked", load_worked)
    yield engine
    engine.dispose()


def demo_database(path: Path, candidacies: int, seed: int) -> str:
    """A DuckDB file holding the demo dataset (with the tests' HMAC key); its URL."""
    engine = make_engine(f"duckdb:///{path}")
    use_hmac_key(engine)
    write_demo(engine, candidacies, seed)
    engine.dispose()
    return f"duckdb:///{path}"


def write_demo(engine: sa.Engine, candidacies: int, seed: int) -> None:
    """The demo dataset of ``candidacies`` and ``seed`` (the product's generator), written."""
    from cqp_metrics import demo
    from cqp_metrics.loading import write_dataset

    with engine.begin() as connection:
        write_dataset(connection, demo.generate(candidacies, seed=seed), source="démo")


#: An HMAC key for the tests that need record keys known in advance.
TEST_HMAC_KEY = bytes(range(32))


def use_hmac_key(engine: sa.Engine, key: bytes = TEST_HMAC_KEY) -> None:
    """Give a database a known HMAC key (one is drawn at random when a database is made):
    two databases loaded with the same data then publish the same figures, and a test's
    figures are the same at every run. Before any load: keys are given when rows are
    written."""
    from cqp_metrics import schema
    from cqp_metrics.secret import configure, database_rule

    ensure_schema(engine)
    with engine.begin() as connection:
        connection.execute(schema.secret_setting.update().values(hmac_key=key.hex()))
        configure(connection, database_rule(connection)[0])  # its ptable's order follows


def table_rows(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every row of every data table, sorted: to compare databases before and after."""
    from cqp_metrics import schema

    rows = {}
    with engine.connect() as connection:
        for table in schema.WRITE_ORDER:
            result = connection.execute(sa.select(table)).all()
            rows[table.name] = sorted(tuple(str(v) for v in row) for row in result)
    return rows

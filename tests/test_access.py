"""Users, their branches, sign-in checks, lockout, the audit trail and the identity
provider's mapping, on every backend."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from typer.testing import CliRunner

from cqp_metrics import access, api, schema
from cqp_metrics.access import Access, ClaimRules, OidcSettings, locked_until
from cqp_metrics.audit import AuditLog, server_writer
from cqp_metrics.cli import app
from cqp_metrics.config import InputError
from cqp_metrics.db import ensure_schema, make_engine, writing
from cqp_metrics.render import safe_cell, safe_frame, write_sheets
from cqp_metrics.sessions import SessionStore
from dashboards.auth import AuthSettings, check_sign_in

PASSWORD = "correct horse battery"


def test_users_are_stored_with_argon2_hashes_and_their_branches(engine):
    with engine.begin() as connection:
        access.add_user(connection, "alice", PASSWORD, ["0016"])
        access.add_user(connection, "root", PASSWORD, admin=True)
    with engine.connect() as connection:
        stored = connection.execute(sa.select(schema.app_user.c.password_hash)).scalars().all()
        assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in stored)
        assert access.verify(connection, "alice", PASSWORD)
        assert not access.verify(connection, "alice", PASSWORD + "x")
        assert not access.verify(connection, "nobody", PASSWORD)
        assert not access.verify(connection, "' OR 1=1 --", PASSWORD)
        assert access.access_of(connection, "alice").scope == ("0016",)
        assert access.access_of(connection, "root").scope is None
        assert access.access_of(connection, "nobody").scope == ()
        assert access.access_of(connection, None).scope == ()
    with engine.begin() as connection:
        access.set_password(connection, "alice", "another long secret")
    access.remove_user(engine, "root")
    with engine.connect() as connection:
        assert access.verify(connection, "alice", "another long secret")
        assert [u.login for u in access.list_users(connection)] == ["alice"]


def test_bad_user_input_is_refused_with_a_message(engine):
    with engine.begin() as connection:
        access.add_user(connection, "alice", PASSWORD, ["0016"])
    for call, expected in [
        (lambda c: access.add_user(c, "alice", PASSWORD, ["0016"]), "existe déjà"),
        (lambda c: access.add_user(c, "bob", PASSWORD, []), "--branches"),
        (lambda c: access.add_user(c, "bo b", PASSWORD, ["0016"]), "identifiant invalide"),
        (lambda c: access.add_user(c, "bob", "short", ["0016"]), "trop court"),
        (lambda c: access.set_password(c, "carol", PASSWORD), "inconnu"),
    ]:
        with engine.begin() as connection, pytest.raises(InputError, match=expected):
            call(connection)


def test_a_user_with_no_branch_sees_nothing_and_a_cqpi_is_seen_by_each_branch(worked):
    every = api.compute(worked, by=["cqp_code"], names=["enrolments"], secret=False)
    nothing = api.compute(worked, by=["cqp_code"], names=["enrolments"], scope=(),
                          secret=False)
    assert len(every.values) > 0 and nothing.values.empty
    with worked.connect() as connection:
        owners = pd.DataFrame(connection.execute(sa.select(schema.certification_branch)).all(),
                              columns=["cqp_code", "branch_code"])
    for branch, own in owners.groupby("branch_code"):
        seen = api.compute(worked, by=["cqp_code"], names=["enrolments"], scope=[branch],
                           secret=False)
        assert set(seen.values["cqp_code"]) <= set(own["cqp_code"])
        expected = every.values[every.values["cqp_code"].isin(own["cqp_code"])]
        assert set(seen.values["cqp_code"]) == set(expected["cqp_code"])


def test_the_lock_starts_at_the_fifth_failure_within_15_minutes_and_lasts_15_minutes():
    t0 = dt.datetime(2026, 1, 1, 9, 0)
    minutes = lambda *ms: [t0 + dt.timedelta(minutes=m) for m in ms]  # noqa: E731
    assert locked_until(minutes(0, 1, 2, 3), t0 + dt.timedelta(minutes=4)) is None
    five = minutes(0, 1, 2, 3, 4)
    assert locked_until(five, t0 + dt.timedelta(minutes=5)) == t0 + dt.timedelta(minutes=19)
    assert locked_until(five, t0 + dt.timedelta(minutes=19, seconds=1)) is None
    spread = minutes(0, 4, 8, 12, 16)  # 16 minutes from the first to the fifth
    assert locked_until(spread, t0 + dt.timedelta(minutes=17)) is None


def test_failed_sign_ins_lock_a_login_and_a_success_resets_the_count(backend):
    engine = make_engine(backend)
    ensure_schema(engine)
    engine.dispose()
    log = AuditLog(backend)
    now = dt.datetime(2026, 1, 1, 9, 0)
    for minute in range(4):
        log.record("alice", "sign_in_failed", at=now + dt.timedelta(minutes=minute))
    assert log.locked_until("alice", now + dt.timedelta(minutes=5)) is None
    log.record("alice", "sign_in", at=now + dt.timedelta(minutes=5))
    log.record("alice", "sign_in_failed", at=now + dt.timedelta(minutes=6))
    assert log.locked_until("alice", now + dt.timedelta(minutes=7)) is None
    for minute in range(7, 11):
        log.record("alice", "sign_in_failed", at=now + dt.timedelta(minutes=minute))
    assert log.locked_until("alice", now + dt.timedelta(minutes=11)) == \
        now + dt.timedelta(minutes=25)
    assert log.locked_until("bob", now + dt.timedelta(minutes=11)) is None
    log.record("alice", "download", page="données", filters={"Branche": "0016"},
               format="csv", rows=12, at=now + dt.timedelta(minutes=12))
    events = log.events(since=now + dt.timedelta(minutes=12))
    assert events[["login", "event", "format", "rows"]].values.tolist() == \
        [["alice", "download", "csv", 12]]
    assert '"Branche": "0016"' in events["filters"].iloc[0]
    log.dispose()


def test_sign_in_check_records_every_attempt_and_refuses_a_locked_login(engine):
    with engine.begin() as connection:
        access.add_user(connection, "alice", PASSWORD, ["0016"])
    engine.dispose()  # DuckDB: the server opens the file read-only
    settings = AuthSettings(engine.url.render_as_string(hide_password=False), "password")
    assert check_sign_in(settings, "alice", PASSWORD, "127.0.0.1") == "ok"
    assert check_sign_in(settings, "ghost", PASSWORD, "127.0.0.1") == "invalid"
    outcomes = [check_sign_in(settings, "alice", "wrong password", "::1") for _ in range(5)]
    assert outcomes == ["invalid"] * 4 + ["locked"]
    assert check_sign_in(settings, "alice", PASSWORD, "::1") == "locked"
    events = settings.audit.events()
    assert events["event"].tolist() == ["sign_in", "sign_in_failed"] + ["sign_in_failed"] * 5 \
        + ["sign_in_locked"]
    assert events["login"].tolist()[:2] == ["alice", "ghost"]
    settings.audit.dispose()
    settings.engine.dispose()


def test_a_load_beside_the_server_loses_no_audit_row_and_does_not_block_sign_in(tmp_path):
    url = f"duckdb:///{tmp_path / 'cqp.duckdb'}"
    with writing(url) as engine:
        ensure_schema(engine)
        with engine.begin() as connection:
            access.add_user(connection, "alice", PASSWORD, ["0016"])
    settings = AuthSettings(url, "password")
    loading, signed = threading.Event(), threading.Event()

    def load_beside() -> None:  # holds DuckDB's writer lock until the sign-ins are done
        with writing(url) as engine:
            with engine.begin() as connection:
                connection.execute(schema.branch.insert().values(branch_code="0016",
                                                                 name="Transports"))
            loading.set()
            signed.wait(timeout=60)

    writer = threading.Thread(target=load_beside)
    writer.start()
    assert loading.wait(timeout=60)
    outcomes = [check_sign_in(settings, "alice", PASSWORD, "127.0.0.1") for _ in range(3)]
    outcomes.append(check_sign_in(settings, "alice", "wrong password", "127.0.0.1"))
    signed.set()
    writer.join(timeout=60)
    assert outcomes == ["ok", "ok", "ok", "invalid"]
    events = settings.audit.events()
    assert events["event"].tolist() == ["sign_in"] * 3 + ["sign_in_failed"]
    with make_engine(url, read_only=True).connect() as connection:  # the load committed
        assert connection.execute(sa.select(schema.branch.c.name)).scalar() == "Transports"
    settings.audit.dispose()
    settings.engine.dispose()


def test_claims_map_to_branches_and_nothing_matches_nothing(tmp_path):
    rules = ClaimRules.from_mapping({
        "user_claim": "email", "groups_claim": "groups", "admin_groups": ["cqp-admin"],
        "groups": {"obs-transport": ["16"], "obs-both": ["0016", "3248"]}})
    assert rules.access_for({"email": "a@x.fr", "groups": ["obs-transport"]}) == \
        Access("a@x.fr", frozenset({"0016"}))
    assert rules.access_for({"email": "b@x.fr", "groups": ["obs-transport", "obs-both"]}) \
        .scope == ("0016", "3248")
    assert rules.access_for({"email": "c@x.fr", "groups": "cqp-admin"}).scope is None
    assert rules.access_for({"email": "d@x.fr", "groups": ["other"]}).scope == ()
    assert rules.access_for({"email": "e@x.fr"}).scope == ()
    assert rules.access_for({"groups": ["cqp-admin"]}).scope == ()  # nobody named
    assert rules.access_for(None).scope == ()
    with pytest.raises(InputError, match="obs-bad"):
        ClaimRules.from_mapping({"groups": {"obs-bad": ["16a"]}})
    file = tmp_path / "oidc.toml"
    file.write_text('provider = "generic"\nclient_id = "cqp"\n'
                    'authorize_url = "https://sso/auth"\ntoken_url = "https://sso/token"\n'
                    '[access]\nuser_claim = "preferred_username"\n'
                    '[access.groups]\n"obs" = ["3248"]\n', encoding="utf-8")
    with pytest.raises(InputError, match="CQP_OIDC_SECRET"):
        OidcSettings.read(file, {})
    settings = OidcSettings.read(file, {"CQP_OIDC_SECRET": "s3cret"})
    assert settings.client_secret == "s3cret"
    assert settings.extra["TOKEN_URL"] == "https://sso/token"
    assert settings.extra["USER_KEY"] == "preferred_username"
    assert settings.rules.access_for({"preferred_username": "u", "groups": ["obs"]}).scope \
        == ("3248",)
    file.write_text("provider = [", encoding="utf-8")
    with pytest.raises(InputError, match="TOML invalide"):
        OidcSettings.read(file, {})


def test_exports_never_start_a_cell_with_a_formula(tmp_path):
    evil = ['=HYPERLINK("http://evil","clic")', "+1+2", "-2+3", "@SUM(A1)", "\t=1"]
    assert [safe_cell(v) for v in evil] == ["'" + v for v in evil]
    assert [safe_cell(v) for v in ("-0.25", "-3", "12", "texte", 4)] == \
        ["-0.25", "-3", "12", "texte", 4]
    frame = pd.DataFrame({"provider_id": evil, "rate": [-0.1, 0.2, 0.3, 0.4, 0.5]})
    text = safe_frame(frame).to_csv(index=False, sep=";")
    assert not any(line.split(";")[0].startswith(("=", "+", "-", "@", "\t"))
                   for line in text.splitlines()[1:])
    path = tmp_path / "x.xlsx"
    write_sheets(path, {"indicateurs": frame})
    sheet = load_workbook(path)["indicateurs"]
    cells = [sheet.cell(row=r, column=1) for r in range(2, 7)]
    assert [c.value for c in cells] == evil
    assert all(c.data_type == "s" for c in cells)
    assert sheet.cell(row=2, column=2).value == -0.1


def test_the_users_commands(backend):
    """Every ``users`` command on a user who has branches, on the three backends (DuckDB
    refused to remove one: its foreign key, #31)."""
    url = backend

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        """The command in this process (Typer's runner: a dozen commands would otherwise
        start a dozen interpreters); its status, output and errors as a process gives them."""
        done = CliRunner().invoke(app, [*args, "--db", url], input=stdin)
        return subprocess.CompletedProcess(args, done.exit_code, done.stdout, done.stderr)

    added = run("users", "add", "alice", "--branches", "16,3248", "--password-stdin",
                stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert run("users", "add", "root", "--admin", "--password-stdin",
               stdin=PASSWORD + "\n").returncode == 0
    assert run("users", "add", "bob", "--branches", "0016", "--password-stdin",
               stdin=PASSWORD + "\n").returncode == 0
    listed = run("users", "list")
    assert listed.stdout.splitlines() == ["alice : 0016, 3248", "bob : 0016",
                                          "root : toutes les branches (administrateur)"]
    file = make_engine(url).url.database
    if not url.startswith("postgresql"):
        assert PASSWORD not in Path(file).read_bytes().decode("latin-1")
    again = run("users", "add", "alice", "--branches", "16", "--password-stdin",
                stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "existe déjà" in again.stderr
    assert "Traceback" not in again.stderr
    assert run("users", "passwd", "alice", "--password-stdin",
               stdin="new long password\n").returncode == 0
    engine = make_engine(url, read_only=True)
    with engine.connect() as connection:
        assert access.verify(connection, "alice", "new long password")
    engine.dispose()
    removed = run("users", "remove", "alice")  # a user with two branches
    assert removed.returncode == 0, removed.stderr
    assert run("users", "remove", "root").returncode == 0
    gone = run("users", "remove", "root")
    assert gone.returncode == 1 and "inconnu" in gone.stderr and "Traceback" not in gone.stderr
    assert run("users", "list").stdout.splitlines() == ["bob : 0016"]
    engine = make_engine(url, read_only=True)
    with engine.connect() as connection:
        assert access.access_of(connection, "alice") == access.NOBODY
        links = connection.execute(sa.select(schema.app_user_branch.c.login)).scalars().all()
    engine.dispose()
    assert links == ["bob"]
    log = AuditLog(url)
    log.record("alice", "download", format="xlsx", rows=3, page="données",
               filters={"CQP": '=HYPERLINK("x")'})
    log.dispose()
    audit = run("audit", "--format", "csv", "--since", "2000-01-01")
    assert audit.returncode == 0, audit.stderr
    rows = pd.read_csv(io.StringIO(audit.stdout), sep=";")
    assert rows[["login", "event", "format", "rows"]].values.tolist() == \
        [["alice", "download", "xlsx", 3]]
    assert run("audit", "--since", "hier").returncode == 1


def test_sessions_are_kept_by_the_server_and_end_when_they_should(engine):
    """A session is found by its id only while it is open: not after its end, its hours, or
    the end of every session of its login; the store keeps the id's hash, never the id."""
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    store = SessionStore(url)
    now = dt.datetime(2026, 1, 1, 9, 0)
    first = store.open("alice", 12, address="127.0.0.1", now=now)
    second = store.open("alice", 12, now=now)
    other = store.open("bob", 0.5, claims={"email": "bob@x.fr", "groups": ["g"]}, now=now)
    assert store.find(first, now + dt.timedelta(hours=11)).login == "alice"
    assert store.find(first, now + dt.timedelta(hours=12, seconds=1)) is None  # expired
    assert store.find(other, now + dt.timedelta(minutes=20)).claims["groups"] == ["g"]
    assert store.find(other, now + dt.timedelta(minutes=31)) is None
    assert store.find("forged", now) is None and store.find(None, now) is None
    store.end(first, "logout")
    assert store.find(first, now) is None and store.find(second, now).login == "alice"
    assert store.end_all("alice", "password") == 1
    assert store.find(second, now) is None
    with pytest.raises(ValueError):
        store.open("alice", 1e308)
    writer, _ = server_writer(url, schema.app_session)
    with writer.connect() as connection:
        kept = connection.execute(sa.select(schema.app_session.c.session_key)).scalars().all()
    writer.dispose()
    assert len(kept) == 3 and not {first, second, other} & set(kept)
    store.dispose()


def test_five_failures_lock_a_login_even_under_30_concurrent_attempts(engine):
    """Each attempt is written before its password is checked: of 30 attempts at once, at
    most five are checked, the others are refused as locked; the lock ends the login's
    sessions."""
    with engine.begin() as connection:
        access.add_user(connection, "alice", PASSWORD, ["0016"])
    engine.dispose()
    settings = AuthSettings(engine.url.render_as_string(hide_password=False), "password")
    session = settings.sessions.open("alice", 12)
    with ThreadPoolExecutor(30) as pool:
        outcomes = list(pool.map(lambda _: check_sign_in(settings, "alice", "wrong password",
                                                         "10.0.0.1"), range(30)))
    events = settings.audit.events(login="alice")["event"].tolist()
    assert events.count("sign_in_failed") <= 5 and len(events) == 30
    assert events.count("sign_in_locked") == 30 - events.count("sign_in_failed")
    assert outcomes.count("locked") >= 25 and set(outcomes) <= {"invalid", "locked"}
    assert check_sign_in(settings, "alice", PASSWORD, "10.0.0.1") == "locked"
    assert settings.sessions.find(session) is None
    settings.sessions.dispose()
    settings.audit.dispose()
    settings.engine.dispose()


def test_the_audit_journal_stores_typed_text_escaped(backend):
    """A login typed with a line break or a bidirectional override cannot forge a line of the
    journal or of its export (#31)."""
    engine = make_engine(backend)
    ensure_schema(engine)
    engine.dispose()
    log = AuditLog(backend)
    forged = "mallory\n2026-01-01 09:00:00;root;sign_in\u202e"
    log.record(forged, "sign_in_failed", address="1.2.3.4\r\nX")
    events = log.events()
    log.dispose()
    stored = events["login"].iloc[0]
    assert "\n" not in stored and "\u202e" not in stored and stored.startswith("mallory\\n")
    assert "\r" not in events["address"].iloc[0] and "\n" not in events["address"].iloc[0]

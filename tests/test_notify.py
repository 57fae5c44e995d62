"""cqp-metrics notify: each recipient gets, by SMTP, the reports and alert digests of their
branches, within their scope and under the secret; each message is audited; --dry-run writes
.eml files; bad input is one French message. Against SMTP servers the tests start on
127.0.0.1 (aiosmtpd), one of them with STARTTLS and a password."""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from playwright.sync_api import BrowserType
from typer.testing import CliRunner

from cqp_metrics import derived, schema
from cqp_metrics.cli import app
from cqp_metrics.db import make_engine

from conftest import ROOT, demo_database

runner = CliRunner()
TODAY = "2026-06-01"
PASSWORD = "s3cret-de-test"


class Inbox:
    """What the SMTP server received: each message with its envelope."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for rcpt, m in self.messages if address in rcpt]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _check_password(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == b"observatoire" \
        and data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp():
    """A plain SMTP server on 127.0.0.1 that asks for a login (over the loopback)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(),
                            authenticator=_check_password, auth_require_tls=False)
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("notify")
    demo_database(folder / "demo.duckdb", 3000, seed=5)
    return folder / "demo.duckdb"


@pytest.fixture
def db(demo_file, tmp_path) -> str:
    """A fresh copy of the demo for each test (its own audit journal)."""
    shutil.copy(demo_file, tmp_path / "demo.duckdb")
    return f"duckdb:///{tmp_path / 'demo.duckdb'}"


def _config(tmp_path: Path, port: int, extra: str = "", smtp: str = "") -> Path:
    path = tmp_path / "notify.toml"
    path.write_text(f"""
[smtp]
host = "127.0.0.1"
port = {port}
starttls = false
sender = "Observatoire <observatoire@example.org>"
user = "observatoire"
password_env = "CQP_TEST_SMTP_PASSWORD"
{smtp}

[report]
publisher = "Observatoire des transports"
format = "html"

[alerts]
ending_within_months = 12
every = "week"

[[recipients]]
email = "cpne-transport@example.org"
branches = ["0016"]
reports = [{{what = "annual", every = "year"}}, {{what = "CQP-TR-AQ", every = "month"}}]
alerts = true

[[recipients]]
email = "metallurgie@example.org"
branches = ["3248"]
alerts = true
{extra}
""", encoding="utf-8")
    return path


def _notify(config: Path, db: str, *args: str):
    return runner.invoke(app, ["notify", "--config", str(config), "--db", db, "--today", TODAY,
                               *args])


def test_each_recipient_gets_the_reports_and_alerts_of_their_branches(smtp, db, tmp_path,
                                                                     monkeypatch):
    inbox, port = smtp
    monkeypatch.setenv("CQP_TEST_SMTP_PASSWORD", PASSWORD)
    config = _config(tmp_path, port)
    result = _notify(config, db)
    assert result.exit_code == 0, result.output
    assert "4 message(s) envoyé(s)" in result.stdout
    transport = inbox.to("cpne-transport@example.org")
    metal = inbox.to("metallurgie@example.org")
    assert len(transport) == 3 and len(metal) == 1
    subjects = sorted(str(m["Subject"]) for m in transport)
    assert any(s.startswith("Rapport annuel des CQP — branche 0016") for s in subjects)
    assert any(s.startswith("Fiche CQP CQP-TR-AQ") for s in subjects)
    report = next(m for m in transport if str(m["Subject"]).startswith("Rapport annuel"))
    (part,) = list(report.iter_attachments())
    assert part.get_filename().startswith("rapport_0016_") and \
        part.get_filename().endswith(".html")
    page = part.get_content()
    page = page if isinstance(page, str) else page.decode("utf-8")
    assert "Observatoire des transports" in page and "Faits marquants" in page
    # the alert digests: registrations ending or lapsed, significant drops, within scope
    digest = next(m for m in transport if "alerte" in str(m["Subject"])).get_content()
    assert "RNCP34001" in digest and "a expiré le 29/02/2024 sans être renouvelé" in digest
    assert "RS5678 prend fin le 31/12/2025" not in digest  # on 1 June 2026 it has lapsed
    assert "RS5678 a expiré le 31/12/2025" in digest
    theirs = metal[0].get_content()
    assert "CQP-MET-OR" in theirs and "RNCP29004" in theirs
    assert "CQP-TR-" not in theirs and "0016" not in theirs  # another branch's: never
    assert "Branche 0016" not in theirs
    # each message and recipient is audited
    audit = runner.invoke(app, ["audit", "--db", db, "--format", "csv"])
    rows = [line for line in audit.stdout.splitlines() if "notify:" in line]
    assert len(rows) == 4 and all(";email;" in line for line in rows)
    assert sum("notify:metallurgie@example.org" in line for line in rows) == 1
    # the next run the same day sends nothing: everything due went, no alert is new
    again = _notify(config, db)
    assert again.exit_code == 0, again.output
    assert "Rien à envoyer" in again.stdout and len(inbox.messages) == 4


def test_a_load_that_brings_older_data_is_an_alert_once(smtp, db, tmp_path, monkeypatch):
    inbox, port = smtp
    monkeypatch.setenv("CQP_TEST_SMTP_PASSWORD", PASSWORD)
    engine = make_engine(db)
    with engine.begin() as connection:
        last = connection.execute(sa.select(sa.func.max(schema.load_log.c.loaded_at))
                                  ).scalar_one()
        connection.execute(schema.load_log.insert().values(
            loaded_at=last + dt.timedelta(days=1), source="/srv/depot/extrait-2023.xlsx",
            rows=10, data_until=dt.date(2023, 12, 31)))
        derived.refresh(connection)  # as a load does (its cubes split at its data cut)
    engine.dispose()
    config = _config(tmp_path, port)
    assert _notify(config, db).exit_code == 0
    (digest,) = [m for m in inbox.to("metallurgie@example.org")
                 if "alerte" in str(m["Subject"])]
    news = digest.get_content()
    assert "extrait-2023.xlsx" in news and "arrêtées au 31/12/2023" in news
    assert "/srv/depot" not in news  # a file's name, never its path
    later = _notify(config, db, "--today", "2026-06-09")  # the next week: nothing new
    assert later.exit_code == 0, later.output
    assert "Rien à envoyer" in later.stdout


def test_dry_run_writes_the_messages_and_sends_nothing(smtp, db, tmp_path, monkeypatch):
    inbox, port = smtp
    monkeypatch.delenv("CQP_TEST_SMTP_PASSWORD", raising=False)  # not needed to write
    out = tmp_path / "messages"
    result = _notify(_config(tmp_path, port), db, "--dry-run", str(out))
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.eml"))
    assert len(files) == 4 and inbox.messages == []
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert parsed["To"] == "cpne-transport@example.org"
    audit = runner.invoke(app, ["audit", "--db", db, "--format", "csv"])
    assert sum(";email_preview;" in line for line in audit.stdout.splitlines()) == 4
    # a preview is not a delivery: the real run still sends everything
    monkeypatch.setenv("CQP_TEST_SMTP_PASSWORD", PASSWORD)
    assert _notify(_config(tmp_path, port), db).exit_code == 0
    assert len(inbox.messages) == 4


def _pdf_text(message: email.message.EmailMessage, folder: Path) -> str:
    """The text of ``message``'s one attachment, a PDF (pdftotext)."""
    (part,) = list(message.iter_attachments())
    data = part.get_content()
    assert part.get_content_type() == "application/pdf" and data.startswith(b"%PDF")
    pdf = folder / "attached.pdf"
    pdf.write_bytes(data)
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def test_the_annual_report_as_pdf(smtp, db, tmp_path, monkeypatch):
    inbox, port = smtp
    monkeypatch.setenv("CQP_TEST_SMTP_PASSWORD", PASSWORD)
    config = _config(tmp_path, port)
    config.write_text(config.read_text().replace('format = "html"', 'format = "pdf"')
                      .replace('alerts = true', 'alerts = false')
                      .replace(', {what = "CQP-TR-AQ", every = "month"}', ""))
    assert _notify(config, db).exit_code == 0
    (message,) = inbox.messages
    text = _pdf_text(message[1], tmp_path)
    assert "branche 0016" in text and "Faits marquants" in text


@pytest.mark.parametrize("change,message", [
    (lambda t: t.replace("[smtp]", "[smtp"), "n'est pas un fichier TOML lisible"),
    (lambda t: t.replace('branches = ["3248"]', 'branches = ["9999"]'),
     "branche inconnue « 9999 »"),
    (lambda t: t.replace('branches = ["3248"]', 'branches = ["32a8"]'),
     "code de branche invalide"),
    (lambda t: t.replace('what = "CQP-TR-AQ"', 'what = "CQP-MET-TU"'),
     "le CQP « CQP-MET-TU » n'est pas de ses branches"),
    (lambda t: t.replace('user = "observatoire"', 'user = "observatoire"\npassword = "x"'),
     "le mot de passe ne s'écrit pas dans le fichier"),
    (lambda t: t.replace('every = "week"', 'every = "fortnight"'), "day, week, month ou year"),
    (lambda t: t.replace('email = "metallurgie@example.org"', 'email = "metallurgie"'),
     "adresse invalide"),
])
def test_a_bad_configuration_is_one_french_message(smtp, db, tmp_path, monkeypatch, change,
                                                   message):
    inbox, port = smtp
    monkeypatch.setenv("CQP_TEST_SMTP_PASSWORD", PASSWORD)
    config = _config(tmp_path, port)
    config.write_text(change(config.read_text()))
    result = _notify(config, db)
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert inbox.messages == []


def test_an_unreachable_server_or_a_missing_password_is_one_message(db, tmp_path,
                                                                      monkeypatch):
    import dashboards.report

    built = []  # the reports built: none, the server is checked first
    attachment = dashboards.report.attachment
    monkeypatch.setattr(dashboards.report, "attachment",
                        lambda *args, **kwargs: built.append(args) or attachment(*args, **kwargs))
    monkeypatch.setenv("CQP_TEST_SMTP_PASSWORD", PASSWORD)
    result = _notify(_config(tmp_path, _free_port()), db)  # nobody listens there
    assert result.exit_code == 1
    assert "serveur SMTP injoignable (127.0.0.1:" in result.output
    assert "Traceback" not in result.output
    monkeypatch.delenv("CQP_TEST_SMTP_PASSWORD")
    missing = _notify(_config(tmp_path, _free_port()), db)
    assert missing.exit_code == 1 and "CQP_TEST_SMTP_PASSWORD" in missing.output
    assert "n'est pas définie" in missing.output
    assert built == []


def test_a_wrong_password_is_refused_and_nothing_is_audited(smtp, db, tmp_path, monkeypatch):
    inbox, port = smtp
    monkeypatch.setenv("CQP_TEST_SMTP_PASSWORD", "mauvais")
    result = _notify(_config(tmp_path, port), db)
    assert result.exit_code == 1 and "refuse l'identifiant « observatoire »" in result.output
    assert inbox.messages == []
    audit = runner.invoke(app, ["audit", "--db", db, "--format", "csv"])
    assert "notify:" not in audit.stdout


@pytest.fixture
def tls_smtp(tmp_path):
    """An SMTP server on 127.0.0.1 that requires STARTTLS, with a certificate of its own
    (the configuration's ca_file trusts it, as an intranet's private authority)."""
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(),
                            tls_context=context, require_starttls=True,
                            authenticator=_check_password)
    controller.start()
    yield inbox, controller.port, cert
    controller.stop()


def test_starttls_with_the_server_s_own_authority(tls_smtp, db, tmp_path, monkeypatch):
    inbox, port, cert = tls_smtp
    monkeypatch.setenv("CQP_TEST_SMTP_PASSWORD", PASSWORD)
    config = _config(tmp_path, port)
    config.write_text(config.read_text().replace("starttls = false", "starttls = true"))
    refused = _notify(config, db)  # the certificate is no known authority's
    assert refused.exit_code == 1 and "STARTTLS avec 127.0.0.1" in refused.output
    assert inbox.messages == []
    config.write_text(config.read_text().replace(
        "starttls = true", f'starttls = true\nca_file = "{cert}"'))
    result = _notify(config, db)
    assert result.exit_code == 0, result.output
    assert len(inbox.messages) == 4


def test_the_sample_configuration_writes_its_messages(db, tmp_path, monkeypatch):
    """docs/notify.example.toml, as shipped: --dry-run writes its messages (no server
    needed, no password read)."""
    monkeypatch.delenv("CQP_SMTP_PASSWORD", raising=False)
    launched = []
    launch = BrowserType.launch
    monkeypatch.setattr(BrowserType, "launch",
                        lambda self, **options: launched.append(1) or launch(self, **options))
    out = tmp_path / "eml"
    result = runner.invoke(app, ["notify", "--config", str(ROOT / "docs" / "notify.example.toml"),
                                 "--dry-run", str(out), "--db", db, "--today", TODAY])
    assert result.exit_code == 0, result.output
    assert launched == [1]  # one chromium prints the three reports
    names = sorted(p.name for p in out.glob("*.eml"))
    assert names == ["01_cpne-transport_example.org_rapport.eml",
                     "02_cpne-transport_example.org_fiche_CQP-TR-AQ.eml",
                     "03_cpne-transport_example.org_alertes.eml",
                     "04_observatoire-metallurgie_example.org_rapport.eml",
                     "05_observatoire-metallurgie_example.org_alertes.eml"]
    for name, said in ((names[0], "Faits marquants"), (names[1], "CQP-TR-AQ"),
                       (names[3], "Faits marquants")):  # each printed whole, one chromium
        message = email.message_from_bytes((out / name).read_bytes(),
                                           policy=email.policy.default)
        assert said in _pdf_text(message, tmp_path), name

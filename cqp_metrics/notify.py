"""The news delivered: each recipient gets, by email, the reports and the alerts of their
branches (``cqp-metrics notify --config notify.toml``).

The configuration is a TOML file (read with ``tomllib``): the SMTP server, the sender, the
name of the environment variable that holds the password (never the password itself), and
the recipients, each with their branches, the reports they get and how often, and whether
they get the alert digests. A cron line or a systemd timer runs the command (every day, say):
a delivery is sent when none went to that recipient in its period (this day, week, month or
year, from the audit trail), an alert digest when it holds alerts not sent to that recipient
before. Messages are built with :mod:`email` and sent with :mod:`smtplib`, or written as
``.eml`` files (``--dry-run DIR``). Each message and recipient is audited.

Whatever a recipient reads is computed within their branches and under the database's
statistical secret, as the pages are. Messages are plain text: what comes from data stays
text.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import smtplib
import ssl
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from . import catalogue, schema
from .api import compute
from .audit import AuditLog
from .config import InputError, branch_code
from .formatting import change_said
from .period import data_cut, fr_date, period_label, until_of, year_complete
from .registry import BY_NAME, label

#: How often a delivery may go: once a day, week, month or year at most.
PERIODS = ("day", "week", "month", "year")
PERIOD_WORDS = {"day": "jour", "week": "semaine", "month": "mois", "year": "an"}
#: The shares whose significant drop is an alert.
WATCHED = ("full_rate", "vae_success_rate", "recognition_rate", "employment_rate_6m")
#: The audit trail's events: a message sent, a message written by ``--dry-run``.
SENT, PREVIEWED = "email", "email_preview"
ANNUAL = "annual"


class NotifyError(InputError):
    """A configuration or a delivery that cannot be made: one French sentence."""


@dataclass(frozen=True)
class Smtp:
    """Where and how messages are sent."""

    host: str
    port: int = 587
    starttls: bool = True
    sender: str = ""
    user: str | None = None
    password_env: str | None = None
    ca_file: str | None = None
    timeout: float = 30.0

    def password(self) -> str | None:
        """The password, read from the environment variable the configuration names."""
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if not value:
            raise NotifyError(f"la variable d'environnement {self.password_env} (mot de passe "
                              "SMTP) n'est pas définie")
        return value


@dataclass(frozen=True)
class Delivery:
    """One report a recipient gets: the annual report of each of their branches, or one
    CQP's sheet, at most once per ``every``."""

    what: str  # ANNUAL or a CQP code
    every: str = "year"

    @property
    def key(self) -> str:
        return "rapport" if self.what == ANNUAL else f"fiche {self.what}"


@dataclass(frozen=True)
class Recipient:
    """Someone who gets reports and alerts: their address and branches (their scope)."""

    email: str
    branches: tuple[str, ...]
    name: str = ""
    reports: tuple[Delivery, ...] = ()
    alerts: bool = False


@dataclass(frozen=True)
class Config:
    """A notify.toml, read and checked."""

    smtp: Smtp
    recipients: tuple[Recipient, ...]
    publisher: str | None = None
    logo: Path | None = None
    format: str = "pdf"
    ending_within: int = 12
    alerts_every: str = "week"


@dataclass(frozen=True)
class Alert:
    """One piece of news: a stable key (never sent twice to one recipient), its text."""

    key: str
    text: str


@dataclass
class Outgoing:
    """A message ready to go, and what its audit row says."""

    recipient: Recipient
    kind: str  # "rapport", "fiche CQP-…", "alertes"
    message: EmailMessage
    alerts: list[str] = field(default_factory=list)
    attachment: str | None = None


#: Makes a report's file: (engine, branch, cqp, scope, publisher, logo, format, today) ->
#: (file name, bytes, title). The dashboards' report, given by the command line (the
#: metrics package never imports the dashboards).
Reporter = Callable[..., tuple[str, bytes, str]]


def read_config(path: Path) -> Config:
    """``notify.toml`` read and checked; a bad file is one French message."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotifyError(f"fichier de configuration introuvable : {Path(path).name}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise NotifyError(f"{Path(path).name} n'est pas un fichier TOML lisible ({error})") \
            from None
    smtp = _table(data, "smtp")
    for key in ("password", "mot_de_passe"):
        if key in smtp:
            raise NotifyError(f"[smtp] {key} : le mot de passe ne s'écrit pas dans le fichier ; "
                              "nommez la variable d'environnement qui le porte (password_env)")
    host = _text(smtp, "host", "[smtp]")
    sender = _text(smtp, "sender", "[smtp]")
    if "@" not in parseaddr(sender)[1]:
        raise NotifyError(f"[smtp] sender : adresse invalide « {sender} »")
    port = smtp.get("port", 587)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise NotifyError(f"[smtp] port : un nombre de 1 à 65535 est attendu, reçu « {port} »")
    user, password_env = smtp.get("user"), smtp.get("password_env")
    if (user is None) != (password_env is None):
        raise NotifyError("[smtp] user et password_env vont ensemble (l'identifiant et la "
                          "variable d'environnement qui porte le mot de passe)")
    settings = Smtp(host, port, bool(smtp.get("starttls", True)), sender, user, password_env,
                    smtp.get("ca_file"))
    report = data.get("report", {})
    logo = report.get("logo")
    fmt = report.get("format", "pdf")
    if fmt not in ("pdf", "html"):
        raise NotifyError(f"[report] format : pdf ou html, reçu « {fmt} »")
    alerts = data.get("alerts", {})
    ending = alerts.get("ending_within_months", 12)
    if not isinstance(ending, int) or not 0 <= ending <= 120:
        raise NotifyError("[alerts] ending_within_months : un nombre de mois de 0 à 120 est "
                          f"attendu, reçu « {ending} »")
    every = _period(alerts.get("every", "week"), "[alerts] every")
    listed = data.get("recipients")
    if not isinstance(listed, list) or not listed:
        raise NotifyError("aucun destinataire : ajoutez au moins un bloc [[recipients]]")
    recipients = tuple(_recipient(item, n) for n, item in enumerate(listed, start=1))
    return Config(settings, recipients, report.get("publisher"),
                  None if logo is None else Path(logo), fmt, ending, every)


def _table(data: dict, name: str) -> dict:
    value = data.get(name)
    if not isinstance(value, dict):
        raise NotifyError(f"section [{name}] absente du fichier de configuration")
    return value


def _text(data: dict, key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise NotifyError(f"{where} {key} : texte attendu")
    return value.strip()


def _period(value: object, where: str) -> str:
    if value not in PERIODS:
        raise NotifyError(f"{where} : day, week, month ou year attendu, reçu « {value} »")
    return str(value)


def _recipient(item: object, n: int) -> Recipient:
    where = f"[[recipients]] n° {n}"
    if not isinstance(item, dict):
        raise NotifyError(f"{where} : table attendue")
    email = _text(item, "email", where)
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", email):
        raise NotifyError(f"{where} email : adresse invalide « {email} »")
    branches = item.get("branches")
    if not isinstance(branches, list) or not branches:
        raise NotifyError(f"{where} ({email}) branches : au moins une branche (code IDCC)")
    try:
        codes = tuple(sorted({branch_code(b) for b in branches}))
    except InputError as error:
        raise NotifyError(f"{where} ({email}) : {error}") from None
    reports = []
    for entry in item.get("reports", []):
        if not isinstance(entry, dict) or "what" not in entry:
            raise NotifyError(f"{where} ({email}) reports : {{what = \"annual\" ou un code de "
                              "CQP, every = \"year\"}} attendu")
        reports.append(Delivery(str(entry["what"]).strip(),
                                _period(entry.get("every", "year"),
                                        f"{where} ({email}) every")))
    return Recipient(email, codes, str(item.get("name", "")), tuple(reports),
                     bool(item.get("alerts", False)))


def check_scope(engine: sa.Engine, config: Config) -> None:
    """Every branch named exists, every CQP sheet is one of the recipient's branches'."""
    with engine.connect() as connection:
        known = set(catalogue.branches(connection)["branch_code"])
        for recipient in config.recipients:
            unknown = [b for b in recipient.branches if b not in known]
            if unknown:
                raise NotifyError(f"{recipient.email} : branche inconnue « {unknown[0]} »")
            theirs = set(catalogue.certifications(connection, recipient.branches)["cqp_code"])
            for delivery in recipient.reports:
                if delivery.what != ANNUAL and delivery.what not in theirs:
                    raise NotifyError(f"{recipient.email} : le CQP « {delivery.what} » n'est "
                                      "pas de ses branches (ou n'existe pas)")


# -- alerts ----------------------------------------------------------------------------------


def registration_alerts(engine: sa.Engine, branches: tuple[str, ...], today: dt.date,
                        months: int) -> list[Alert]:
    """Registrations of the branches' CQPs that end within ``months`` months, or have
    lapsed (ended, not renewed)."""
    with engine.connect() as connection:
        certifications = catalogue.certifications(connection, branches, today)
    out = []
    for row in catalogue.ending_within(certifications, months).itertuples():
        end = pd.Timestamp(row.valid_until).date()
        out.append(Alert(f"ending:{row.cqp_code}:{row.rncp_code}:{end}",
                         f"{row.cqp_code} ({row.title}) : l'enregistrement {row.rncp_code} "
                         f"prend fin le {fr_date(end)} (dans {int(row.months_left)} mois) ; "
                         "le renouvellement est à préparer."))
    for row in catalogue.lapsed(certifications).itertuples():
        end = pd.Timestamp(row.lapsed_on).date()
        out.append(Alert(f"lapsed:{row.cqp_code}:{row.lapsed_code}:{end}",
                         f"{row.cqp_code} ({row.title}) : l'enregistrement {row.lapsed_code} "
                         f"a expiré le {fr_date(end)} sans être renouvelé ; les certificats "
                         "délivrés depuis n'ont plus de reconnaissance nationale."))
    return out


def drop_alerts(engine: sa.Engine, branches: tuple[str, ...]) -> list[Alert]:
    """For each branch: the watched rates whose last change is a significant drop (the same
    test as the key figures: the last year against the one before, on the same months when
    the data cut leaves the last year incomplete), under the database's secret."""
    with engine.connect() as connection:
        cut = data_cut(connection)
    if cut is None:
        return []
    year = cut.year
    until = None if year_complete(year, cut) else until_of(cut)
    out = []
    for branch in branches:
        rows = compute(engine, list(WATCHED), ("year",), {"branch_code": [branch]},
                       (year - 1, year), list(branches), until=until).published()
        if len(rows) != 2 or list(rows["year"].astype(int)) != [year - 1, year]:
            continue
        for name in WATCHED:
            moved = BY_NAME[name].compare(rows.iloc[1], rows.iloc[0])
            if moved is None or not moved.significant or not moved.text.startswith("-"):
                continue
            when = f"{period_label(year, until)} / {period_label(year - 1, until)}"
            out.append(Alert(f"drop:{branch}:{name}:{year}:{until}",
                             f"Branche {branch} — {label(name)} : {change_said(moved)} ({when})."))
    return out


def load_alerts(engine: sa.Engine) -> list[Alert]:
    """The last load brought data older than the one before it (its data cut is earlier):
    someone may have loaded an old extract."""
    log = schema.load_log
    with engine.connect() as connection:
        rows = connection.execute(sa.select(log.c.loaded_at, log.c.data_until, log.c.source)
                                  .order_by(log.c.loaded_at)).all()
    dated = [r for r in rows if r.data_until is not None]
    if len(dated) < 2:
        return []
    last = dated[-1]
    before = max(pd.Timestamp(r.data_until).date() for r in dated[:-1])
    cut = pd.Timestamp(last.data_until).date()
    if cut >= before:
        return []
    name = Path(str(last.source).replace("\\", "/")).name
    return [Alert(f"load:{pd.Timestamp(last.loaded_at).isoformat()}",
                  f"Le chargement du {pd.Timestamp(last.loaded_at):%d/%m/%Y} ({name}) a "
                  f"apporté des données arrêtées au {fr_date(cut)}, plus anciennes que "
                  f"celles d'un chargement précédent (arrêtées au {fr_date(before)}) : "
                  "vérifiez que le bon fichier a été chargé.")]


# -- what is due -----------------------------------------------------------------------------


def period_start(every: str, today: dt.date) -> dt.date:
    """The first day of the period ``every`` that holds ``today``."""
    if every == "day":
        return today
    if every == "week":
        return today - dt.timedelta(days=today.weekday())
    if every == "month":
        return today.replace(day=1)
    return today.replace(month=1, day=1)


def _history(audit: AuditLog, recipient: Recipient) -> pd.DataFrame:
    return audit.events(login=f"notify:{recipient.email}", kinds=(SENT,))


def due(history: pd.DataFrame, kind: str, every: str, today: dt.date) -> bool:
    """Whether nothing of ``kind`` went to the recipient in the period that holds today."""
    sent = history[history["page"] == kind]
    if sent.empty:
        return True
    return sent["occurred_at"].max().date() < period_start(every, today)


def sent_alerts(history: pd.DataFrame) -> set[str]:
    """The alerts already sent to a recipient (their keys)."""
    keys: set[str] = set()
    for text in history.loc[history["page"] == "alertes", "filters"].dropna():
        try:
            keys.update(json.loads(text).get("alertes", []))
        except (ValueError, AttributeError):
            continue
    return keys


# -- messages --------------------------------------------------------------------------------


def _message(config: Config, recipient: Recipient, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config.smtp.sender
    message["To"] = recipient.email
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=parseaddr(config.smtp.sender)[1].split("@")[-1])
    message.set_content(body)
    return message


FOOTER = ("\n--\nMessage envoyé par cqp-metrics pour les branches {branches}. Les chiffres "
          "sont publiés sous secret statistique (chaque effectif exact à quelques personnes "
          "près, les petits effectifs masqués).\n")


def plan(engine: sa.Engine, config: Config, audit: AuditLog, reporter: Reporter,
         today: dt.date) -> list[Outgoing]:
    """The messages due today, for every recipient."""
    shared = load_alerts(engine)
    outgoing = []
    for recipient in config.recipients:
        history = _history(audit, recipient)
        footer = FOOTER.format(branches=", ".join(recipient.branches))
        for delivery in recipient.reports:
            if not due(history, delivery.key, delivery.every, today):
                continue
            targets = [(b, None) for b in recipient.branches] if delivery.what == ANNUAL \
                else [(None, delivery.what)]
            for branch, cqp in targets:
                name, data, title = reporter(engine, branch, cqp, list(recipient.branches),
                                             config.publisher, config.logo, config.format,
                                             today)
                message = _message(config, recipient, title, (
                    f"Bonjour,\n\nVeuillez trouver ci-joint : {title}.\n"
                    f"Envoi prévu : une fois par {PERIOD_WORDS[delivery.every]}.\n" + footer))
                kind = ("pdf", "pdf") if name.endswith(".pdf") else ("text", "html")
                message.add_attachment(data, maintype="application" if kind[0] == "pdf"
                                       else "text", subtype=kind[1], filename=name)
                outgoing.append(Outgoing(recipient, delivery.key, message, attachment=name))
        if not recipient.alerts or not due(history, "alertes", config.alerts_every, today):
            continue
        known = sent_alerts(history)
        news = [a for a in (*registration_alerts(engine, recipient.branches, today,
                                                 config.ending_within),
                            *drop_alerts(engine, recipient.branches), *shared)
                if a.key not in known]
        if not news:
            continue
        lines = "\n".join(f"- {a.text}" for a in news)
        message = _message(config, recipient,
                           f"CQP — {len(news)} alerte(s) pour les branches "
                           f"{', '.join(recipient.branches)}",
                           f"Bonjour,\n\nNouveau au {fr_date(today)} :"
                           f"\n\n{lines}\n" + footer)
        outgoing.append(Outgoing(recipient, "alertes", message, [a.key for a in news]))
    return outgoing


def _audit(audit: AuditLog, item: Outgoing, event: str) -> None:
    audit.record(f"notify:{item.recipient.email}", event, page=item.kind,
                 filters={"branches": list(item.recipient.branches),
                          "subject": str(item.message["Subject"]), "alertes": item.alerts,
                          "piece": item.attachment},
                 format="eml", rows=len(item.alerts) or (1 if item.attachment else 0))


def write_eml(items: list[Outgoing], folder: Path, audit: AuditLog) -> list[Path]:
    """``--dry-run``: each message as an ``.eml`` file (audited as a preview, which does not
    count as sent)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for n, item in enumerate(items, start=1):
        who = re.sub(r"[^A-Za-z0-9._-]", "_", item.recipient.email)
        what = re.sub(r"[^A-Za-z0-9._-]", "_", item.kind)
        path = folder / f"{n:02d}_{who}_{what}.eml"
        path.write_bytes(item.message.as_bytes())
        _audit(audit, item, PREVIEWED)
        written.append(path)
    return written


def check(smtp: Smtp) -> None:
    """Reach the SMTP server, secure the connection and log in, then leave."""
    with _connected(smtp):
        pass


def checked_first(smtp: Smtp, reporter: Reporter) -> Reporter:
    """``reporter`` that first :func:`check`s the SMTP server, once, before the first report
    it builds (minutes): a server that cannot be reached, a refused password or a missing
    one is said at once; a day with nothing due asks nothing of the server."""
    checked = []

    def report(*args, **kwargs):
        if not checked:
            check(smtp)
            checked.append(True)
        return reporter(*args, **kwargs)

    return report


def send(items: list[Outgoing], smtp: Smtp, audit: AuditLog) -> int:
    """Send each message by SMTP (STARTTLS, login when configured); each one sent is
    audited. A server that cannot be reached or refuses is one French message."""
    if not items:
        return 0
    with _connected(smtp) as server:
        for item in items:
            server.send_message(item.message)
            _audit(audit, item, SENT)
    return len(items)


@contextmanager
def _connected(smtp: Smtp) -> Iterator[smtplib.SMTP]:
    """A connection to the SMTP server, secured (STARTTLS) and logged in when configured;
    whatever fails on it is one French message."""
    password = smtp.password()
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as server:
            if smtp.starttls:
                server.starttls(context=ssl.create_default_context(cafile=smtp.ca_file))
            if smtp.user is not None:
                server.login(smtp.user, password)
            yield server
    except smtplib.SMTPAuthenticationError:
        raise NotifyError(f"le serveur SMTP {smtp.host}:{smtp.port} refuse l'identifiant "
                          f"« {smtp.user} » ou son mot de passe") from None
    except smtplib.SMTPNotSupportedError:
        raise NotifyError(f"le serveur SMTP {smtp.host}:{smtp.port} n'offre pas STARTTLS "
                          "(starttls = false pour s'en passer, sur un réseau de confiance)") \
            from None
    except ssl.SSLError as error:
        raise NotifyError(f"STARTTLS avec {smtp.host}:{smtp.port} a échoué "
                          f"({error.reason or error}) : le certificat du serveur est-il "
                          "signé par une autorité connue (ca_file) ?") from None
    except smtplib.SMTPException as error:
        raise NotifyError(f"le serveur SMTP {smtp.host}:{smtp.port} a refusé l'envoi "
                          f"({error})") from None
    except OSError as error:
        raise NotifyError(f"serveur SMTP injoignable ({smtp.host}:{smtp.port}) : "
                          f"{error.strerror or error}") from None

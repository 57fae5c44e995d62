"""The ``cqp-metrics`` command line: load, demo, indicators, registers, db upgrade, users,
audit, serve."""

from __future__ import annotations

import datetime as dt
import getpass
import io
import sys
from contextlib import ExitStack, contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from . import db as database
from . import schema
from .api import compute
from .cli_french import install as install_french
from .config import InputError, SecretRule, branch_code, parse_branches, resolve_db_url
from .dimensions import DIMENSIONS
from .formatting import export_notes, source_note
from .loading import LoadError, load, write_dataset
from .query import QueryError, parse_until
from .secret import database_rule
from .sessions import SESSION_HOURS, end_sessions

app = typer.Typer(help="Indicateurs des CQP : chargement, calcul en SQL, secret statistique.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Schéma de la base (migrations Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")
users_app = typer.Typer(help="Utilisateurs d'un serveur (cqp-metrics serve) et leurs branches.",
                        no_args_is_help=True)
app.add_typer(users_app, name="users")
out = Console()
err = Console(stderr=True)

DbOption = Annotated[str | None, typer.Option("--db", help="URL SQLAlchemy de la base "
                                              "(défaut : $CQP_DB, sinon data/cqp.duckdb).")]


class Format(StrEnum):
    csv = "csv"
    csv_fr = "csv-fr"
    xlsx = "xlsx"
    table = "table"


class Language(StrEnum):
    fr = "fr"
    en = "en"


#: The one message of a full disk, whatever wrote (a copy, DuckDB, SQLite, PostgreSQL).
FULL_DISK = ("disque plein : rien n'a été écrit et la base est restée telle qu'elle était ; "
             "libérez de la place puis relancez la commande.")


class Failure(Exception):
    """A user-facing error: its message is printed, the exit status is 1."""


@contextmanager
def _errors():
    """Turn every failure into one clear message and exit status 1, never a traceback.

    User text (file names, values, titles) is printed as text, never read as markup; an
    unexpected error is logged with its traceback (``$CQP_LOG``, else data/cqp-metrics.log)
    and shown as one sentence."""
    try:
        yield
    except LoadError as error:
        err.print(f"[bold red]Chargement refusé : {len(error.problems)} problème(s), "
                  "rien n'a été écrit.[/]")
        err.print(error.report(limit=1000), markup=False, highlight=False)
        raise typer.Exit(1) from None
    except (Failure, QueryError, database.DatabaseError, InputError) as error:
        _fail("Erreur :", str(error))
    except sa.exc.SQLAlchemyError as error:
        if database.disk_full(error):
            _fail("Erreur :", FULL_DISK)
        _fail("Erreur de base de données :", _database_message(error))
    except OSError as error:
        if database.disk_full(error):
            _fail("Erreur :", FULL_DISK)
        _fail("Erreur :", f"{error.strerror or error.__class__.__name__}"
              + (f" ({Path(error.filename).name})" if error.filename else ""))
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception:  # a bug: logged for the developers, one sentence for the user
        where = _log_unexpected()
        _fail("Erreur inattendue :", f"la commande n'a pas abouti ; le détail est consigné "
              f"dans {where}.")


def _fail(title: str, message: str) -> None:
    err.print(Text.assemble((title, "bold red"), " ", message), highlight=False)
    raise typer.Exit(1) from None


def _log_unexpected() -> str:
    """Append the current traceback to the log file; its name."""
    import logging
    import os

    from .config import project_data_dir

    path = Path(os.environ.get("CQP_LOG") or project_data_dir() / "cqp-metrics.log")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.StreamHandler()
    logger = logging.getLogger("cqp_metrics.cli")
    logger.addHandler(handler)
    logger.exception("unexpected error in %s", " ".join(sys.argv[1:2]))
    logger.removeHandler(handler)
    handler.close()
    return path.name


def _database_message(error: sa.exc.SQLAlchemyError) -> str:
    text = database.error_reason(error, limit=None)
    if "lock" in text.lower():
        return ("la base DuckDB est ouverte en écriture par un autre processus : réessayez "
                "quand il aura fini.")
    return text


@contextmanager
def _engine(db: str | None, read_only: bool = False):
    """An engine for the command, disposed at its end (DuckDB frees the file)."""
    engine = database.make_engine(db, read_only=read_only)
    try:
        yield engine
    finally:
        engine.dispose()


@app.command("load")
def load_command(
    path: Annotated[Path, typer.Argument(help="Dossier de fichiers CSV ou classeur .xlsx.")],
    db: DbOption = None,
    data_until: Annotated[str | None, typer.Option(
        "--data-until", help="Date d'arrêt des données AAAA-MM-JJ : le jour jusqu'auquel elles "
        "sont complètes (défaut : la dernière date des fichiers).")] = None,
) -> None:
    """Charge les fichiers d'échange ; tout est vérifié avant d'écrire, en une transaction."""
    with _errors():
        cut = _date_option("--data-until", data_until)
        with database.writing(db) as engine, _progress() as progress:
            report = load(path, engine, progress=progress, data_until=cut)
        _say(f"Chargement enregistré : {report.rows} ligne(s) écrite(s) depuis {path}.",
             *report.lines())


def _date_option(option: str, text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise Failure(f"{option} attend une date AAAA-MM-JJ, reçu « {text} »") from None


def _say(*lines: str) -> None:
    """Print lines of a report as plain text; a report that cannot be printed (a closed
    pipe) must not turn a done job into a failure."""
    try:
        for line in lines:
            out.print(Text(line), highlight=False)
    except Exception:  # noqa: BLE001 - the work is done: its report is best effort
        pass


@contextmanager
def _progress():
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err, transient=True,
                    disable=not err.is_terminal)
    tasks: dict[str, int] = {}

    def update(table: str, done: int, total: int) -> None:
        if "all" not in tasks:
            tasks["all"] = bars.add_task("écriture", total=total)
        bars.update(tasks["all"], completed=done, description=f"écriture ({table})")

    with bars:
        yield update


@app.command("demo")
def demo_command(
    db: DbOption = None,
    candidacies: Annotated[int, typer.Option(help="Nombre de candidatures.", min=1)] = 20_000,
    seed: Annotated[int, typer.Option(help="Graine du générateur.")] = 2024,
    write_files: Annotated[Path | None, typer.Option(
        "--write-files", help="Écrire les fichiers d'échange dans ce dossier au lieu de la base.")]
    = None,
) -> None:
    """Fabrique un jeu de données synthétique réaliste (branches réelles, CQP, un CQPI)."""
    from . import demo

    with _errors():
        dataset = demo.generate(candidacies, seed)
        if write_files is not None:
            written = demo.write_files(dataset, write_files)
            _say(f"{len(written)} fichiers écrits dans {write_files}.")
            return
        with database.writing(db) as engine:
            _write_demo(engine, dataset)


def _write_demo(engine: sa.Engine, dataset) -> None:
    """Write the demo into an empty database only: it must never mix with real data."""
    from . import demo

    database.ensure_schema(engine)
    with engine.begin() as connection:
        existing = connection.execute(sa.select(sa.func.count()).select_from(
            schema.candidacy)).scalar_one()
        if existing:
            raise Failure(f"la base contient déjà {existing} candidature(s) : la démo "
                          "s'écrit dans une base vide (choisissez --db).")
        with _progress() as progress:
            rows = write_dataset(connection, dataset, source="démo (données synthétiques)",
                                 progress=progress, data_until=demo.DATA_CUT)
    _say(f"Base de démonstration prête : {rows} lignes.")


def _parse_where(items: list[str]) -> dict[str, list]:
    where: dict[str, list] = {}
    for item in items:
        if "=" not in item:
            raise Failure(f"--where attend DIM=VALEUR, reçu « {item} »")
        dim, _, values = item.partition("=")
        dim = dim.strip()
        if dim not in DIMENSIONS:
            raise Failure(f"dimension inconnue dans --where : « {dim} » (connues : "
                          + ", ".join(DIMENSIONS) + ")")
        parsed = []
        for value in values.split(","):
            value = value.strip()
            if DIMENSIONS[dim].numeric:
                if not (value.isascii() and value.isdigit()):
                    raise Failure(f"--where {dim} attend un nombre, reçu « {value} »")
                parsed.append(int(value))
            elif dim == "branch_code":
                parsed.append(branch_code(value))
            elif dim == "region_code" and value.isascii() and value.isdigit():
                parsed.append(value.zfill(2))
            else:
                parsed.append(value)
        where.setdefault(dim, []).extend(parsed)
    return where


def _check_values(engine: sa.Engine, where: dict[str, list],
                  scope: list[str] | None) -> None:
    """Every value of ``--where`` is one the data know (within the scope): a value that
    does not exist is one French message naming the known ones, not an empty table."""
    from .catalogue import dimension_values
    from .codes import REGIONS, fold

    with engine.connect() as connection:
        for dim, values in where.items():
            if dim == "year":
                continue
            known = [str(v) for v in dimension_values(connection, dim, scope)]
            if dim == "region_code":
                known = sorted(set(known) | set(REGIONS))
            for value in values:
                if str(value) in known:
                    continue
                near = [k for k in known if fold(k) == fold(str(value))]
                if dim == "region_code":
                    near += [c for c, name in REGIONS.items() if fold(name) == fold(str(value))]
                hint = f" ; vouliez-vous dire « {near[0]} » ?" if near else ""
                shown = ", ".join(known[:30]) + (f", … ({len(known)} en tout)"
                                                 if len(known) > 30 else "")
                raise Failure(f"--where {dim} : valeur inconnue « {value} »{hint} (valeurs "
                              f"connues : {shown or 'aucune'})")


def _scope(text: str | None) -> list[str] | None:
    return None if text is None else parse_branches(text)


@app.command("indicators")
def indicators_command(
    db: DbOption = None,
    by: Annotated[str, typer.Option(help="Dimensions, séparées par des virgules : "
                                    + ", ".join(DIMENSIONS) + ".")] = "",
    where: Annotated[list[str] | None, typer.Option(
        help="Filtre DIM=VALEUR[,VALEUR…] ; répétable.")] = None,
    from_year: Annotated[int | None, typer.Option("--from", help="Première année.")] = None,
    to_year: Annotated[int | None, typer.Option("--to", help="Dernière année.")] = None,
    format: Annotated[Format, typer.Option(
        help="csv (pour les programmes), csv-fr (pour Excel en français : points-virgules, "
        "virgules décimales, BOM, notes), xlsx ou table.")] = Format.csv,
    output: Annotated[str | None, typer.Option(
        help="Fichier de sortie ; « - » ou rien : la sortie standard.")] = None,
    scope: Annotated[str | None, typer.Option(
        help="Branches visibles (codes IDCC séparés par des virgules) ; défaut : toutes.")] = None,
    totals: Annotated[bool, typer.Option(help="Ajouter une ligne Total sur la dernière "
                                         "dimension (publiée pour elle-même : elle peut "
                                         "différer de quelques unités de la somme des "
                                         "lignes).")] = False,
    no_secret: Annotated[bool, typer.Option(
        "--no-secret", help="Désactiver le secret statistique (usage interne seulement).")]
    = False,
    min_count: Annotated[int | None, typer.Option(
        help="Effectifs publiés masqués en dessous de ce seuil (défaut : la règle de la base ; "
        "peut la relever, jamais l'abaisser).", min=1)] = None,
    min_denominator: Annotated[int | None, typer.Option(
        help="Taux masqués si leur dénominateur publié est sous ce seuil (défaut : la règle "
        "de la base ; peut la relever, jamais l'abaisser).", min=1)] = None,
    lang: Annotated[Language, typer.Option(help="Langue des libellés (fr ou en).")]
    = Language.fr,
    until: Annotated[str | None, typer.Option(
        help="MM-JJ : ne garder de chaque année que les faits datés jusqu'à ce jour "
        "(même période d'une année à l'autre, par exemple 09-30).")] = None,
    changes: Annotated[bool, typer.Option(
        "--changes", help="Avec --by year : évolution de chaque taux sur l'année précédente "
        "et son intervalle (Newcombe).")] = False,
) -> None:
    """Calcule les indicateurs dans la base et les écrit (CSV par défaut)."""
    from .render import analyst_csv, analyst_xlsx, print_table, to_csv

    with _errors(), ExitStack() as stack:
        dims = [d.strip() for d in by.split(",") if d.strip()]
        filters = _parse_where(where or [])
        engine = stack.enter_context(_engine(db, read_only=True))
        database.check_schema(engine)
        rule = _requested_rule(engine, min_count, min_denominator, no_secret)
        branches = _scope(scope)
        _check_values(engine, filters, branches)
        day = None if until is None else parse_until(until)
        table = compute(engine, by=dims, where=filters, years=(from_year, to_year),
                        scope=branches, secret=rule, totals=totals, until=day,
                        changes=changes)
        target = None if output in (None, "-") else Path(output)
        notes = export_notes(source_note(engine), {
            "découpage": ", ".join(dims), **{k: ", ".join(map(str, v)) for k, v in
                                              filters.items()},
            "de": from_year, "à": to_year, "jusqu'au (chaque année)": until}, table.rule,
            table.data_until)
        if format is Format.xlsx:
            if target is None:
                buffer = io.BytesIO()
                analyst_xlsx(table, buffer, notes)
                _write_bytes(buffer.getvalue())
                return
            analyst_xlsx(table, target, notes)
            _say(f"Classeur écrit : {target}")
        elif format is Format.csv_fr:
            data = analyst_csv(table, notes, lang.value)
            if target is None:
                _write_bytes(data)
            else:
                target.write_bytes(data)
        elif format is Format.csv:
            text = to_csv(table)
            if target is None:
                sys.stdout.write(text)
            else:
                target.write_text(text, encoding="utf-8")
        else:
            console = Console(width=None if out.is_terminal else 220) if target is None \
                else Console(file=stack.enter_context(target.open("w", encoding="utf-8")),
                             width=220)
            print_table(table, console, lang.value)


def _write_bytes(data: bytes) -> None:
    """Bytes on standard output (``--output -``), as they are."""
    sys.stdout.flush()
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:  # a captured output (tests) takes text
        sys.stdout.write(data.decode("utf-8", errors="surrogateescape"))
    else:
        stream.write(data)
        stream.flush()


def _requested_rule(engine: sa.Engine, min_count: int | None, min_denominator: int | None,
                    no_secret: bool) -> SecretRule:
    """The secret a request asks for: the database's rule, thresholds raised where given
    (lowered, never: only ``--no-secret`` publishes exact figures)."""
    if no_secret:
        return SecretRule(enabled=False)
    with engine.connect() as connection:
        base, _ = database_rule(connection)
    for option, given, floor in (("--min-count", min_count, base.min_count),
                                 ("--min-denominator", min_denominator, base.min_denominator)):
        if given is not None and given < floor:
            raise Failure(f"{option} {given} abaisserait la règle de secret de la base "
                          f"({floor}) : un seuil peut être relevé, jamais abaissé (seul "
                          "--no-secret, pour un usage interne, publie les chiffres exacts)")
    return SecretRule(min_count or base.min_count, min_denominator or base.min_denominator)


@app.command("import-rncp")
def import_rncp_command(
    export: Annotated[Path, typer.Argument(help="Export CSV quotidien de France Compétences "
                                           "(zip).")],
    db: DbOption = None,
    confirm: Annotated[list[str] | None, typer.Option(
        help="Rapprochement confirmé CQP=CODE (RNCP… ou RS…) ; répétable.")] = None,
) -> None:
    """Enregistrements RNCP/RS des CQP de la base, depuis l'export de France Compétences."""
    from .registers import import_rncp

    with _errors(), database.writing(db) as engine:
        pairs = {}
        for item in confirm or []:
            cqp, sep, code = item.partition("=")
            if not sep:
                raise Failure(f"--confirm attend CQP=CODE, reçu « {item} »")
            pairs[cqp.strip()] = code.strip().upper()
        report = import_rncp(engine, export, pairs)
        _say(*report.lines())


@app.command("import-certifinfo")
def import_certifinfo_command(
    file: Annotated[Path, typer.Argument(help="Extrait open data Certif Info (CSV ;).")],
    db: DbOption = None,
) -> None:
    """Catalogue des CQP et de leur reconnaissance, depuis l'extrait Certif Info."""
    from .registers import import_certifinfo

    with _errors():
        with database.writing(db) as engine:
            counts = import_certifinfo(engine, file)
        total = int(counts.sum())
        detail = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("RNCP", "RS", "branche_seule"))
        _say(f"{total} CQP au catalogue : {detail}.")


@app.command("registrations")
def registrations_command(
    db: DbOption = None,
    ending_within: Annotated[int, typer.Option(
        "--ending-within", help="Enregistrements en cours qui prennent fin d'ici N mois.",
        min=0)] = 12,
    lapsed: Annotated[bool, typer.Option(
        "--lapsed", help="Les enregistrements expirés et non renouvelés, à la place.")]
    = False,
    scope: Annotated[str | None, typer.Option(help="Branches visibles (IDCC).")] = None,
    today: Annotated[str | None, typer.Option(help="Date de référence AAAA-MM-JJ.")] = None,
) -> None:
    """Par branche : enregistrements qui prennent fin d'ici N mois (ou expirés, avec
    --lapsed) et CQP jamais enregistrés."""
    from rich.table import Table

    from .catalogue import certifications
    from .catalogue import ending_within as ending
    from .catalogue import lapsed as lapsed_of
    from .formatting import months_text, registration_state

    with _errors(), _engine(db, read_only=True) as engine:
        database.check_schema(engine)
        day = _date_option("--today", today or None) or dt.date.today()
        branches = _scope(scope)
        with engine.connect() as connection:
            catalogue = certifications(connection, branches, today=day)
        catalogue = catalogue.assign(branch=catalogue["branch_codes"].fillna("").str.split("|"))
        catalogue = catalogue.explode("branch")
        if branches is not None:
            catalogue = catalogue[catalogue["branch"].isin(branches)]
        for branch, rows in catalogue.groupby("branch"):
            ended = lapsed_of(rows)
            if lapsed:
                title = f"Branche {branch} — enregistrements expirés, non renouvelés (au " \
                        f"{day:%d/%m/%Y})"
                listed = [(r.cqp_code, r.title, r.lapsed_register, r.lapsed_code,
                           registration_state("lapsed", None, r.lapsed_on))
                          for r in ended.itertuples()]
                columns = ("CQP", "Intitulé", "Registre", "Code", "État")
            else:
                title = f"Branche {branch} — fin d'enregistrement d'ici {ending_within} " \
                        f"mois (au {day:%d/%m/%Y})"
                listed = [(r.cqp_code, r.title, r.recognition, r.rncp_code,
                           f"{r.valid_until:%d/%m/%Y}", months_text(r.months_left))
                          for r in ending(rows, ending_within).itertuples()]
                columns = ("CQP", "Intitulé", "Registre", "Code", "Fin", "Mois restants")
            if listed:
                table = Table(title=Text(title))
                for column in columns:
                    table.add_column(column)
                for row in listed:
                    table.add_row(*(Text(str(v)) for v in row))
                out.print(table)
            else:
                _say(f"{title} : aucun.")
            if not lapsed and len(ended):
                _say(f"Expirés, non renouvelés : {len(ended)} (" + ", ".join(
                    f"{r.cqp_code} {r.lapsed_code} le {r.lapsed_on:%d/%m/%Y}"
                    for r in ended.itertuples()) + ") — détail : --lapsed.")
            never = rows[~rows["ever_registered"]]
            _say("CQP jamais enregistrés : " + (", ".join(
                f"{r.cqp_code} ({r.title})" for r in never.itertuples()) or "aucun"))


@app.command("report")
def report_command(
    branch: Annotated[str | None, typer.Option(
        "--branch", help="Rapport annuel d'une branche (code IDCC).")] = None,
    cqp: Annotated[str | None, typer.Option(
        "--cqp", help="Fiche d'un CQP pour une réunion de CPNE (code du CQP).")] = None,
    year: Annotated[int | None, typer.Option(
        "--year", help="Année des chiffres clés (défaut : la dernière année complète).")]
    = None,
    output: Annotated[str, typer.Option(
        "--output", help="Fichier .html (autonome, lisible hors ligne) ou .pdf (A4) ; « - » : "
        "le HTML sur la sortie standard.")] = "rapport.html",
    publisher: Annotated[str | None, typer.Option(
        "--publisher", help="Éditeur du rapport, sur sa couverture (l'observatoire).")] = None,
    logo: Annotated[Path | None, typer.Option(
        "--logo", help="Logo de l'éditeur (PNG, JPEG ou SVG), intégré au fichier.")] = None,
    scope: Annotated[str | None, typer.Option(
        help="Branches visibles (codes IDCC séparés par des virgules) ; défaut : toutes.")]
    = None,
    db: DbOption = None,
) -> None:
    """Le rapport annuel d'une branche ou la fiche d'un CQP, en un fichier HTML ou PDF."""
    with _errors(), _engine(db, read_only=True) as engine:
        target = None if output == "-" else Path(output)
        if target is not None and target.suffix.lower() not in (".html", ".pdf"):
            raise Failure(f"--output attend un fichier .html ou .pdf (ou « - »), reçu "
                          f"« {target.name} »")
        try:
            from dashboards.report import ReportError, report_for, write
        except ImportError:
            raise Failure("le rapport demande les tableaux de bord : pip install "
                          "'cqp-metrics[dashboards]'") from None
        database.check_schema(engine)
        try:
            made = report_for(engine, None if branch is None else branch_code(branch), cqp,
                              year, _scope(scope), publisher=publisher, logo=logo)
            if target is None:
                sys.stdout.write(made.html)
                return
            write(made, target)
        except ReportError as error:
            raise Failure(str(error)) from None
        _say(f"Rapport écrit : {target} ({made.title}, {made.year}).")


@app.command("notify")
def notify_command(
    config: Annotated[Path, typer.Option(
        "--config", help="Fichier TOML : serveur SMTP, expéditeur, variable d'environnement "
        "du mot de passe, destinataires et leurs branches, rapports et alertes.")],
    dry_run: Annotated[Path | None, typer.Option(
        "--dry-run", help="Écrire les messages en fichiers .eml dans ce dossier au lieu de "
        "les envoyer.")] = None,
    today: Annotated[str | None, typer.Option(help="Date de référence AAAA-MM-JJ.")] = None,
    db: DbOption = None,
) -> None:
    """Envoie à chaque destinataire, par SMTP, les rapports et les alertes de ses branches
    qui lui sont dus (à lancer chaque jour par cron ou un minuteur systemd)."""
    from . import notify
    from .audit import AuditLog

    with _errors():
        day = _date_option("--today", today) or dt.date.today()
        settings = notify.read_config(config)
        try:
            from dashboards.report import ReportError, attachment
            from dashboards.static import printing_together
        except ImportError:
            raise Failure("les rapports demandent les tableaux de bord : pip install "
                          "'cqp-metrics[dashboards]'") from None
        with _engine(db, read_only=True) as engine:
            database.check_schema(engine)
            notify.check_scope(engine, settings)
            reporter = attachment if dry_run is not None else \
                notify.checked_first(settings.smtp, attachment)
            audit = AuditLog(resolve_db_url(db))
            try:
                try:
                    with printing_together():  # one chromium for every report
                        items = notify.plan(engine, settings, audit, reporter, day)
                except ReportError as error:
                    raise Failure(str(error)) from None
                if dry_run is not None:
                    written = notify.write_eml(items, dry_run, audit)
                    _say(f"{len(written)} message(s) écrit(s) dans {dry_run} (rien n'a été "
                         "envoyé).", *(f"  {path.name}" for path in written))
                    return
                sent = notify.send(items, settings.smtp, audit)
            finally:
                audit.dispose()
        _say(f"{sent} message(s) envoyé(s)." if sent else "Rien à envoyer aujourd'hui.",
             *(f"  {item.recipient.email} : {item.message['Subject']}" for item in items))


@app.command("dossier-rncp")
def dossier_rncp_command(
    cqp: Annotated[str, typer.Option("--cqp", help="Code du CQP dont l'enregistrement est à "
                                     "renouveler.")],
    output: Annotated[Path, typer.Option("--output", help="Fichier .xlsx ou .pdf.")],
    promotions: Annotated[str | None, typer.Option(
        help="Promotions (années de validation) séparées par des virgules ; défaut : les "
        "deux dernières complètes.")] = None,
    db: DbOption = None,
) -> None:
    """Le dossier de renouvellement RNCP d'un CQP : l'insertion de ses promotions, en chiffres
    exacts pour France compétences (commande journalisée comme un téléchargement)."""
    from . import dossier
    from .audit import AuditLog

    with _errors():
        suffix = output.suffix.lower()
        if suffix not in (".xlsx", ".pdf"):
            raise Failure(f"--output attend un fichier .xlsx ou .pdf, reçu « {output.name} »")
        years = _years(promotions) if promotions is not None else None
        with _engine(db, read_only=True) as engine:
            database.check_schema(engine)
            try:
                made = dossier.build(engine, cqp.strip(), years)
            except dossier.DossierError as error:
                raise Failure(str(error)) from None
        if suffix == ".xlsx":
            dossier.write_xlsx(made, output)
        else:
            try:
                from dashboards.static import ChromiumMissing, pdf_of
            except ImportError:
                raise Failure("le PDF demande les tableaux de bord : pip install "
                              "'cqp-metrics[dashboards]'") from None
            try:
                output.write_bytes(pdf_of(dossier.to_html(made),
                                          f"Dossier RNCP {made.cqp} — chiffres exacts"))
            except ChromiumMissing as missing:
                raise Failure(str(missing)) from None
        log = AuditLog(resolve_db_url(db))
        try:
            log.record(f"{getpass.getuser()} (ligne de commande)", "download",
                       page="dossier-rncp", filters={"cqp": made.cqp,
                                                     "promotions": made.promotions},
                       format=suffix.lstrip("."), rows=len(made.promotions_table))
        finally:
            log.dispose()
        _say(f"Dossier écrit : {output} ({made.cqp}, promotions "
             + ", ".join(map(str, made.promotions)) + ") — chiffres exacts, à ne pas diffuser.")


def _years(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isascii() and p.isdigit() and len(p) == 4 for p in parts):
        raise Failure(f"--promotions attend des années séparées par des virgules (2022,2023), "
                      f"reçu « {text} »")
    return sorted({int(p) for p in parts})


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Met le schéma de la base à jour, sans perte de données."""
    with _errors():
        with database.writing(db) as engine:
            before = database.current_revision(engine)
            database.upgrade(engine)
            after = database.current_revision(engine)
        _say(f"Schéma : {before or 'vide'} → {after}")


@db_app.command("secret")
def db_secret(
    max_deviation: Annotated[int | None, typer.Option(
        "--max-deviation", help="D : écart maximal d'un effectif publié à l'effectif exact.",
        min=1, max=5)] = None,
    variance: Annotated[float | None, typer.Option(
        help="V : variance de la perturbation.", min=0.1, max=4.0)] = None,
    min_count: Annotated[int | None, typer.Option(
        help="Effectifs publiés masqués en dessous de ce seuil.", min=1)] = None,
    min_denominator: Annotated[int | None, typer.Option(
        help="Taux masqués si leur dénominateur publié est sous ce seuil.", min=1)] = None,
    db: DbOption = None,
) -> None:
    """Affiche la règle de secret de la base ; la change avec des options (la clé HMAC, et
    donc la clé de chaque personne, ne change jamais)."""
    from dataclasses import replace

    from . import derived
    from .secret import configure

    with _errors():
        changes = {k: v for k, v in (("max_deviation", max_deviation), ("variance", variance),
                                     ("min_count", min_count),
                                     ("min_denominator", min_denominator)) if v is not None}
        if not changes:
            with _engine(db, read_only=True) as engine:
                database.check_schema(engine)
                with engine.connect() as connection:
                    rule, _ = database_rule(connection)
            _say(_rule_line(rule))
            return
        with database.writing(db) as engine:
            database.check_schema(engine)
            with engine.begin() as connection:
                rule, _ = database_rule(connection)
                rule = replace(rule, **changes)
                configure(connection, rule)
                derived.new_version(connection, "secret")
        _say("Règle de secret changée : " + _rule_line(rule))


def _rule_line(rule: SecretRule) -> str:
    return (f"écart maximal D = {rule.max_deviation}, variance V = {rule.variance:g}, "
            f"effectifs publiés masqués sous {rule.min_count}, taux masqués sur un "
            f"dénominateur publié sous {rule.min_denominator}.")


@db_app.command("current")
def db_current(db: DbOption = None) -> None:
    """Affiche la révision du schéma de la base."""
    with _errors(), _engine(db, read_only=True) as engine:
        _say(f"{database.current_revision(engine) or 'vide'} (dernière : "
             f"{database.head_revision()})")


def _new_password(password_stdin: bool) -> str:
    """The password from standard input (one line), else typed twice without echo."""
    from .access import check_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Mot de passe", hide_input=True)
        if typer.prompt("Mot de passe (confirmation)", hide_input=True) != password:
            raise Failure("les deux mots de passe diffèrent ; rien n'a été enregistré")
    return check_password(password)


@users_app.command("add")
def users_add(
    login: Annotated[str, typer.Argument(help="Identifiant de connexion.")],
    branches: Annotated[str | None, typer.Option(
        help="Branches visibles : codes IDCC séparés par des virgules (0016,3248).")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Voit toutes les branches.")] = False,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Lire le mot de passe sur l'entrée standard.")] = False,
    db: DbOption = None,
) -> None:
    """Ajoute un utilisateur (mot de passe demandé deux fois, gardé haché en Argon2)."""
    from . import access

    with _errors():
        access.check_login(login)
        codes = access.check_branches(
            parse_branches(branches) if branches is not None else [], admin)
        password = _new_password(password_stdin)
        with database.writing(db) as engine:
            database.ensure_schema(engine)
            with engine.begin() as connection:
                access.add_user(connection, login, password, codes, admin)
        _say(f"Utilisateur « {login} » ajouté : "
             + (access.Access(login, frozenset(codes), admin).describe()) + ".")


@users_app.command("list")
def users_list(db: DbOption = None) -> None:
    """Liste les utilisateurs et leurs branches (jamais les mots de passe)."""
    from . import access

    with _errors(), _engine(db, read_only=True) as engine:
        database.check_schema(engine)
        with engine.connect() as connection:
            users = access.list_users(connection)
        _say(*(f"{user.login} : {user.describe()}" for user in users) if users
             else ["Aucun utilisateur : le serveur est ouvert à tous sur la boucle locale."])


@users_app.command("passwd")
def users_passwd(
    login: Annotated[str, typer.Argument(help="Identifiant.")],
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Lire le mot de passe sur l'entrée standard.")] = False,
    db: DbOption = None,
) -> None:
    """Change le mot de passe d'un utilisateur et ferme ses sessions ouvertes."""
    from . import access

    with _errors():
        password = _new_password(password_stdin)
        with database.writing(db) as engine:
            database.check_schema(engine)
            with engine.begin() as connection:
                access.set_password(connection, login, password)
        ended = end_sessions(resolve_db_url(db), login, "password")
        _say(f"Mot de passe de « {login} » changé ; sessions ouvertes fermées : {ended}.")


@users_app.command("remove")
def users_remove(login: Annotated[str, typer.Argument(help="Identifiant.")],
                 db: DbOption = None) -> None:
    """Supprime un utilisateur et ferme ses sessions : ses pages ouvertes ne calculent plus
    rien et reviennent à la connexion."""
    from . import access

    with _errors():
        with database.writing(db) as engine:
            database.check_schema(engine)
            access.remove_user(engine, login)
        ended = end_sessions(resolve_db_url(db), login, "removed")
        _say(f"Utilisateur « {login} » supprimé ; sessions ouvertes fermées : {ended}.")


class AuditFormat(StrEnum):
    csv = "csv"
    table = "table"


@app.command("audit")
def audit_command(
    since: Annotated[str | None, typer.Option(help="Depuis ce jour AAAA-MM-JJ.")] = None,
    format: Annotated[AuditFormat, typer.Option(help="csv ou table.")] = AuditFormat.table,
    db: DbOption = None,
) -> None:
    """Connexions (réussies ou non) et téléchargements enregistrés par le serveur."""
    from rich.table import Table

    from .audit import AuditLog

    with _errors():
        day = _date_option("--since", since)
        with _engine(db, read_only=True) as engine:
            database.check_schema(engine)
        log = AuditLog(resolve_db_url(db))
        try:
            frame = log.events(since=None if day is None else dt.datetime.combine(
                day, dt.time()))
        finally:
            log.dispose()
        if format is AuditFormat.csv:
            from .render import safe_frame

            sys.stdout.write(safe_frame(frame).to_csv(index=False, sep=";"))
            return
        table = Table(title=Text(f"Journal d'audit : {len(frame)} événement(s)"))
        for column in frame.columns:
            table.add_column(column)
        for row in frame.itertuples(index=False):
            table.add_row(*(Text("" if v is None or v != v else str(v)) for v in row))
        out.print(table)


@app.command("serve")
def serve_command(
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 5006,
    address: Annotated[str, typer.Option(help="Adresse d'écoute.")] = "127.0.0.1",
    db: DbOption = None,
    open_access: Annotated[bool, typer.Option(
        "--open", help="Servir sans connexion sur une adresse autre que la boucle locale "
        "(aucun utilisateur).")] = False,
    oidc: Annotated[Path | None, typer.Option(
        help="Fichier TOML d'un fournisseur d'identité OpenID Connect et des groupes → "
        "branches.")] = None,
    cookie_secret: Annotated[str | None, typer.Option(
        envvar="CQP_COOKIE_SECRET", help="Secret des cookies (défaut : $CQP_COOKIE_SECRET, "
        "sinon généré et gardé dans data/cookie_secret).")] = None,
    session_hours: Annotated[float, typer.Option(
        help="Durée d'une session connectée, en heures (0,1 à 720).", min=SESSION_HOURS[0],
        max=SESSION_HOURS[1])] = 12.0,
    allow_origin: Annotated[list[str] | None, typer.Option(
        help="Origine publique (hôte:port) derrière un proxy ; répétable.")] = None,
    num_procs: Annotated[int, typer.Option(help="Processus (derrière un proxy à sessions "
                                           "collantes).", min=1)] = 1,
    behind_proxy: Annotated[bool, typer.Option(
        "--behind-proxy", help="Lire l'adresse et le protocole du visiteur dans les en-têtes "
        "X-Forwarded-* du proxy (seulement derrière un proxy).")] = False,
) -> None:
    """Sert les tableaux de bord avec connexion et périmètre par utilisateur."""
    with _errors():
        try:
            from dashboards.server import ServeOptions, run
        except ImportError as error:
            raise Failure("les tableaux de bord ne sont pas installés (pip install "
                          f"'cqp-metrics[dashboards]') : {error}") from None
        run(ServeOptions(port=port, address=address, db=db, open_access=open_access,
                         oidc=oidc, cookie_secret=cookie_secret, session_hours=session_hours,
                         origins=tuple(allow_origin or ()), num_procs=num_procs,
                         behind_proxy=behind_proxy))


def main() -> None:
    """Entry point of the console script."""
    app()


install_french(app, db_app, users_app)

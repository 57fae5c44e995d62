"""The command line: demo, indicators in every format, clear errors without tracebacks."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from cqp_metrics.cli import app
from cqp_metrics.db import head_revision

from conftest import WORKED

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('cli') / 'demo.duckdb'}"
    result = runner.invoke(app, ["demo", "--db", url, "--candidacies", "4000"])
    assert result.exit_code == 0, result.output
    return url


def run(*args: str):
    return runner.invoke(app, list(args))


def test_csv_columns_are_named_as_in_domain(demo_db):
    result = run("indicators", "--db", demo_db, "--by", "year")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    header = list(rows[0])
    assert header[:10] == ["year", "year_complete", "enrolments", "juries", "full", "partial",
                           "refused", "full_rate", "full_rate_low", "full_rate_high"]
    for name in ("vae_juries", "vae_full", "vae_success_rate", "vae_admissibility_rate",
                 "withdrawal_rate", "partial_completion_rate", "certified", "certified_rncp",
                 "recognition_rate", "rncp_coverage", "block_pass_rate"):
        assert name in header
    assert [int(r["year"]) for r in rows] == sorted(int(r["year"]) for r in rows)
    for row in rows:
        rate = row["full_rate"]
        assert rate == "secret" or 0.0 <= float(rate) <= 1.0
        assert "," not in rate


def test_an_undefined_rate_is_empty_in_csv(tmp_path):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    assert run("load", str(WORKED), "--db", url).exit_code == 0
    result = run("indicators", "--db", url, "--by", "year", "--where", "year=2024",
                 "--no-secret")
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    assert row["enrolments"] == "0" and row["withdrawal_rate"] == ""
    assert row["full_rate"] == "1"


def test_table_format_is_french(demo_db):
    result = run("indicators", "--db", demo_db, "--by", "pathway", "--format", "table")
    assert result.exit_code == 0, result.output
    assert "Taux de validation totale" in result.stdout
    assert "formation" in result.stdout and "vae" in result.stdout
    assert re.search(r"\d{1,3},\d\u00a0%", result.stdout)  # 62,5 %
    assert re.search(r"\d\u202f\d{3}", result.stdout)  # 1 234


def test_xlsx_export_carries_its_notes(demo_db, tmp_path):
    path = tmp_path / "out.xlsx"
    result = run("indicators", "--db", demo_db, "--by", "cqp_code", "--format", "xlsx",
                 "--output", str(path), "--where", "pathway=vae")
    assert result.exit_code == 0, result.output
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["indicateurs", "notes"]
    notes = {row[0]: row[1] for row in workbook["notes"].iter_rows(min_row=2, values_only=True)}
    assert "démo" in notes["Source"]
    assert "pathway = vae" in notes["Filtres"]
    assert "exact à 2 personnes près" in notes["Règle de secret"]
    assert "sous le seuil de 5" in notes["Règle de secret"]
    values = [c for row in workbook["indicateurs"].iter_rows(min_row=2, values_only=True)
              for c in row]
    assert "secret" in values  # small VAE cells by CQP are hidden


def test_a_threshold_may_be_raised_never_lowered(demo_db):
    raised = run("indicators", "--db", demo_db, "--by", "cqp_code,region_code", "--min-count",
                 "12")
    assert raised.exit_code == 0, raised.output
    rows = list(csv.DictReader(io.StringIO(raised.stdout)))
    assert any(row["enrolments"] == "secret" for row in rows)
    assert all(row["enrolments"] == "secret" or not 1 <= int(row["enrolments"]) <= 11
               for row in rows)
    lowered = run("indicators", "--db", demo_db, "--min-count", "3")
    assert lowered.exit_code == 1 and "jamais abaissé" in lowered.stderr
    assert "Traceback" not in lowered.output


def test_the_database_rule_is_shown_and_changed_by_its_own_command(tmp_path):
    url = f"duckdb:///{tmp_path / 'rule.duckdb'}"
    assert run("demo", "--db", url, "--candidacies", "300").exit_code == 0
    shown = run("db", "secret", "--db", url)
    assert shown.exit_code == 0 and "D = 2, variance V = 1" in shown.stdout
    assert "hmac" not in shown.stdout.lower()
    changed = run("db", "secret", "--db", url, "--min-count", "11")
    assert changed.exit_code == 0, changed.output
    rows = list(csv.DictReader(io.StringIO(run("indicators", "--db", url, "--by",
                                               "cqp_code").stdout)))
    assert all(row["enrolments"] == "secret" or not 1 <= int(row["enrolments"]) <= 10
               for row in rows)
    assert run("indicators", "--db", url, "--min-count", "8").exit_code == 1


def test_bad_folder_exits_1_with_a_report_and_no_traceback(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "branches.csv").write_text("branch_code,name\nABCD,Transports\n")
    url = f"duckdb:///{tmp_path / 'x.duckdb'}"
    result = run("load", str(bad), "--db", url)
    assert result.exit_code == 1
    assert "branches.csv, ligne 2, colonne branch_code, valeur « ABCD »" in result.stderr
    assert "rien n'a été écrit" in result.stderr
    assert "Traceback" not in result.output + result.stderr


@pytest.mark.parametrize("args,message", [
    (["--by", "colour"], "dimension inconnue"),
    (["--where", "pathway"], "DIM=VALEUR"),
    (["--where", "year=deux"], "attend un nombre"),
    (["--from", "2024", "--to", "2020"], "période vide"),
])
def test_bad_requests_get_a_clear_message(demo_db, args, message):
    result = run("indicators", "--db", demo_db, *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_database_is_explained(tmp_path):
    result = run("indicators", "--db", f"duckdb:///{tmp_path / 'none.duckdb'}")
    assert result.exit_code == 1
    assert "Base introuvable" in result.stderr
    result = run("indicators", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert result.exit_code == 1
    assert "Erreur" in result.stderr and "Traceback" not in result.stderr


def test_demo_refuses_a_database_with_data(demo_db):
    result = run("demo", "--db", demo_db)
    assert result.exit_code == 1 and "déjà" in result.stderr


def test_python_dash_m_and_the_db_commands(demo_db, tmp_path):
    done = subprocess.run([sys.executable, "-m", "cqp_metrics", "--help"], capture_output=True,
                          text=True, check=True)
    assert "indicators" in done.stdout
    url = f"sqlite:///{tmp_path / 'up.sqlite'}"
    assert run("db", "upgrade", "--db", url).exit_code == 0
    assert run("db", "current", "--db", url).stdout.startswith(head_revision())


def test_scope_limits_the_branches(demo_db):
    result = run("indicators", "--db", demo_db, "--by", "branch_code", "--scope", "16")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["branch_code"] for r in rows] == ["0016"]


@pytest.mark.parametrize("args,message", [
    (["--where", "year=²"], "attend un nombre"),
    (["--where", "region_code[/]=11"], "dimension inconnue dans --where : « region_code[/] »"),
    (["--where", "branch_code=16a"], "code de branche invalide : « 16a »"),
    (["--scope", "0016;3248"], "code de branche invalide : « 0016;3248 »"),
    (["--scope", ","], "aucune branche donnée"),
    (["--lang", "de"], "valeur invalide pour --lang : « de » n'est pas une valeur possible "
                       "(fr, en)"),
    (["--min-count", "-1"], "valeur invalide pour --min-count : au moins 1"),
    (["--nope"], "option inconnue : --nope"),
    (["--from", "deux"], "valeur invalide pour --from : un nombre entier est attendu"),
    (["--db", "mysql://root@localhost/cqp"], "Base non prise en charge : mysql"),
    (["--db", "::not a url::"], "Adresse de base illisible"),
])
def test_every_bad_option_is_one_message(demo_db, args, message):
    command = ["indicators", *args] if "--db" in args else ["indicators", "--db", demo_db,
                                                            *args]
    result = run(*command)
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.stderr.replace("│", " ").split()), result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_branch_codes_are_padded_in_where_as_in_scope(demo_db):
    padded = run("indicators", "--db", demo_db, "--where", "branch_code=16")
    assert padded.exit_code == 0, padded.stderr
    full = run("indicators", "--db", demo_db, "--where", "branch_code=0016")
    assert padded.stdout == full.stdout


def test_a_read_only_command_creates_no_file_or_folder(tmp_path):
    for url in (f"sqlite:///{tmp_path / 'no' / 'base.sqlite'}",
                f"duckdb:///{tmp_path / 'none' / 'base.duckdb'}"):
        result = run("indicators", "--db", url)
        assert result.exit_code == 1 and "Base introuvable" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_user_text_is_never_markup(tmp_path):
    """Titles, providers and folder names with rich markup print as text."""
    folder = tmp_path / "in[/]x"
    folder.mkdir(parents=True)
    for file in WORKED.glob("*.csv"):
        text = file.read_text(encoding="utf-8")
        if file.name == "certifications.csv":
            text = text.replace("CQP-A,", "CQP-A,[/i] ", 1)
        text = text.replace("OF1", "[/red]x")
        (folder / file.name).write_text(text, encoding="utf-8")
    url = f"duckdb:///{tmp_path / 'm.duckdb'}"
    loaded = run("load", str(folder), "--db", url)
    assert loaded.exit_code == 0, loaded.stderr
    assert "Chargement enregistré" in loaded.stdout and "in[/]x" in loaded.stdout
    table = run("indicators", "--db", url, "--by", "provider_id", "--format", "table",
                "--no-secret")
    assert table.exit_code == 0, table.stderr
    assert "[/red]x" in table.stdout
    renewals = run("registrations", "--db", url, "--ending-within", "600", "--today",
                   "2023-01-01")
    assert renewals.exit_code == 0, renewals.stderr
    assert "Traceback" not in renewals.stdout + renewals.stderr


def test_an_unexpected_error_is_one_sentence_and_logged(tmp_path, monkeypatch):
    import cqp_metrics.cli as cli

    def boom(*_args, **_kwargs):
        raise RuntimeError("/secret/path pid 1234")

    monkeypatch.setattr(cli, "compute", boom)
    monkeypatch.setenv("CQP_LOG", str(tmp_path / "cqp.log"))
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    assert run("load", str(WORKED), "--db", url).exit_code == 0
    result = run("indicators", "--db", url)
    assert result.exit_code == 1
    assert "Erreur inattendue" in result.stderr and "cqp.log" in result.stderr
    assert "/secret/path" not in result.stderr and "Traceback" not in result.stderr
    assert "RuntimeError: /secret/path" in (tmp_path / "cqp.log").read_text()


def test_the_data_cut_of_a_load_and_the_time_options(tmp_path):
    url = f"duckdb:///{tmp_path / 'cut.duckdb'}"
    refused = run("load", str(WORKED), "--db", url, "--data-until", "2023-12-31")
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "juries.csv" in refused.output and "jury_date" in refused.output
    assert run("load", str(WORKED), "--db", url, "--data-until", "31/12/2024").exit_code == 1
    loaded = run("load", str(WORKED), "--db", url, "--data-until", "2024-06-30")
    assert loaded.exit_code == 0, loaded.output
    assert "Données arrêtées au 30/06/2024" in loaded.output
    rows = list(csv.DictReader(io.StringIO(run("indicators", "--db", url, "--by", "year",
                                               "--no-secret").stdout)))
    assert [(r["year"], r["year_complete"]) for r in rows] == [
        ("2021", "true"), ("2022", "true"), ("2023", "true"), ("2024", "false")]
    same = list(csv.DictReader(io.StringIO(run(
        "indicators", "--db", url, "--by", "year", "--no-secret", "--until", "06-30",
        "--changes").stdout)))
    assert same[-1]["year_complete"] == "true"
    # juries dated 1 January to 30 June: 2023 K1 (10/03) and K6 (15/02); 2024 K2 (02/04)
    assert {r["year"]: r["juries"] for r in same}["2023"] == "2"
    assert "full_rate_change" in same[0] and same[0]["full_rate_change"] == ""
    for args, message in ((["--until", "13-01"], "--until attend MM-JJ"),
                          (["--until", "02-29"], "--until attend MM-JJ"),
                          (["--changes"], "ajoutez year à --by")):
        result = run("indicators", "--db", url, *args)
        assert result.exit_code == 1 and message in result.output, result.output
        assert "Traceback" not in result.output


def test_typer_speaks_french(demo_db):
    """Typer's own words: the help's headings and defaults, the usage line, a missing option,
    an unknown command, an extra argument; every usage error is exit status 1."""
    shown = run("registrations", "--help")
    assert shown.exit_code == 0
    for words in ("Utilisation : ", "registrations [OPTIONS]", "Afficher cette aide et quitter.",
                  "[défaut : 12]", "Options"):
        assert words in shown.stdout, words
    for english in ("Usage:", "Show this message", "[default"):
        assert english not in shown.stdout
    for args, said in ((["notify"], "option obligatoire manquante : --config"),
                       (["frobnicate"], "commande inconnue : frobnicate"),
                       (["registrations", "en-trop", "--db", demo_db],
                        "argument en trop : en-trop")):
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert said in " ".join(result.stderr.split()), result.stderr
        assert "Error" not in result.stderr and "Try" not in result.stderr


@pytest.mark.parametrize("value,said", [
    ("region_code=Île-de-France", "--where region_code : valeur inconnue « Île-de-France » ; "
                                  "vouliez-vous dire « 11 » ?"),
    ("cqp_code=CQP-tr-aq", "--where cqp_code : valeur inconnue « CQP-tr-aq » ; vouliez-vous "
                           "dire « CQP-TR-AQ » ?"),
    ("pathway=apprentissage", "--where pathway : valeur inconnue « apprentissage » (valeurs "
                              "connues : formation, vae)"),
])
def test_a_where_value_that_does_not_exist_is_one_message(demo_db, value, said):
    """Not an empty table with exit status 0: the known values are named."""
    result = run("indicators", "--db", demo_db, "--where", value)
    assert result.exit_code == 1 and result.stdout == ""
    assert said in " ".join(result.stderr.split()), result.stderr
    assert "CQP-TR-AQ" in result.stderr or "formation" in result.stderr or "11" in \
        result.stderr


def test_output_dash_is_standard_output_and_csv_fr_is_french_excel(demo_db, tmp_path,
                                                                   monkeypatch):
    """``--output -`` writes to standard output, not to a file named « - »; ``--format
    csv-fr`` is the dashboards' CSV: semicolons, decimal commas, a BOM, the notes."""
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    table = run("indicators", "--db", demo_db, "--by", "pathway", "--format", "table",
                "--output", "-")
    assert table.exit_code == 0 and "Taux de validation totale" in table.stdout
    plain = run("indicators", "--db", demo_db, "--by", "year", "--output", "-")
    assert plain.stdout.startswith("year,year_complete,enrolments")
    assert list(tmp_path.iterdir()) == []
    french = run("indicators", "--db", demo_db, "--by", "year", "--format", "csv-fr",
                 "--output", "-")
    assert french.exit_code == 0, french.output
    assert french.stdout.startswith("\ufeffAnnée;Année complète;Entrées en parcours")
    frame = pd.read_csv(io.StringIO(french.stdout.lstrip("\ufeff")), sep=";", decimal=",",
                        na_values="secret")
    assert frame["Taux de validation totale (%)"].between(0, 100).all()
    assert "Règle de secret" in frame.columns
    written = run("indicators", "--db", demo_db, "--by", "year", "--format", "csv-fr",
                  "--output", "t.csv")
    assert written.exit_code == 0
    assert (tmp_path / "t.csv").read_bytes().startswith("\ufeffAnnée;".encode())

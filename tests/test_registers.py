"""The official registers, read from the real files in ../shared/data/reference."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cqp_metrics import indicators, schema
from cqp_metrics.cli import app
from cqp_metrics.loading import LoadError, load
from cqp_metrics.registers import import_certifinfo, import_rncp

from conftest import REFERENCE, table_rows

EXPORT = REFERENCE / "export-fiches-csv-2024-02-22_sample.zip"
FILES = {
    "branches.csv": "branch_code,name\n3117,Boulangerie-pâtisserie\n",
    "certifications.csv": "cqp_code,title,branch_codes,level,rncp_code,rncp_from,rncp_until\n"
                          "CQP-TOURIER,CQP Tourier,3117,3,RNCP19468,2018-07-21,2023-07-21\n"
                          "CQP-VENDEUR,CQP Vendeur en boulangerie,3117,3,,,\n",
    "candidacies.csv": "candidacy_id,candidate_id,cqp_code,pathway,entered_on\n"
                       "T1,P1,CQP-TOURIER,formation,2022-01-10\n"
                       "T2,P2,CQP-TOURIER,formation,2020-01-10\n",
    "juries.csv": "candidacy_id,jury_date,decision\nT1,2022-12-15,full\nT2,2021-05-01,full\n",
}


@pytest.fixture
def tourier(engine, tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    load(folder, engine)
    return engine


def registrations(engine) -> dict:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(schema.registration)).mappings().all()
    return {(r["cqp_code"], r["rncp_code"]): r for r in rows}


def test_certifinfo_catalogue_has_873_cqps(engine):
    counts = import_certifinfo(engine, REFERENCE / "certifinfo_extract_2024-10.csv")
    assert (int(counts.sum()), counts["RNCP"], counts["RS"], counts["branche_seule"]) == (
        873, 271, 10, 592)
    with engine.connect() as connection:
        stored = connection.execute(sa.select(sa.func.count()).select_from(
            schema.catalogue_entry)).scalar_one()
    assert stored == 873
    from cqp_metrics.catalogue import certifinfo_catalogue

    with engine.connect() as connection:
        shown = certifinfo_catalogue(connection)
    assert len(shown) == 873 and (shown["recognition"] == "RNCP").sum() == 271
    # the subset file published beside it agrees, row for row
    import csv

    with open(REFERENCE / "certifinfo_cqp_subset.csv", encoding="utf-8-sig") as file:
        subset = list(csv.DictReader(file, delimiter=";"))
    assert len(subset) == 873
    assert sum(r["reconnaissance"] == "RS" for r in subset) == counts["RS"]


def test_rncp_export_updates_windows_and_proposes_without_linking(tourier):
    report = import_rncp(tourier, EXPORT)
    rows = registrations(tourier)
    tourier_rncp = rows[("CQP-TOURIER", "RNCP19468")]
    assert str(tourier_rncp["valid_until"])[:10] == "2021-07-21"  # "ended 21/07/2021"
    assert tourier_rncp["active"] is False or tourier_rncp["active"] == 0
    assert any("RS6117" in p and "CQP-TOURIER" in p for p in report.proposals)
    assert ("CQP-TOURIER", "RS6117") not in rows  # nothing linked without confirmation
    assert any("RNCP19468" in e for e in report.expired)
    with tourier.connect() as connection:
        history = connection.execute(sa.select(schema.registration_history)).all()
    assert len(history) == 1 and str(history[0].valid_until)[:10] == "2023-07-21"


def test_confirmed_match_feeds_the_recognition_indicators(tourier):
    before = indicators(tourier, by=["year"], secret=False).set_index("year")
    assert before.loc[2022, "certified_rncp"] == 1  # inside the file's (wrong) window
    report = import_rncp(tourier, EXPORT, confirm={"CQP-TOURIER": "RS6117"})
    assert report.new == ["CQP-TOURIER : RS6117 « CQP Tourier »"]
    rs = registrations(tourier)[("CQP-TOURIER", "RS6117")]
    assert (str(rs["valid_from"])[:10], str(rs["valid_until"])[:10]) == ("2022-09-29",
                                                                        "2025-09-29")
    after = indicators(tourier, by=["year"], secret=False).set_index("year")
    # T1 judged 15/12/2022: inside RS6117 (from 29/09/2022); T2 judged 01/05/2021: inside
    # RNCP19468 (21/07/2018 - 21/07/2021)
    assert after.loc[2022, "certified_rncp"] == 1 and after.loc[2021, "certified_rncp"] == 1
    again = import_rncp(tourier, EXPORT)
    assert again.new == [] and again.renewed == [] and again.blocks_changed == []
    with tourier.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(
            schema.registration_history)).scalar_one() == 1


def test_blocks_and_idcc_of_a_linked_fiche_are_recorded(tourier):
    import_rncp(tourier, EXPORT, confirm={"CQP-VENDEUR": "RNCP509", "CQP-TOURIER": "RS6117"})
    blocks = table_rows(tourier)["block"]
    assert sum(1 for b in blocks if b[0] == "CQP-VENDEUR" and b[3] == "RNCP509") == 6
    with tourier.connect() as connection:
        idcc = connection.execute(sa.select(schema.register_fiche.c.idcc).where(
            schema.register_fiche.c.rncp_code == "RS6117")).scalar_one()
    assert idcc == "3117"


def _rewrite(tmp_path: Path, change) -> Path:
    target = tmp_path / "export.zip"
    with zipfile.ZipFile(EXPORT) as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            name = info.filename
            if not info.flag_bits & 0x800:  # UTF-8 names written without the flag
                name = name.encode("cp437").decode("utf-8")
            data = change(name, source.read(info))
            if data is not None:
                out.writestr(name, data)
    return target


@pytest.mark.parametrize("kind,expected", [
    ("not a zip", "pas une archive zip"),
    ("missing table", "table Standard absente"),
    ("renamed column", "Date_Fin_Enregistrement"),
    ("bad date", "date illisible"),
])
def test_bad_exports_are_refused_and_change_nothing(tourier, tmp_path, kind, expected):
    if kind == "not a zip":
        path = tmp_path / "export.zip"
        path.write_text("Numero_Fiche;Intitule\n")
    elif kind == "missing table":
        path = _rewrite(tmp_path, lambda name, data: None if "Standard" in name else data)
    elif kind == "renamed column":
        path = _rewrite(tmp_path, lambda name, data: data.replace(
            b"Date_Fin_Enregistrement", b"Date_Fin") if "Standard" in name else data)
    else:
        path = _rewrite(tmp_path, lambda name, data: data.replace(
            b'"21/07/2021"', b'"31/02/2021"') if "Standard" in name else data)
    before = table_rows(tourier)
    with pytest.raises(LoadError) as caught:
        import_rncp(tourier, path)
    assert expected in caught.value.report()
    if kind in ("renamed column", "bad date"):
        assert "export_fiches_CSV_Standard_2024_02_22.csv" in caught.value.report()
    assert table_rows(tourier) == before


def test_registrations_command_lists_renewals_and_unregistered_cqps(tourier, backend):
    import_rncp(tourier, EXPORT, confirm={"CQP-TOURIER": "RS6117"})
    tourier.dispose()
    result = CliRunner().invoke(app, ["registrations", "--db", backend, "--ending-within",
                                      "12", "--today", "2025-01-01"])
    assert result.exit_code == 0, result.output
    assert "RS6117" in result.stdout and "29/09/2025" in result.stdout
    assert "CQP jamais enregistrés : CQP-VENDEUR" in result.stdout


def test_a_registration_past_its_end_without_successor_has_lapsed():
    """Each window's state on a day: in force, renewed (a later window of the same CQP
    follows), lapsed (ended, none after), not yet begun; and the windows that ended in a
    period with none in force the next day."""
    import datetime as dt

    import pandas as pd

    from cqp_metrics.catalogue import ended_between, registration_status

    windows = pd.DataFrame([
        ("CQP-A", "RNCP", "RNCP1", dt.date(2016, 1, 1), dt.date(2021, 7, 21)),
        ("CQP-A", "RS", "RS2", dt.date(2022, 9, 29), dt.date(2025, 9, 29)),
        ("CQP-B", "RNCP", "RNCP3", dt.date(2020, 1, 1), dt.date(2024, 12, 31)),
        ("CQP-B", "RNCP", "RNCP4", dt.date(2025, 1, 1), None),
        ("CQP-C", "RS", "RS5", dt.date(2027, 1, 1), dt.date(2031, 12, 31)),
    ], columns=["cqp_code", "register", "rncp_code", "valid_from", "valid_until"])
    on = registration_status(windows, dt.date(2026, 1, 1)).set_index("rncp_code")
    assert on["status"].to_dict() == {"RNCP1": "renewed", "RS2": "lapsed",
                                      "RNCP3": "renewed", "RNCP4": "current",
                                      "RS5": "future"}
    assert on.at["RNCP1", "successor"] == "RS2" and on.at["RNCP3", "successor"] == "RNCP4"
    earlier = registration_status(windows, dt.date(2025, 1, 1)).set_index("rncp_code")
    assert earlier.at["RS2", "status"] == "current"
    ended = ended_between(windows, dt.date(2021, 1, 1), dt.date(2025, 12, 31))
    # RNCP1 left a gap (21/07/2021 to 29/09/2022); RNCP3 was taken over the next day
    assert list(ended["rncp_code"]) == ["RNCP1", "RS2"]
    # CQPs never registered (a filter on them): nothing ended, and the columns are there
    none = ended_between(windows.iloc[0:0], dt.date(2021, 1, 1), dt.date(2025, 12, 31))
    assert none.empty and list(none.columns) == list(windows.columns)
    before = ended_between(windows, dt.date(2010, 1, 1), dt.date(2011, 1, 1))
    assert before.empty and list(before.columns) == list(windows.columns)


def test_registrations_lists_the_ending_and_with_lapsed_the_lapsed(tourier, backend):
    """``--ending-within N`` lists the registrations in force that end within N months and
    says how many have lapsed; ``--lapsed`` lists those, « expirée le …, non renouvelée »."""
    import_rncp(tourier, EXPORT, confirm={"CQP-TOURIER": "RS6117"})
    tourier.dispose()
    ending = CliRunner().invoke(app, ["registrations", "--db", backend, "--ending-within",
                                      "36", "--today", "2026-01-01"])
    assert ending.exit_code == 0, ending.output
    text = " ".join(ending.stdout.split())
    assert "fin d'enregistrement d'ici 36 mois (au 01/01/2026) : aucun" in text
    assert "Expirés, non renouvelés : 1 (CQP-TOURIER RS6117 le 29/09/2025)" in text
    lapsed = CliRunner().invoke(app, ["registrations", "--db", backend, "--lapsed",
                                      "--today", "2026-01-01"])
    assert lapsed.exit_code == 0, lapsed.output
    text = " ".join(lapsed.stdout.replace("│", " ").split())
    assert "RS6117" in text and "expirée le 29/09/2025, non renouvelée" in text
    assert "RNCP19468" not in text  # renewed by RS6117, not lapsed
    before = CliRunner().invoke(app, ["registrations", "--db", backend, "--lapsed",
                                      "--today", "2025-01-01"])
    assert "RS6117" not in before.stdout and ": aucun." in before.stdout

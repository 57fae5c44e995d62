"""The loader: every kind of bad input is reported with file, line, column and value, and
changes nothing; valid input in any accepted spelling loads; reloading is idempotent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from cqp_metrics import indicators
from cqp_metrics.loading import LoadError, load

from conftest import WORKED, table_rows


@pytest.fixture
def folder(tmp_path) -> Path:
    """A copy of the worked example to spoil."""
    target = tmp_path / "input"
    shutil.copytree(WORKED, target)
    return target


def edit(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / f"{name}.csv"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def refused(engine, folder) -> list[str]:
    """Load ``folder`` over the worked example (``engine`` holds it: the ``worked``
    fixture); assert it fails and changes nothing; its messages."""
    before = table_rows(engine)
    assert before["candidacy"], "refused() loads over the worked example: use `worked`"
    with pytest.raises(LoadError) as caught:
        load(folder, engine)
    assert table_rows(engine) == before
    return [str(problem) for problem in caught.value.problems]


BAD_INPUTS = [
    # (file, old text, new text, expected pieces of the message)
    ("candidacies", "entered_on,", "entree,", ["candidacies.csv", "ligne 1", "entered_on",
                                              "colonne obligatoire absente"]),
    ("candidacies", "K2,P2,CQP-A", "K2,P2,CQP-Z", ["candidacies.csv", "ligne 3", "cqp_code",
                                                  "« CQP-Z »", "CQP inconnu"]),
    ("juries", "K5,2023-12-01", "K9,2023-12-01", ["juries.csv", "ligne 7", "candidacy_id",
                                                  "« K9 »", "candidature inconnue"]),
    ("candidacies", "2023-01-15", "2023-02-30", ["candidacies.csv", "ligne 3", "entered_on",
                                                 "« 2023-02-30 »", "date invalide"]),
    ("candidacies", "K3,P3,CQP-B,vae", "K3,P3,CQP-B,distance", [
        "candidacies.csv", "ligne 4", "pathway", "« distance »", "hors des codes"]),
    ("juries", "K1,2023-03-10,full", "K1,2023-03-10,félicitations", [
        "juries.csv", "ligne 2", "decision", "« félicitations »"]),
    ("candidacies", "K2,P2,", "K1,P2,", ["candidacies.csv", "ligne 3", "candidacy_id",
                                         "« K1 »", "doublon"]),
    ("juries", "K1,2023-03-10,full", "K1,2022-08-01,full", [
        "juries.csv", "ligne 2", "jury_date", "« 2022-08-01 »", "avant l'entrée"]),
    ("candidacies", ",F,1985,84,", ",F,85,84,", ["candidacies.csv", "ligne 3", "birth_year",
                                                 "« 85 »"]),
    ("candidacies", ",F,1985,84,", ",F,1985,99,", ["candidacies.csv", "ligne 3", "region_code",
                                                   "« 99 »", "région"]),
    ("certifications", "0016|3248", "0016|9999", ["certifications.csv", "ligne 3",
                                                  "branch_codes", "branche inconnue"]),
    ("certifications", "RNCP11111", "RNCPxyz", ["certifications.csv", "ligne 2", "rncp_code",
                                                "« RNCPxyz »"]),
    ("block_results", "K4,2023-11-20,B1,0", "K4,2023-06-15,B1,0", [
        "block_results.csv", "ligne 7", "jury_date", "absente"]),
    ("block_results", "K5,2023-12-01,C1,1", "K5,2023-12-01,A1,1", [
        "block_results.csv", "ligne 9", "block_code", "« A1 »", "bloc inconnu"]),
    ("candidacies", "provider_id", "provider", ["candidacies.csv", "ligne 1", "provider",
                                                "colonne inconnue"]),
    ("candidacies", ",2023-05-05,,2023-08-01", ",2023-05-05,,2023-04-01", [
        "candidacies.csv", "ligne 6", "withdrawn_on", "abandon daté avant"]),
    ("branches", "0016,Transports", ",Transports", ["branches.csv", "ligne 2", "branch_code",
                                                    "obligatoire manquante"]),
]


@pytest.mark.parametrize("name,old,new,pieces", BAD_INPUTS,
                         ids=[f"{b[0]}-{b[3][-1]}" for b in BAD_INPUTS])
def test_bad_input_is_reported_and_changes_nothing(worked, folder, name, old, new, pieces):
    edit(folder, name, old, new)
    messages = refused(worked, folder)
    assert any(all(piece in message for piece in pieces) for message in messages), messages


def test_every_problem_is_reported_at_once(worked, folder):
    edit(folder, "candidacies", "2023-01-15", "15 janvier")
    edit(folder, "juries", "K5,2023-12-01", "K9,2023-12-01")
    edit(folder, "blocks", "CQP-C,C1", "CQP-X,C1")
    messages = refused(worked, folder)
    assert any("candidacies.csv" in m and "« 15 janvier »" in m for m in messages)
    assert any("juries.csv" in m and "« K9 »" in m for m in messages)
    assert any("blocks.csv" in m and "« CQP-X »" in m for m in messages)


def test_a_candidacy_does_not_change_cqp(worked, folder):
    edit(folder, "candidacies", "K2,P2,CQP-A", "K2,P2,CQP-C")
    messages = refused(worked, folder)
    assert any("ligne 3" in m and "ne change pas de CQP" in m for m in messages), messages


def test_unreadable_and_empty_files(worked, folder):
    # 0x81 is neither UTF-8 (a lone continuation byte) nor Windows-1252 (undefined there).
    (folder / "juries.csv").write_bytes(b"candidacy_id,jury_date,decision\nK1,2023-03-10,"
                                        b"full\nK2,2023-03-\x81,full\n")
    (folder / "blocks.csv").write_text("")
    messages = refused(worked, folder)
    assert any("juries.csv" in m and "ligne 3" in m and "UTF-8" in m and "0x81" in m
               for m in messages), messages
    assert any("blocks.csv" in m and "vide" in m for m in messages), messages


def test_a_folder_without_interchange_files(engine, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LoadError) as caught:
        load(tmp_path / "empty", engine)
    assert "aucune table reconnue" in caught.value.report()
    (tmp_path / "empty" / "notes.txt").write_text("rien")
    with pytest.raises(LoadError) as caught:
        load(tmp_path / "empty", engine)
    assert "notes.txt : nom non reconnu (attendu : branches.csv" in caught.value.report()


def test_french_excel_spelling_loads_the_same(engine, folder, tmp_path):
    """Semicolons, BOM, French dates, French synonyms, unpadded codes."""
    for file in folder.glob("*.csv"):
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
        for column in frame.columns:
            if column.endswith(("_on", "_date", "_from", "_until")):
                frame[column] = frame[column].map(
                    lambda v: "/".join(reversed(v.split("-"))) if v else v)
        if "decision" in frame:
            frame["decision"] = frame["decision"].replace(
                {"full": "Totale", "partial": "partielle", "refused": "refus"})
        if "sex" in frame:
            frame["sex"] = frame["sex"].replace({"M": "H"})
            frame["status"] = frame["status"].replace({"salarie": "salarié",
                                                       "demandeur_emploi": "demandeur d'emploi"})
            frame["region_code"] = frame["region_code"].str.lstrip("0")
        if "acquired" in frame:
            frame["acquired"] = frame["acquired"].replace({"1": "oui", "0": "non"})
        for column in ("branch_code", "branch_codes"):
            if column in frame:
                frame[column] = frame[column].str.replace("0016", "16")
        file.write_bytes(b"\xef\xbb\xbf" + frame.to_csv(index=False, sep=";").encode())
    load(folder, engine)
    french = indicators(engine, by=["year", "branch_code", "sex"], secret=False)
    assert french["enrolments"].sum() > 0
    assert sorted(french["sex"].dropna().unique()) == ["F", "M"]
    reference = tmp_path / "reference.duckdb"
    from cqp_metrics.db import make_engine

    other = make_engine(f"duckdb:///{reference}")
    load(WORKED, other)
    expected = indicators(other, by=["year", "branch_code", "sex"], secret=False)
    pd.testing.assert_frame_equal(french, expected, check_dtype=False)


def test_windows_1252_csv_loads_like_its_utf8_twin(engine, tmp_path):
    """French Excel's "CSV (séparateur : point-virgule)": Windows-1252, semicolons, CRLF. The
    accented titles and names read the same, and the report says which encoding was read."""
    from cqp_metrics import demo
    from cqp_metrics.db import make_engine

    utf8, ansi = tmp_path / "utf8", tmp_path / "ansi"
    demo.write_files(demo.generate(400, seed=7), utf8)
    ansi.mkdir()
    accented = 0
    for file in utf8.glob("*.csv"):
        frame = pd.read_csv(file, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        text = frame.to_csv(index=False, sep=";", lineterminator="\r\n")
        accented += sum(ord(c) > 127 for c in text)
        (ansi / file.name).write_bytes(text.encode("cp1252"))
    assert accented > 0, "the twin must hold accented text to test anything"
    report = load(ansi, engine)
    assert any("certifications.csv" in line and "Windows-1252" in line
               for line in report.lines()), report.lines()
    other = make_engine(f"duckdb:///{tmp_path / 'utf8.duckdb'}")
    twin = load(utf8, other)
    assert all("Windows-1252" not in line for line in twin.lines())
    by = ["year", "branch_code", "cqp_code", "sex"]
    pd.testing.assert_frame_equal(indicators(engine, by=by, secret=False),
                                  indicators(other, by=by, secret=False))
    titles = "SELECT cqp_code, title FROM certification ORDER BY cqp_code"
    with engine.connect() as a, other.connect() as b:
        assert a.exec_driver_sql(titles).all() == b.exec_driver_sql(titles).all()
    other.dispose()


def test_an_excel_workbook_loads_like_the_csv_files(engine, tmp_path):
    """Dates as date cells, codes turned into numbers by Excel (16 for 0016)."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for file in sorted(WORKED.glob("*.csv")):
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
        sheet = workbook.create_sheet(file.stem)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            cells = []
            for column, value in zip(frame.columns, row, strict=True):
                if value and column.endswith(("_on", "_date", "_from", "_until")):
                    value = pd.Timestamp(value).to_pydatetime()
                elif value.isdigit() and column in ("branch_code", "region_code", "birth_year",
                                                    "acquired"):
                    value = int(value)
                cells.append(value if value != "" else None)
            sheet.append(cells)
    path = tmp_path / "cqp.xlsx"
    workbook.save(path)
    load(path, engine)
    rows = table_rows(engine)
    assert ("0016", "Transports routiers et activités auxiliaires") in rows["branch"]
    frame = indicators(engine, by=["year"], where={"year": 2023}, secret=False)
    assert frame.loc[0, ["enrolments", "juries", "full"]].tolist() == [4, 5, 3]


def test_reloading_is_idempotent_and_a_corrected_row_replaces_the_old(engine, folder):
    load(folder, engine)
    first = table_rows(engine)
    load(folder, engine)
    assert table_rows(engine) == first
    edit(folder, "juries", "K4,2023-11-20,refused", "K4,2023-11-20,partial")
    edit(folder, "branches", "Métallurgie", "Métallurgie (UIMM)")
    load(folder, engine)
    rows = table_rows(engine)
    juries = {row[:3] for row in rows["jury"]}  # then its record key
    assert ("K4", "2023-11-20", "partial") in juries
    assert ("K4", "2023-11-20", "refused") not in juries
    assert ("3248", "Métallurgie (UIMM)") in rows["branch"]
    assert len(rows["jury"]) == len(first["jury"])


def test_juries_can_be_loaded_alone_against_the_database(worked, folder):
    for name in ("branches", "certifications", "blocks", "candidacies", "block_results"):
        (folder / f"{name}.csv").unlink()
    edit(folder, "juries", "K5,2023-12-01,full", "K5,2023-12-01,partial")
    load(folder, worked)
    assert ("K5", "2023-12-01", "partial") in {row[:3] for row in table_rows(worked)["jury"]}


def test_awkward_text_and_blanks_are_stored_as_read(engine, folder):
    """Commas, quotes, a backslash, markup: stored as read on every backend (PostgreSQL
    copies the rows as CSV); a blank cell is stored as NULL, not as empty text."""
    name = 'Métallurgie, "UIMM" \\N; <b>&amp;</b>'
    edit(folder, "branches", "3248,Métallurgie", '3248,"' + name.replace('"', '""') + '"')
    load(folder, engine)
    with engine.connect() as connection:
        stored = connection.exec_driver_sql(
            "SELECT name FROM branch WHERE branch_code = '3248'").scalar_one()
        providers = dict(connection.exec_driver_sql(
            "SELECT candidacy_id, provider_id FROM candidacy").all())
    assert stored == name
    expected = pd.read_csv(folder / "candidacies.csv", dtype=str, keep_default_na=False)
    assert providers == {row.candidacy_id: row.provider_id or None
                         for row in expected.itertuples()}

"""Loads that lose nothing: a partial file changes only what it carries, every file and sheet
is accounted for, implausible facts are refused, and every engine refuses the same files."""

from __future__ import annotations

import re
import shutil
import sys
import unicodedata
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from cqp_metrics import schema
from cqp_metrics.loading import LoadError, load
from cqp_metrics.loading.reader import FORMAT

from conftest import WORKED, table_rows
from test_loading import refused


@pytest.fixture
def folder(tmp_path) -> Path:
    target = tmp_path / "input"
    shutil.copytree(WORKED, target)
    return target


def spoil(engine, folder: Path, name: str, old: str, new: str) -> list[str]:
    """Replace ``old`` by ``new`` in ``name``.csv; the messages of its refused load."""
    path = folder / f"{name}.csv"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return refused(engine, folder)


def only(folder: Path, name: str, columns: list[str]) -> None:
    """Keep only ``name``.csv in the folder, with only ``columns``."""
    frame = pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
    for file in folder.glob("*.csv"):
        file.unlink()
    frame[columns].to_csv(folder / f"{name}.csv", index=False)


def test_a_table_without_its_optional_columns_changes_nothing_else(worked, folder):
    before = table_rows(worked)
    only(folder, "candidacies", ["candidacy_id", "candidate_id", "cqp_code", "pathway",
                                 "entered_on"])
    report = load(folder, worked)
    assert table_rows(worked) == before
    assert report.read == {"candidacies.csv": 6}
    assert "sex" in report.kept["candidacies.csv"]
    assert any("valeurs de la base conservées" in line and "region_code" in line
               for line in report.lines())


def test_certifications_without_rncp_columns_keep_registrations_and_levels(worked, folder):
    before = table_rows(worked)
    assert before["registration"]
    only(folder, "certifications", ["cqp_code", "title", "branch_codes"])
    load(folder, worked)
    assert table_rows(worked) == before


def test_an_empty_cell_in_a_present_column_clears_the_value(worked, folder):
    only(folder, "candidacies", ["candidacy_id", "candidate_id", "cqp_code", "pathway",
                                 "entered_on", "sex"])
    frame = pd.read_csv(folder / "candidacies.csv", dtype=str, keep_default_na=False)
    frame.loc[frame["candidacy_id"] == "K1", "sex"] = ""
    frame.to_csv(folder / "candidacies.csv", index=False)
    before = {row[0]: row for row in table_rows(worked)["candidacy"]}
    load(folder, worked)
    after = {row[0]: row for row in table_rows(worked)["candidacy"]}
    assert after["K1"][7] == "None" and before["K1"][7] != "None"
    assert after["K2"] == before["K2"]


@pytest.mark.parametrize("name, hint", [("Juries.csv", "juries.csv"),
                                        ("jurys.csv", "juries.csv"), ("notes.txt", None)])
def test_unknown_files_are_refused_with_the_expected_names(worked, folder, name, hint):
    (folder / "juries.csv").rename(folder / name)
    messages = refused(worked, folder)
    message = next(m for m in messages if m.startswith(name))
    assert "attendu : branches.csv" in message
    if hint:
        assert f"voulez-vous dire « {hint} »" in message


def workbook(tmp_path: Path, edit=None) -> Path:
    book = Workbook()
    book.remove(book.active)
    for file in sorted(WORKED.glob("*.csv")):
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
        sheet = book.create_sheet(file.stem)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            sheet.append([v or None for v in row])
    if edit:
        edit(book)
    path = tmp_path / "cqp.xlsx"
    book.save(path)
    return path


def test_workbook_sheets_merged_cells_and_headers_are_checked(worked, tmp_path):
    def spoil(book):
        book["candidacies"].merge_cells("J2:J3")
        book["juries"].title = "jurys"
        book["blocks"]["B1"] = "cqp_code"
    messages = refused(worked, workbook(tmp_path, spoil))
    assert any("cqp.xlsx[jurys]" in m and "« juries »" in m for m in messages), messages
    assert any("cqp.xlsx[candidacies]" in m and "« J2:J3 »" in m and "fusionnées" in m
               for m in messages), messages
    assert any("cqp.xlsx[blocks]" in m and "cqp_code" in m and "double" in m
               for m in messages), messages


PLAUSIBILITY = [
    # (file, old, new, pieces of the message)
    ("candidacies", "2020,2023-01-15,2023-02-20", "2020,2035-01-15,2035-02-20",
     ["candidacies.csv, ligne 3, colonne entered_on", "« 2035-01-15 »", "postérieure"]),
    ("juries", "K5,2023-12-01", "K5,2036-12-01",
     ["juries.csv, ligne 7, colonne jury_date", "« 2036-12-01 »", "postérieure"]),
    ("candidacies", ",1985,", ",2026,",
     ["candidacies.csv", "colonne birth_year", "« 2026 »", "âge à l'entrée"]),
    ("candidacies", ",1985,", ",1900,",
     ["candidacies.csv", "colonne birth_year", "« 1900 »", "âge à l'entrée"]),
    ("juries", "K1,2023-03-10,full", "K1,2023-03-10,full\nK1,2023-05-10,full",
     ["juries.csv", "colonne decision", "« full »", "deuxième validation totale"]),
    ("juries", "K1,2023-03-10,full", "K1,2023-03-10,full\nK1,2023-05-10,partial",
     ["juries.csv", "colonne jury_date", "« 2023-05-10 »", "postérieure à la validation"]),
]


@pytest.mark.parametrize("name, old, new, pieces", PLAUSIBILITY,
                         ids=[p[3][-1] + p[2][-6:] for p in PLAUSIBILITY])
def test_implausible_facts_are_refused(worked, folder, name, old, new, pieces):
    messages = spoil(worked, folder, name, old, new)
    assert any(all(p in m for p in pieces) for m in messages), messages


LENGTHS = [
    ("candidacies", "K2,P2,CQP-A", "K2,P2," + "C" * 65,
     ["colonne cqp_code", "trop longue (au plus 64"]),
    ("candidacies", ",2019,", "," + "v" * 33 + ",",
     ["colonne referential_version", "trop longue (au plus 32"]),
    ("branches", "Métallurgie", "Métal\x00lurgie", ["colonne name", "caractère de contrôle"]),
    # invisible characters (#31): a candidacy id followed by a zero-width space was a second
    # candidacy; format characters in any code, direction overrides in titles
    ("candidacies", "K2,P2,CQP-A", "K2\u200b,P2,CQP-A",
     ["colonne candidacy_id", "« K2<U+200B> »", "caractère invisible"]),
    ("candidacies", "K3,P3,CQP-B", "K3,P3\ufeff,CQP-B",
     ["colonne candidate_id", "<U+FEFF>", "caractère invisible"]),
    ("certifications", "CQP-C,Opérateur", "CQP-\u00adC,Opérateur",
     ["colonne cqp_code", "<U+00AD>", "caractère invisible"]),
    ("certifications", "Conducteur routier", "Conducteur \u202eroutier",
     ["colonne title", "<U+202E>", "direction"]),
    ("branches", "Métallurgie", "Métal\u2066lurgie", ["colonne name", "direction"]),
]


@pytest.mark.parametrize("name, old, new, pieces", LENGTHS,
                         ids=["cqp", "version", "nul", "zero-width", "bom", "soft-hyphen",
                              "override", "isolate"])
def test_lengths_and_characters_are_refused_alike_on_every_engine(worked, folder, name, old,
                                                                   new, pieces):
    messages = spoil(worked, folder, name, old, new)
    assert any(all(p in m for p in pieces) and f"{name}.csv, ligne" in m
               for m in messages), messages


def bomb(path: Path, size: int) -> Path:
    """A valid-looking register export whose Standard member inflates to ``size`` bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("export_fiches_CSV_Standard_2024_02_22.csv", "w",
                          force_zip64=True) as member:
            member.write(b"Numero_Fiche;Intitule\n")
            chunk = b" " * (1 << 20)
            for _ in range(size >> 20):
                member.write(chunk)
    return path


def test_a_register_zip_bomb_is_refused_without_reading_it_whole(engine, tmp_path,
                                                                  monkeypatch):
    from cqp_metrics import registers

    monkeypatch.setattr(registers, "MAX_MEMBER_BYTES", 8 << 20)
    path = bomb(tmp_path / "bomb.zip", 16 << 20)
    with pytest.raises(LoadError) as caught:
        registers.read_rncp_export(path)
    assert "trop volumineux" in caught.value.report()


def test_a_catalogue_without_cqp_is_refused_and_keeps_the_catalogue(engine, tmp_path):
    from cqp_metrics.registers import import_certifinfo

    from conftest import REFERENCE

    counts = import_certifinfo(engine, REFERENCE / "certifinfo_cqp_subset.csv")
    assert counts.sum() == 873
    header = (REFERENCE / "certifinfo_cqp_subset.csv").read_text(encoding="utf-8").split(
        "\n", 1)[0]
    empty = tmp_path / "vide.csv"
    empty.write_text(header + "\n", encoding="utf-8")
    with pytest.raises(LoadError) as caught:
        import_certifinfo(engine, empty)
    assert "aucun CQP" in caught.value.report()
    with engine.connect() as connection:
        kept = connection.execute(sa.select(sa.func.count()).select_from(
            schema.catalogue_entry)).scalar_one()
    assert kept == 873


def rewritten_export(tmp_path: Path, change) -> Path:
    """The real RNCP sample export with its Standard table changed by ``change``."""
    from conftest import REFERENCE

    source = REFERENCE / "export-fiches-csv-2024-02-22_sample.zip"
    target = tmp_path / "export.zip"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            data = original.read(info)
            if "Standard" in info.filename:
                data = change(data)
            name = info.filename
            if not info.flag_bits & 0x800:  # the export's UTF-8 names, flag unset
                name = name.encode("cp437").decode("utf-8")
            copy.writestr(name, data)
    return target


@pytest.mark.parametrize("character, expected", [("\x00", "caractère de contrôle"),
                                                 ("\u202e", "direction")])
def test_register_titles_refuse_nul_and_direction_overrides(engine, tmp_path, character,
                                                            expected):
    """A title of the RNCP export or of Certif Info holding a NUL byte or a direction
    override is refused with its file, line and column, and changes nothing (#31)."""
    from cqp_metrics.registers import import_certifinfo, read_rncp_export

    from conftest import REFERENCE

    def spoiled(data: bytes) -> bytes:
        head, first, *rest = data.split(b"\n")
        cells = first.split(b";")
        title = head.split(b";").index(b'"Intitule"')
        cells[title] = cells[title][:3] + character.encode() + cells[title][3:]
        return b"\n".join([head, b";".join(cells), *rest])

    with pytest.raises(LoadError) as caught:
        read_rncp_export(rewritten_export(tmp_path, spoiled))
    report = caught.value.report()
    assert "ligne 2, colonne Intitule" in report and expected in report, report
    catalogue = (REFERENCE / "certifinfo_cqp_subset.csv").read_text(encoding="utf-8-sig")
    head, *rows = catalogue.split("\n")
    columns = head.split(";")
    cells = rows[0].split(";")
    title = columns.index("Libelle_Diplome")
    cells[title] = cells[title][:4] + character + cells[title][4:]
    spoilt = tmp_path / "certifinfo.csv"
    spoilt.write_text("\n".join([head, ";".join(cells), *rows[1:]]), encoding="utf-8")
    with pytest.raises(LoadError) as caught:
        import_certifinfo(engine, spoilt)
    report = caught.value.report()
    assert "ligne 2, colonne Libelle_Diplome" in report and expected in report, report
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(
            schema.catalogue_entry)).scalar_one() == 0


def test_a_register_export_with_a_duplicate_fiche_is_one_message(engine, tmp_path):
    from cqp_metrics.registers import read_rncp_export

    def duplicate(data: bytes) -> bytes:
        lines = data.split(b"\n")
        return b"\n".join([*lines[:2], lines[1], *lines[2:]])

    with pytest.raises(LoadError) as caught:
        read_rncp_export(rewritten_export(tmp_path, duplicate))
    assert "fiche en double dans l'export" in caught.value.report()
    assert "ligne 3, colonne Numero_Fiche" in caught.value.report()


def test_a_corrupt_register_member_is_one_message(engine, tmp_path):
    from cqp_metrics.registers import read_rncp_export

    from conftest import REFERENCE

    source = REFERENCE / "export-fiches-csv-2024-02-22_sample.zip"
    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        info = next(i for i in archive.infolist() if "Standard" in i.filename)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 10
    data[start:start + 40] = bytes(40)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(bytes(data))
    with pytest.raises(LoadError) as caught:
        read_rncp_export(broken)
    assert "corrompu" in caught.value.report() or "illisible" in caught.value.report()


ALONE = [
    # (file loaded alone over the worked example, old, new, pieces of the message)
    ("juries", "K1,2023-03-10,full", "K1,2023-03-10,full\nK1,2023-05-10,full",
     ["juries.csv, ligne 3, colonne decision", "deuxième validation totale"]),
    ("juries", "K2,2024-04-02,full", "K2,2024-04-02,full\nK2,2024-06-01,refused",
     ["juries.csv, ligne 5, colonne jury_date", "« 2024-06-01 »", "postérieure"]),
    ("block_results", "K4,2023-11-20,B1,0", "K4,2023-06-15,B1,0",
     ["block_results.csv, ligne 7, colonne jury_date", "absente"]),
    ("block_results", "K4,2023-11-20,B1,0", "K4,2023-11-21,B1,0",
     ["block_results.csv, ligne 7, colonne jury_date", "aucun jury"]),
    ("block_results", "K5,2023-12-01,C1,1", "K5,2023-12-01,A1,1",
     ["block_results.csv, ligne 9, colonne block_code", "« A1 »", "bloc inconnu"]),
]


@pytest.mark.parametrize("name, old, new, pieces", ALONE,
                         ids=[f"{a[0]}-{a[3][-1]}" for a in ALONE])
def test_a_file_loaded_alone_is_checked_against_the_database(worked, folder, name, old, new,
                                                              pieces):
    for file in folder.glob("*.csv"):
        if file.stem != name:
            file.unlink()
    path = folder / f"{name}.csv"
    text = path.read_text(encoding="utf-8")
    messages = spoil(worked, folder, name, old, new)
    assert any(all(p in m for p in pieces) for m in messages), messages
    path.write_text(text, encoding="utf-8")
    before = table_rows(worked)
    load(folder, worked)  # the same file unspoilt is accepted and changes nothing
    assert table_rows(worked) == before


def test_the_invisible_characters_refused_are_unicode_s_format_characters():
    """``FORMAT`` holds every character of category Cf this Python knows (and nothing
    visible): a new Unicode version is seen here first."""
    pattern = re.compile(FORMAT)
    every = (chr(code) for code in range(sys.maxunicode + 1))
    matched = {char for char in every if pattern.fullmatch(char)}
    known = {c for c in map(chr, range(sys.maxunicode + 1)) if unicodedata.category(c) == "Cf"}
    assert known <= matched
    assert {unicodedata.category(c) for c in matched - known} <= {"Cn"}  # unassigned yet

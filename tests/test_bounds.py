"""Bounded imports and one clear message for each malformed file (#31): sizes, rows and
columns are capped before a file is parsed; UTF-16, mixed separators and formulas without a
value are named; nothing is written."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from cqp_metrics import demo, schema
from cqp_metrics.db import ensure_schema, remove_stale_copies, writing
from cqp_metrics.formatting import source_note
from cqp_metrics.loading import LoadError, load, reader
from cqp_metrics.registers import import_certifinfo

from conftest import REFERENCE, ROOT, WORKED
from test_loading import refused
from test_serve import PASSWORD, Client, Serve, fetch

CATALOGUE = REFERENCE / "certifinfo_cqp_subset.csv"


@pytest.fixture
def folder(tmp_path) -> Path:
    target = tmp_path / "input"
    shutil.copytree(WORKED, target)
    return target


def test_a_csv_of_a_million_columns_is_refused_before_it_is_parsed(worked, folder):
    (folder / "juries.csv").write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n1\n")
    started = time.monotonic()
    messages = refused(worked, folder)
    assert time.monotonic() - started < 20
    assert messages == ["juries.csv, ligne 1 : 1000000 colonnes dans l'en-tête (au plus 100) : "
                        "ce n'est pas un fichier d'échange"]


def test_a_csv_too_large_or_too_long_is_refused(worked, folder, monkeypatch):
    monkeypatch.setattr(reader, "MAX_ROWS", 3)
    messages = refused(worked, folder)  # juries.csv: 7 lines
    assert any(m.startswith("juries.csv : ") and "(au plus 3)" in m for m in messages), messages
    monkeypatch.setattr(reader, "MAX_ROWS", 20_000_000)
    monkeypatch.setattr(reader, "MAX_FILE_BYTES", 100)
    messages = refused(worked, folder)
    assert any("candidacies.csv : fichier trop volumineux" in m for m in messages), messages


def test_a_utf16_file_is_one_message_naming_utf16(worked, folder):
    text = (folder / "juries.csv").read_text(encoding="utf-8")
    (folder / "juries.csv").write_bytes(text.encode("utf-16"))
    assert refused(worked, folder) == [
        "juries.csv : fichier en UTF-16 (« Texte Unicode » d'Excel) : enregistrez-le en « CSV "
        "UTF-8 (délimité par des virgules) » ou « CSV (séparateur : point-virgule) »"]


def test_a_header_by_semicolons_and_rows_by_commas_is_one_message(worked, folder):
    lines = (folder / "juries.csv").read_text(encoding="utf-8").splitlines()
    (folder / "juries.csv").write_text("\n".join([lines[0].replace(",", ";"), *lines[1:]]),
                                       encoding="utf-8")
    assert refused(worked, folder) == [
        "juries.csv, ligne 2 : l'en-tête est séparé par « ; » et les lignes par « , » : "
        "enregistrez le fichier avec un seul séparateur"]


def _workbook(folder: Path, target: Path, formula: bool = False, wide: bool = False) -> Path:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name in ("branches", "certifications", "candidacies", "juries"):
        sheet = workbook.create_sheet(name)
        for line in (folder / f"{name}.csv").read_text(encoding="utf-8").splitlines():
            sheet.append(line.split(","))
    if formula:  # written by a program: the formula has no cached value
        workbook["juries"]["B3"] = "=DATE(2023,3,10)"
    if wide:
        workbook["juries"].cell(row=1, column=150, value="extra")
    workbook.save(target)
    return target


def test_an_xlsx_formula_without_a_cached_value_is_named(worked, folder, tmp_path):
    path = _workbook(folder, tmp_path / "données.xlsx", formula=True)
    assert refused(worked, path) == [
        "données.xlsx[juries], ligne 3, colonne jury_date : formule sans valeur calculée "
        "(classeur écrit par un programme, jamais ouvert dans Excel) : ouvrez-le et "
        "enregistrez-le dans Excel, ou collez les valeurs"]


def test_a_workbook_too_wide_too_large_or_not_a_zip_is_refused(worked, folder, tmp_path,
                                                               monkeypatch):
    wide = _workbook(folder, tmp_path / "large.xlsx", wide=True)
    assert refused(worked, wide) == [
        "large.xlsx[juries], ligne 1 : plus de 100 colonnes dans l'en-tête : ce n'est pas un "
        "fichier d'échange"]
    renamed = tmp_path / "renommé.xlsx"
    renamed.write_text((folder / "juries.csv").read_text(encoding="utf-8"), encoding="utf-8")
    assert refused(worked, renamed) == [
        "renommé.xlsx : ce n'est pas un classeur Excel .xlsx (un ancien .xls, un CSV renommé ?) "
        ": enregistrez-le au format « Classeur Excel (.xlsx) »"]
    monkeypatch.setattr(reader, "MAX_WORKBOOK_BYTES", 1000)
    messages = refused(worked, _workbook(folder, tmp_path / "ok.xlsx"))
    assert len(messages) == 1 and "trop volumineux une fois décompressé" in messages[0]


def test_certifinfo_is_bounded_and_a_compressed_file_is_one_message(engine, tmp_path,
                                                                    monkeypatch):
    from cqp_metrics import registers

    import_certifinfo(engine, CATALOGUE)
    data = CATALOGUE.read_bytes()
    packed = tmp_path / "certifinfo.csv.gz"
    packed.write_bytes(gzip.compress(data))
    zipped = tmp_path / "certifinfo.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("certifinfo.csv", data)
    wide = tmp_path / "wide.csv"
    wide.write_text(";".join(f"c{i}" for i in range(600)) + "\n", encoding="utf-8")
    cases = [(packed, "fichier compressé"), (zipped, "fichier compressé"),
             (wide, "600 colonnes dans l'en-tête (au plus 500)")]
    for path, expected in cases:
        with pytest.raises(LoadError) as caught:
            import_certifinfo(engine, path)
        assert len(caught.value.problems) == 1 and expected in caught.value.report(), path
    monkeypatch.setattr(registers, "MAX_CATALOGUE_ROWS", 10)
    with pytest.raises(LoadError, match="problème"):
        import_certifinfo(engine, CATALOGUE)
    monkeypatch.setattr(registers, "MAX_CATALOGUE_ROWS", 2_000_000)
    monkeypatch.setattr(registers, "MAX_CATALOGUE_BYTES", 1000)
    with pytest.raises(LoadError) as caught:
        import_certifinfo(engine, CATALOGUE)
    assert "trop volumineux" in caught.value.report()
    with engine.connect() as connection:  # the catalogue kept
        assert connection.execute(sa.select(sa.func.count()).select_from(
            schema.catalogue_entry)).scalar_one() == 873


def test_exports_name_the_loaded_file_not_its_server_path(engine, folder):
    load(folder, engine)
    assert source_note(engine)["source"] == "input"
    with engine.begin() as connection:  # a load recorded by an earlier release: its path
        connection.execute(schema.load_log.update().values(source=str(folder.resolve())))
    assert source_note(engine)["source"] == "input"
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    done = subprocess.run([sys.executable, "-m", "cqp_metrics", "indicators", "--db", url,
                           "--format", "xlsx", "--output", str(folder / "x.xlsx")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(folder / "x.xlsx") as archive:
        text = " ".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
    assert "input" in text and str(folder.parent) not in text


def test_session_hours_out_of_bounds_is_one_message(tmp_path):
    for hours in ("1e308", "0", "721", "nan"):
        done = subprocess.run([sys.executable, "-m", "cqp_metrics", "serve", "--session-hours",
                               hours, "--db", f"duckdb:///{tmp_path / 'x.duckdb'}"],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert done.returncode != 0 and "--session-hours" in done.stderr, (hours, done.stderr)
        assert "Traceback" not in done.stderr


# -- failed loads clean up and say one thing (#31) --------------------------------------------

def test_the_copy_of_a_killed_load_is_removed_by_the_next_writer_or_server(tmp_path):
    url = f"duckdb:///{tmp_path / 'cqp.duckdb'}"
    with writing(url) as engine:
        ensure_schema(engine)
    # a load killed with -9 while it writes its copy
    script = ("import time, sys; from cqp_metrics.db import writing\n"
              f"with writing({url!r}) as engine:\n"
              "    print('writing', flush=True); time.sleep(60)\n")
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              text=True, cwd=ROOT)
    assert writer.stdout.readline().strip() == "writing"
    writer.kill()
    writer.wait(timeout=30)
    left = list(tmp_path.glob(".cqp.duckdb.*.writing*"))
    assert left and all(p.stat().st_size > 0 for p in left if p.suffix == ".writing")
    assert sorted(remove_stale_copies(url)) == sorted(left)  # as serve does at its start
    assert not list(tmp_path.glob(".cqp.duckdb.*.writing*"))
    (tmp_path / ".cqp.duckdb.4242.writing").write_bytes(b"x" * 1000)  # another one
    with writing(url):
        pass
    assert not list(tmp_path.glob(".cqp.duckdb.*.writing*"))


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MB file system of its own (tmpfs), to fill; skipped where mounting is not
    allowed. (A load writes a copy of the database file beside it, about 14 MB for the
    demo at 1,000 candidacies with its cubes: with space again, the test's second load
    needs room for both.)"""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a small file system needs root")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cqp_metrics", *args], capture_output=True,
                          text=True, cwd=ROOT, input=PASSWORD + "\n", timeout=300)


def test_a_full_disk_is_one_message_and_the_server_stays_up_for_reading(small_disk, tmp_path):
    url = f"duckdb:///{small_disk / 'cqp.duckdb'}"
    assert _cli("demo", "--db", url, "--candidacies", "1000").returncode == 0
    assert _cli("users", "add", "alice", "--branches", "0016", "--password-stdin",
                "--db", url).returncode == 0
    files = tmp_path / "files"
    demo.write_files(demo.generate(1000, seed=2024), files)  # the same data
    filler = small_disk / "filler"
    with open(filler, "wb") as fill:  # the disk full, but for a few kilobytes
        try:
            while True:
                fill.write(b"\0" * 65536)
                fill.flush()
        except OSError:
            pass
    before = (small_disk / "cqp.duckdb").read_bytes()
    loaded = _cli("load", str(files), "--db", url)
    assert loaded.returncode == 1
    message = " ".join(loaded.stderr.split())  # one message, however the terminal wraps it
    assert message == ("Erreur : disque plein : rien n'a été écrit et la base est restée telle "
                       "qu'elle était ; libérez de la place puis relancez la commande."), message
    assert "Traceback" not in loaded.stderr and "sqlalchemy" not in loaded.stderr.lower()
    assert not list(small_disk.glob(".cqp.duckdb.*.writing*"))
    assert (small_disk / "cqp.duckdb").read_bytes() == before
    server = Serve(url, tmp_path / "serve.log")
    try:
        assert fetch(server.base + "/login")[0] == 200  # up, on a full disk
        status, location = Client(server.base).sign_in("alice")
        assert (status, location) in ((302, "/login?error=unavailable"), (302, "/"))
    finally:
        server.stop()
    filler.unlink()
    assert _cli("load", str(files), "--db", url).returncode == 0  # space again: it loads

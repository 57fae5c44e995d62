"""The notebooks: shipped with their outputs, in French, run headless top to bottom on a demo
database, and the CQP under review set as a papermill parameter."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT, demo_database

pytestmark = pytest.mark.notebooks
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SAVED = ["01_tour_des_indicateurs.ipynb", "03_revue_referentiel_cpne.ipynb"]
CODES = ["CQP-TR-CR", "CQP-TR-AQ", "CQPI-LOG", "CQP-MET-OR", "CQP-MET-TU", "CQP-MET-SO",
         "CQP-HCR-CU", "CQP-HCR-SE", "CQP-HCR-RE", "CQP-SYN-CP", "CQP-SAN-AS", "CQP-SAN-SM"]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    return demo_database(tmp_path_factory.mktemp("nb") / "demo.duckdb", 3000, seed=5)


def _text(cell) -> str:
    return "".join(str(o.get("data", {}).get("text/plain", "")) + o.get("text", "")
                   for o in cell.get("outputs", []))


def _tagged(notebook, tag: str):
    return [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]


def test_there_are_three_notebooks():
    assert [n.name for n in NOTEBOOKS] == ["01_tour_des_indicateurs.ipynb",
                                           "02_tableau_de_bord.ipynb",
                                           "03_revue_referentiel_cpne.ipynb"]


@pytest.mark.parametrize("name", SAVED)
def test_notebooks_are_shipped_with_their_outputs_and_charts_any_viewer_shows(name):
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "a cell was never run"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    charts = _tagged(notebook, "chart")
    assert charts and all("image/png" in o.get("data", {}) for c in charts for o in c.outputs)
    # the parameters come first, tagged as papermill looks for them
    assert "parameters" in code[0].metadata.get("tags", [])
    # French tables: labels, not the registry's names; rates as « 62,5 % »
    tables = "".join(_text(c) for c in code if "french_frame(" in c.source)
    assert "Année" in tables and "%" in tables
    assert "enrolments" not in tables and "full_rate" not in tables


def test_the_cpne_review_reads_a_difference_by_its_own_interval():
    notebook = nbformat.read(ROOT / "notebooks" / SAVED[1], as_version=4)
    prose = " ".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "écart réel" not in prose  # non-overlapping intervals are not the test
    assert "Newcombe" in prose and "l'écart" in prose
    changes = [c for c in notebook.cells if "version_changes(visibles)" in c.source]
    assert "Écart (IC 95 %, Newcombe)" in _text(changes[0])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs(path: Path, demo_db, monkeypatch):
    monkeypatch.setenv("CQP_DB", demo_db)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env={**os.environ, "CQP_DB": demo_db})
    errors = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if output.get("output_type") == "error"]
    assert errors == []
    assert "Traceback" not in "".join(_text(c) for c in notebook.cells)


def _papermill(demo_db: str, tmp_path: Path, **parameters):
    import papermill

    out = tmp_path / "revue.ipynb"
    os.environ["CQP_DB"] = demo_db
    try:
        papermill.execute_notebook(str(ROOT / "notebooks" / SAVED[1]), str(out),
                                   parameters=parameters, cwd=str(ROOT / "notebooks"),
                                   kernel_name="python3", progress_bar=False)
    finally:
        os.environ.pop("CQP_DB")
    return nbformat.read(out, as_version=4)


def test_the_cqp_under_review_is_a_papermill_parameter_with_its_own_registrations(
        demo_db, tmp_path, monkeypatch):
    monkeypatch.delenv("CQP_DB", raising=False)
    notebook = _papermill(demo_db, tmp_path, CQP="CQPI-LOG")
    shown = "".join(_text(c) for c in notebook.cells)
    assert "CQPI-LOG — CQPI Agent logistique" in shown
    registered = _text(_tagged(notebook, "registrations")[0])
    assert "RNCP35120" in registered
    assert [code for code in CODES if code in registered] == ["CQPI-LOG"]


def test_an_unknown_cqp_is_named_with_the_codes_there_are(demo_db, tmp_path, monkeypatch):
    import papermill

    monkeypatch.delenv("CQP_DB", raising=False)
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        _papermill(demo_db, tmp_path, CQP="CQP-NOPE")
    assert "CQP inconnu : 'CQP-NOPE'" in str(failure.value)
    assert "CQP-TR-CR" in str(failure.value)


def test_the_shipped_notebooks_are_those_the_build_script_writes():
    """``make notebooks`` rewrites them from notebooks/build_notebooks.py: no drift."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_notebooks",
                                                  ROOT / "notebooks" / "build_notebooks.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for name, cells in build.NOTEBOOKS.items():
        shipped = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        assert [c.source for c in shipped.cells] == [c.source for c in cells], name

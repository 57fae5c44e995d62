"""Every notebook runs headless, top to bottom, on a demo database."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT, demo_database

pytestmark = pytest.mark.notebooks
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    return demo_database(tmp_path_factory.mktemp("nb") / "demo.duckdb", 3000, seed=5)


def test_there_are_three_notebooks():
    assert [n.name for n in NOTEBOOKS] == ["01_tour_des_indicateurs.ipynb",
                                           "02_tableau_de_bord.ipynb",
                                           "03_revue_referentiel_cpne.ipynb"]


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
    text = "".join(str(output.get("data", {}).get("text/plain", "")) + output.get("text", "")
                   for cell in notebook.cells for output in cell.get("outputs", []))
    assert "Traceback" not in text
